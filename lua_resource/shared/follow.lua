-- Calls the CAD's own workflow moves: track primary follows the primary unit's
-- player, and a new call may follow its caller for a while. Pure: it reads
-- sonorancad's caches as tables handed in, and acts through the bridge.
--
-- Precedence, per call: an explicit track (/trackcall, TrackCall export)
-- beats track primary, which beats the caller rule. A manual untrack holds
-- the call unfollowed until a dispatcher changes its tracking controls
-- (primary, track primary) or closes it: the call's "mark" then differs from
-- the one kept when it was untracked.

local CadCache = SonoranBridge.CadCache
local Metadata = SonoranBridge.Metadata
local Subjects = SonoranBridge.Subjects

local Follow = {}
Follow.__index = Follow

---@class FollowBridge the bridge's side, as Follow uses it
---@field tracker Tracker
---@field host BridgeHost
---@field settings BridgeSettings

---@param bridge table the Bridge
---@return table
function Follow.new(bridge)
    return setmetatable({
        bridge = bridge,
        held = {}, -- call id -> tracking mark when a manual untrack stopped it
        waiting = {}, -- call id -> unit identId whose player is not in game (said once)
        cad_tracking = {}, -- call id -> { on, primary } from dispatchnotify's CallEdit:Tracking
    }, Follow)
end

---Whether track primary is followed: the convar, or (auto) when sonorancad runs.
---@return boolean
function Follow:primary_on()
    local setting = self.bridge.settings.follow_primary
    if setting ~= nil then
        return setting
    end
    return self.bridge.host.call_cache() ~= nil
end

---Keep a manually untracked call unfollowed until the CAD changes it.
---@param call_id integer
function Follow:hold(call_id)
    local entry = CadCache.find(self.bridge.host.call_cache(), call_id)
    self.held[call_id] = CadCache.tracking_mark(entry)
    self.waiting[call_id] = nil
end

---An explicit track takes the call over: no hold, no waiting.
---@param call_id integer
function Follow:take_over(call_id)
    self.held[call_id] = nil
    self.waiting[call_id] = nil
end

---Whether sonorancad's own track primary keeps the call's postal: dispatchnotify
---announced it for this very unit, and sonorancad's postals plugin is loaded
---(its client loop stops without it).
---@param call_id integer
---@param unit integer
---@return boolean
function Follow:cad_keeps_postal(call_id, unit)
    local told = self.cad_tracking[call_id]
    return told ~= nil and told.on and told.primary == unit and self.bridge.host.cad_postals() == true
end

---dispatchnotify's SonoranCAD::dispatchnotify:CallEdit:Tracking(callId, trackPrimary, primary).
---@param call_id integer
---@param on any
---@param primary any
function Follow:on_cad_tracking(call_id, on, primary)
    local unit = type(primary) == "number" and math.tointeger(primary)
        or math.tointeger(tonumber(primary) or 0)
    self.cad_tracking[call_id] = { on = on == true, primary = unit }
end

---Bring one call in line with its cache entry's track primary.
---@param call_id integer
---@param entry table
---@param units table<integer, string> unit identId -> player id, for units in game
function Follow:reconcile_call(call_id, entry, units)
    local bridge = self.bridge
    local held = self.held[call_id]
    if held ~= nil then
        if held == CadCache.tracking_mark(entry) then
            return
        end
        self.held[call_id] = nil -- a dispatcher changed the call: the hold ends
        bridge:save()
    end
    local current = bridge.tracker:get(call_id)
    if current ~= nil and current.origin == "manual" then
        self.waiting[call_id] = nil
        return
    end
    local unit = CadCache.primary_unit(entry)
    if unit == nil then
        self.waiting[call_id] = nil
        if current ~= nil and current.origin == "primary" then
            bridge:stop(call_id, CadCache.is_closed(entry) and "the call was closed"
                or "track primary was turned off")
        end
        return
    end
    local player = units[unit]
    if player == nil then
        if current ~= nil and current.origin == "primary" then
            bridge:stop(call_id, ("its primary unit %d left the game or logged out"):format(unit))
        end
        if self.waiting[call_id] ~= unit then
            self.waiting[call_id] = unit
            bridge:say(call_id, "waiting", ("its primary unit %d is not in game; "
                .. "the call follows the unit when it is"):format(unit))
        end
        return
    end
    self.waiting[call_id] = nil
    local subject = "unit:" .. unit
    local cad_postal = self:cad_keeps_postal(call_id, unit)
    if current ~= nil and current.origin == "primary" and current.subject == subject then
        if (current.cad_postal == true) ~= cad_postal then
            current.cad_postal = cad_postal
            bridge:send_track(current)
            bridge:save()
        end
        return
    end
    local meta = CadCache.meta(entry)
    bridge:follow(call_id, subject, { origin = "primary", cad_postal = cad_postal }, meta)
    bridge:say(call_id, "following", ("follows unit %d (player %s), its primary: track primary is on")
        :format(unit, player))
end

---Re-read every call of sonorancad's call cache.
---@param cache table
---@param units table<integer, string>
function Follow:reconcile(cache, units)
    if not self:primary_on() then
        return
    end
    for _, entry in pairs(cache) do
        local call_id = CadCache.call_id(entry)
        if call_id ~= nil then
            self:reconcile_call(call_id, entry, units)
        end
    end
end

---A call the CAD just created (a CALL_NEW push, or a 911 call): with the
---caller rule on, follow the player in its metaData.callerPlayerId for a while.
---@param call_object any the call object (an entry's `dispatch`, or the emergency call)
---@param kind CallKind|nil "emergency" for a 911 call (its id is a 911 call id); dispatch when nil
function Follow:on_new_call(call_object, kind)
    kind = kind == "emergency" and "emergency" or "dispatch"
    local bridge = self.bridge
    local seconds = bridge.settings.follow_caller_seconds or 0
    if seconds <= 0 or type(call_object) ~= "table" then
        return
    end
    local call_id = Subjects.call_id(call_object.callId)
    local player = CadCache.caller_player(call_object)
    if call_id == nil or player == nil then
        return
    end
    if bridge.tracker:get(call_id, kind) ~= nil or (kind == "dispatch" and self.held[call_id] ~= nil) then
        return -- an explicit track or track primary came first, or a manual untrack holds it
    end
    local subject = Subjects.parse(player)
    local ok, reason = bridge.host.check_subject(subject)
    if not ok then
        bridge.host.log(("%s: its caller is not followed (%s)"):format(bridge.name(call_id, kind), reason or "?"))
        return
    end
    local meta = Metadata.copy(call_object.metaData)
    bridge:follow(call_id, subject.key, {
        kind = kind,
        origin = "caller",
        who = bridge.host.identify(subject.key),
        until_ms = bridge.host.now() + seconds * 1000,
    }, meta)
    bridge:say(call_id, "following", ("follows its caller, player %d, for %d s"):format(player, seconds), kind)
end

---End the caller follows whose time is up; the pin stays where it was put.
---@param now number
function Follow:expire(now)
    for _, call in ipairs(self.bridge.tracker:calls()) do
        if call.origin == "caller" and call.until_ms ~= nil and call.until_ms <= now then
            self.bridge:stop(call.call_id, "its caller was followed for "
                .. (self.bridge.settings.follow_caller_seconds or 0) .. " s", call.kind)
        end
    end
end

SonoranBridge = SonoranBridge or {}
SonoranBridge.Follow = Follow
return Follow
