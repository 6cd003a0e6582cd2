-- The bridge's side of the official `sonorancad` resource: its push events and
-- its caches, read locally (never through an export that may spend an API
-- request). Pure: plain functions over a Bridge of shared/bridge.lua (its
-- tracker, its host, its send and save), which server/main.lua calls from
-- sonorancad's events; the caches come in through the bridge's `host`. The
-- bridge knows nothing of this module: the layers go main -> sonorancad ->
-- bridge -> follow and the other pure modules.

local CadCache = require("shared.cadcache")
local Messages = require("shared.messages")
local Metadata = require("shared.metadata")
local Subjects = require("shared.subjects")

local Sonorancad = {}

-- How often sonorancad's caches are re-read: its 60 s poll writes them without an event.
Sonorancad.RECONCILE_MS = 5000

---Compare a tracked call with its sonorancad cache entry and tell the daemon
---what changed: `call_closed` when it closed, `call_meta` when its metaData did,
---`call_meta_stale` when its metaData changed in a way that cannot be relayed as
---the CAD holds it (the daemon then reads the call before its next push, and
---never pushes its old copy back over the edit).
---@param bridge table the Bridge
---@param call_id integer
---@param entry table
function Sonorancad.refresh_call(bridge, call_id, entry)
    local call = bridge.tracker:get(call_id)
    if call == nil then
        return
    end
    if CadCache.is_closed(entry) then
        Sonorancad.closed(bridge, call_id, "was closed in the CAD")
        return
    end
    local seen = Metadata.fingerprint(CadCache.raw_meta(entry))
    local first_look, changed = call.meta_seen == nil, seen ~= call.meta_seen
    call.meta_seen = seen
    local meta, reason = CadCache.meta(entry)
    if meta == nil then
        if reason ~= call.meta_refused then
            call.meta_refused = reason -- said once per reason, not at every cache write
            bridge.host.log(("call %d: metaData not relayed (%s)"):format(call_id, reason))
        end
        -- Nothing to say when the call went to the daemon without meta and nothing changed
        -- since: it reads the call itself.
        if changed and not (first_look and call.meta == nil) then
            bridge.tracker:set_meta(call_id, nil) -- our copy is not the CAD's any more
            bridge:send(Messages.call_meta_stale(call_id))
            bridge.host.log(("call %d: its metaData changed in the CAD; the daemon reads it before "
                .. "its next update"):format(call_id))
        end
    elseif not CadCache.same_meta(meta, call.meta) then
        -- Recorded even while the link is down: the next sync carries it.
        call.meta_refused = nil
        bridge.tracker:set_meta(call_id, meta)
        bridge:send(Messages.call_meta(call_id, meta))
    end
end

---A tracked call the CAD closed (or removed): untracked, and the daemon told.
---@param bridge table the Bridge
---@param call_id integer
---@param how string what happened to it, for the console
---@param kind CallKind|nil dispatch when nil
function Sonorancad.closed(bridge, call_id, how, kind)
    if bridge:forget(call_id, kind) == nil then
        return
    end
    bridge:send(Messages.call_closed(call_id, kind))
    bridge:save()
    bridge.host.log(("%s %s; no longer tracked"):format(Subjects.call_name(call_id, kind), how))
end

---A push event body as the CAD sent it to sonorancad (its
---`SonoranCAD::pushevents:shim` event carries each one, raw). Read here for what
---sonorancad v4.0.104 drops: EVENT_DISPATCH_CLOSED closes only the first of its
---`callIds` in sonorancad's cache (and none when that one is not cached), so
---every call it names is closed here.
---@param bridge table the Bridge
---@param event PushEvent|nil
function Sonorancad.on_cad_push(bridge, event)
    if event == nil then
        return
    end
    if event.type == "EVENT_DISPATCH_CLOSED" then
        for _, call_id in ipairs(event.call_ids) do
            Sonorancad.closed(bridge, call_id, "was closed in the CAD")
        end
    end
end

---A sonorancad cache entry from one of its push events.
---@param bridge table the Bridge
---@param entry any
function Sonorancad.on_cad_entry(bridge, entry)
    local call_id = CadCache.call_id(entry)
    if call_id == nil then
        return
    end
    Sonorancad.refresh_call(bridge, call_id, entry)
    local rules = bridge.follow_rules
    if rules:primary_on(bridge.host.call_cache() ~= nil) then
        bridge:apply(rules:reconcile_call(call_id, entry, bridge.host.unit_players(), bridge:follow_view()))
    end
    if type(entry) == "table" and entry.dispatch_type == "CALL_NEW" then
        bridge:apply(rules:on_new_call(entry.dispatch, nil, bridge:follow_view()))
    end
end

---A 911 call sonorancad was told of (its IncomingCadCall event): its id is a
---911 call id, never a dispatch call's.
---@param bridge table the Bridge
---@param call any the emergency call object
function Sonorancad.on_emergency_call(bridge, call)
    bridge:apply(bridge.follow_rules:on_new_call(call, "emergency", bridge:follow_view()))
end

---sonorancad removed a 911 call (EVENT_REMOVE_911, its CadCallRemoved event):
---like a closed call, for the 911 call with that id only.
---@param bridge table the Bridge
---@param call_id any
function Sonorancad.on_cad_removed(bridge, call_id)
    local id = Subjects.call_id(call_id)
    if id ~= nil then
        Sonorancad.closed(bridge, id, "was removed from the CAD", "emergency")
    end
end

---dispatchnotify announced a track primary change (CallEdit:Tracking).
---@param bridge table the Bridge
---@param call_id any
---@param on any
---@param primary any
function Sonorancad.on_cad_tracking(bridge, call_id, on, primary)
    local id = Subjects.call_id(call_id)
    if id == nil then
        return
    end
    local rules = bridge.follow_rules
    local told = rules:on_cad_tracking(id, on, primary)
    -- Fired before sonorancad caches the edited call: the cached entry still holds the
    -- old controls, so the announced ones are laid over it (re-reading the cache alone
    -- would follow, stop and follow again).
    local cache = bridge.host.call_cache()
    local entry = CadCache.with_tracking(CadCache.find(cache, id), told.on, told.primary)
    if entry ~= nil and rules:primary_on(cache ~= nil) then
        bridge:apply(rules:reconcile_call(id, entry, bridge.host.unit_players(), bridge:follow_view()))
    end
end

---Units or players changed (login, logout, a player joined or left): re-read
---soon, once sonorancad has updated its unit cache.
---@param bridge table the Bridge
function Sonorancad.on_units_changed(bridge)
    bridge.next_reconcile = 0
end

---sonorancad wrote its cache: re-read the entries of the tracked calls, then
---every call's track primary.
---@param bridge table the Bridge
function Sonorancad.on_cad_cache(bridge)
    local cache = bridge.host.call_cache()
    if cache == nil then
        return
    end
    for _, call in ipairs(bridge.tracker:calls()) do
        local entry = call.kind == "dispatch" and CadCache.find(cache, call.call_id) or nil
        if entry ~= nil then
            Sonorancad.refresh_call(bridge, call.call_id, entry)
        end
    end
    local rules = bridge.follow_rules
    if not rules:primary_on(true) then
        return
    end
    local units = bridge.host.unit_players()
    for _, entry in pairs(cache) do
        local call_id = CadCache.call_id(entry)
        if call_id ~= nil then -- applied call by call: the next one sees what this one did
            bridge:apply(rules:reconcile_call(call_id, entry, units, bridge:follow_view()))
        end
    end
end

---The rules' upkeep, due at every period even while the link is down: caller
---follows that end, and the periodic re-read of sonorancad's caches.
---@param bridge table the Bridge
---@param now number
function Sonorancad.upkeep(bridge, now)
    bridge:apply(bridge.follow_rules:expire(now, bridge:follow_view()))
    if now >= bridge.next_reconcile then
        bridge.next_reconcile = now + Sonorancad.RECONCILE_MS
        Sonorancad.on_cad_cache(bridge)
    end
end

---One sampling period: the rules' upkeep (due even while the link is down),
---then the bridge's sampling.
---@param bridge table the Bridge
---@return integer sent number of position items sent
function Sonorancad.tick(bridge)
    Sonorancad.upkeep(bridge, bridge.host.now())
    return bridge:tick()
end

return Sonorancad
