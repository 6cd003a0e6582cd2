-- The bridge's side of the official `sonorancad` resource: its push events and
-- its caches, read locally (never through an export that may spend an API
-- request). Pure: adds methods to the Bridge of shared/bridge.lua; the caches
-- come in through `host`.

local Bridge = SonoranBridge.Bridge
local CadCache = SonoranBridge.CadCache
local Messages = SonoranBridge.Messages
local Subjects = SonoranBridge.Subjects

---Compare a tracked call with its sonorancad cache entry and tell the daemon
---what changed: `call_closed` when it closed, `call_meta` when its metaData did.
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
    local meta, reason = CadCache.meta(entry)
    if meta == nil then
        if reason ~= call.meta_refused then
            call.meta_refused = reason -- said once per reason, not at every cache write
            self.host.log(("call %d: metaData not relayed (%s); the daemon keeps what it knows"):format(
                call_id, reason))
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
function Bridge:closed(call_id, how)
    local call = self.tracker:untrack(call_id)
    if call == nil then
        return
    end
    self:release(call.subject)
    self:send(Messages.call_closed(call_id))
    self:save()
    self.host.log(("call %d %s; no longer tracked"):format(call_id, how))
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

---A 911 call sonorancad was told of (its IncomingCadCall event).
---@param call any the emergency call object
function Bridge:on_emergency_call(call)
    self.follow_rules:on_new_call(call)
end

---sonorancad removed a 911 call (EVENT_REMOVE_911): like a closed call.
---@param call_id any
function Bridge:on_cad_removed(call_id)
    local id = Subjects.call_id(call_id)
    local call = id and self.tracker:get(id)
    if call then
        self.tracker:untrack(id)
        self:release(call.subject)
        self:send(Messages.call_closed(id))
        self:save()
        self.host.log(("call %d was removed from the CAD; no longer tracked"):format(id))
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
        local entry = CadCache.find(cache, call.call_id)
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
