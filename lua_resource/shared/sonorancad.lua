-- The bridge's side of the official `sonorancad` resource: its push events and
-- its caches, read locally (never through an export that may spend an API
-- request). Pure: adds methods to the Bridge of shared/bridge.lua; the caches
-- come in through `host`.

local Bridge = SonoranBridge.Bridge
local CadCache = SonoranBridge.CadCache
local Messages = SonoranBridge.Messages
local Metadata = SonoranBridge.Metadata
local Subjects = SonoranBridge.Subjects

---Compare a tracked call with its sonorancad cache entry and tell the daemon
---what changed: `call_closed` when it closed, `call_meta` when its metaData did,
---`call_meta_stale` when its metaData changed in a way that cannot be relayed as
---the CAD holds it (the daemon then reads the call before its next push, and
---never pushes its old copy back over the edit).
---@param call_id integer
---@param entry table
function Bridge:refresh_call(call_id, entry)
    local call = self.tracker:get(call_id)
    if call == nil then
        return
    end
    if CadCache.is_closed(entry) then
        self:closed(call_id, "was closed in the CAD")
        return
    end
    local seen = Metadata.fingerprint(CadCache.raw_meta(entry))
    local first_look, changed = call.meta_seen == nil, seen ~= call.meta_seen
    call.meta_seen = seen
    local meta, reason = CadCache.meta(entry)
    if meta == nil then
        if reason ~= call.meta_refused then
            call.meta_refused = reason -- said once per reason, not at every cache write
            self.host.log(("call %d: metaData not relayed (%s)"):format(call_id, reason))
        end
        -- Nothing to say when the call went to the daemon without meta and nothing changed
        -- since: it reads the call itself.
        if changed and not (first_look and call.meta == nil) then
            self.tracker:set_meta(call_id, nil) -- our copy is not the CAD's any more
            self:send(Messages.call_meta_stale(call_id))
            self.host.log(("call %d: its metaData changed in the CAD; the daemon reads it before "
                .. "its next update"):format(call_id))
        end
    elseif not CadCache.same_meta(meta, call.meta) then
        -- Recorded even while the link is down: the next sync carries it.
        call.meta_refused = nil
        self.tracker:set_meta(call_id, meta)
        self:send(Messages.call_meta(call_id, meta))
    end
end

---A tracked call the CAD closed (or removed): untracked, and the daemon told.
---@param call_id integer
---@param how string what happened to it, for the console
---@param kind CallKind|nil dispatch when nil
function Bridge:closed(call_id, how, kind)
    local call = self.tracker:untrack(call_id, kind)
    if call == nil then
        return
    end
    self:release(call.subject)
    self:send(Messages.call_closed(call_id, kind))
    self:save()
    self.host.log(("%s %s; no longer tracked"):format(Bridge.name(call_id, kind), how))
end

---A push event body as the CAD sent it to sonorancad (its
---`SonoranCAD::pushevents:shim` event carries each one, raw). Read here for what
---sonorancad v4.0.104 drops: EVENT_DISPATCH_CLOSED closes only the first of its
---`callIds` in sonorancad's cache (and none when that one is not cached), so
---every call it names is closed here.
---@param event PushEvent|nil
function Bridge:on_cad_push(event)
    if event == nil then
        return
    end
    if event.type == "EVENT_DISPATCH_CLOSED" then
        for _, call_id in ipairs(event.call_ids) do
            self:closed(call_id, "was closed in the CAD")
        end
    end
end

---A sonorancad cache entry from one of its push events.
---@param entry any
function Bridge:on_cad_entry(entry)
    local call_id = CadCache.call_id(entry)
    if call_id == nil then
        return
    end
    self:refresh_call(call_id, entry)
    if self.follow_rules:primary_on() then
        self.follow_rules:reconcile_call(call_id, entry, self.host.unit_players())
    end
    if type(entry) == "table" and entry.dispatch_type == "CALL_NEW" then
        self.follow_rules:on_new_call(entry.dispatch)
    end
end

---A 911 call sonorancad was told of (its IncomingCadCall event): its id is a
---911 call id, never a dispatch call's.
---@param call any the emergency call object
function Bridge:on_emergency_call(call)
    self.follow_rules:on_new_call(call, "emergency")
end

---sonorancad removed a 911 call (EVENT_REMOVE_911, its CadCallRemoved event):
---like a closed call, for the 911 call with that id only.
---@param call_id any
function Bridge:on_cad_removed(call_id)
    local id = Subjects.call_id(call_id)
    if id ~= nil then
        self:closed(id, "was removed from the CAD", "emergency")
    end
end

---dispatchnotify announced a track primary change (CallEdit:Tracking).
---@param call_id any
---@param on any
---@param primary any
function Bridge:on_cad_tracking(call_id, on, primary)
    local id = Subjects.call_id(call_id)
    if id == nil then
        return
    end
    self.follow_rules:on_cad_tracking(id, on, primary)
    -- Fired before sonorancad caches the edited call: the cached entry still holds the
    -- old controls, so the announced ones are laid over it (re-reading the cache alone
    -- would follow, stop and follow again).
    local told = self.follow_rules.cad_tracking[id]
    local entry = CadCache.with_tracking(CadCache.find(self.host.call_cache(), id), told.on, told.primary)
    if entry ~= nil and self.follow_rules:primary_on() then
        self.follow_rules:reconcile_call(id, entry, self.host.unit_players())
    end
end

---Units or players changed (login, logout, a player joined or left): re-read
---soon, once sonorancad has updated its unit cache.
function Bridge:on_units_changed()
    self.next_reconcile = 0
end

---sonorancad wrote its cache: re-read the entries of the tracked calls, then
---every call's track primary.
function Bridge:on_cad_cache()
    local cache = self.host.call_cache()
    if cache == nil then
        return
    end
    for _, call in ipairs(self.tracker:calls()) do
        local entry = call.kind == "dispatch" and CadCache.find(cache, call.call_id) or nil
        if entry ~= nil then
            self:refresh_call(call.call_id, entry)
        end
    end
    self.follow_rules:reconcile(cache, self.host.unit_players())
end

---The rules' upkeep, due at every period even while the link is down: caller
---follows that end, and the periodic re-read of sonorancad's caches.
---@param now number
function Bridge:upkeep(now)
    self.follow_rules:expire(now)
    if now >= self.next_reconcile then
        self.next_reconcile = now + Bridge.RECONCILE_MS
        self:on_cad_cache()
    end
end

return Bridge
