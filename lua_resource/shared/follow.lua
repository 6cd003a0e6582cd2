-- Calls the CAD's own workflow moves: track primary follows the primary unit's
-- player, and a new call may follow its caller for a while. Pure: it reads
-- sonorancad's caches as tables handed in, and returns what to do as plain
-- decisions (see FollowDecision) that shared/bridge.lua applies in order.
--
-- Precedence, per call: an explicit track (/trackcall, TrackCall export)
-- beats track primary, which beats the caller rule. A manual untrack holds
-- the call unfollowed until a dispatcher changes its tracking controls
-- (primary, track primary) or closes it: the call's "mark" then differs from
-- the one kept when it was untracked.

local CadCache = require("shared.cadcache")
local Metadata = require("shared.metadata")
local Subjects = require("shared.subjects")

local Follow = {}
Follow.__index = Follow

---@class FollowDecision one thing the bridge is to do, in the order given
---@field op "follow"|"stop"|"say"|"save"|"cad_postal"|"log"
---@field call_id integer|nil
---@field kind CallKind|nil dispatch when nil
---@field subject string|nil follow: the wire subject
---@field extra TrackExtra|nil follow: origin, who, until_ms, cad_postal
---@field meta table<string, any>|nil follow: the call's metaData, when known
---@field why string|nil stop: why the rule lets go
---@field state string|nil say: "following", "waiting", "stopped"
---@field detail string|nil say: what happened
---@field value boolean|nil cad_postal: whether sonorancad keeps the call's postal
---@field line string|nil log: a console line

---@class FollowView what the rules read, handed in by the bridge
---@field tracker Tracker the tracked calls (read only)
---@field host BridgeHost its queries only: check_subject, identify, now, cad_postals

---@param settings BridgeSettings
---@return table
function Follow.new(settings)
    return setmetatable({
        settings = settings,
        held = {}, -- call id -> tracking mark when a manual untrack stopped it
        waiting = {}, -- call id -> unit identId whose player is not in game (said once)
        cad_tracking = {}, -- call id -> { on, primary } from dispatchnotify's CallEdit:Tracking
    }, Follow)
end

---Whether track primary is followed: the convar, or (auto) when sonorancad runs.
---@param cad_running boolean whether sonorancad's call cache can be read
---@return boolean
function Follow:primary_on(cad_running)
    local setting = self.settings.follow_primary
    if setting ~= nil then
        return setting
    end
    return cad_running
end

---Keep a manually untracked call unfollowed until the CAD changes it.
---@param call_id integer
---@param entry table|nil the call's sonorancad cache entry
function Follow:hold(call_id, entry)
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
---@param cad_postals fun(): boolean
---@return boolean
function Follow:cad_keeps_postal(call_id, unit, cad_postals)
    local told = self.cad_tracking[call_id]
    return told ~= nil and told.on and told.primary == unit and cad_postals() == true
end

---dispatchnotify's SonoranCAD::dispatchnotify:CallEdit:Tracking(callId, trackPrimary, primary).
---@param call_id integer
---@param on any
---@param primary any
---@return { on: boolean, primary: integer|nil } told what is kept of it
function Follow:on_cad_tracking(call_id, on, primary)
    local unit = type(primary) == "number" and math.tointeger(primary)
        or math.tointeger(tonumber(primary) or 0)
    local told = { on = on == true, primary = unit }
    self.cad_tracking[call_id] = told
    return told
end

---Bring one call in line with its cache entry's track primary.
---@param call_id integer
---@param entry table
---@param units table<integer, string> unit identId -> player id, for units in game
---@param view FollowView
---@return FollowDecision[]
function Follow:reconcile_call(call_id, entry, units, view)
    local decisions = {}
    local held = self.held[call_id]
    if held ~= nil then
        if held == CadCache.tracking_mark(entry) then
            return decisions
        end
        self.held[call_id] = nil -- a dispatcher changed the call: the hold ends
        decisions[#decisions + 1] = { op = "save" }
    end
    local current = view.tracker:get(call_id)
    if current ~= nil and current.origin == "manual" then
        self.waiting[call_id] = nil
        return decisions
    end
    local unit = CadCache.primary_unit(entry)
    if unit == nil then
        self.waiting[call_id] = nil
        if current ~= nil and current.origin == "primary" then
            decisions[#decisions + 1] = { op = "stop", call_id = call_id, why = CadCache.is_closed(entry)
                and "the call was closed" or "track primary was turned off" }
        end
        return decisions
    end
    local player = units[unit]
    if player == nil then
        if current ~= nil and current.origin == "primary" then
            decisions[#decisions + 1] = { op = "stop", call_id = call_id,
                why = ("its primary unit %d left the game or logged out"):format(unit) }
        end
        if self.waiting[call_id] ~= unit then
            self.waiting[call_id] = unit
            decisions[#decisions + 1] = { op = "say", call_id = call_id, state = "waiting",
                detail = ("its primary unit %d is not in game; the call follows the unit when it is")
                    :format(unit) }
        end
        return decisions
    end
    self.waiting[call_id] = nil
    local subject = "unit:" .. unit
    local cad_postal = self:cad_keeps_postal(call_id, unit, view.host.cad_postals)
    if current ~= nil and current.origin == "primary" and current.subject == subject then
        if (current.cad_postal == true) ~= cad_postal then
            decisions[#decisions + 1] = { op = "cad_postal", call_id = call_id, value = cad_postal }
        end
        return decisions
    end
    decisions[#decisions + 1] = { op = "follow", call_id = call_id, subject = subject,
        extra = { origin = "primary", cad_postal = cad_postal }, meta = CadCache.meta(entry) }
    decisions[#decisions + 1] = { op = "say", call_id = call_id, state = "following",
        detail = ("follows unit %d (player %s), its primary: track primary is on"):format(unit, player) }
    return decisions
end

---A call the CAD just created (a CALL_NEW push, or a 911 call): with the
---caller rule on, follow the player in its metaData.callerPlayerId for a while.
---@param call_object any the call object (an entry's `dispatch`, or the emergency call)
---@param kind CallKind|nil "emergency" for a 911 call (its id is a 911 call id); dispatch when nil
---@param view FollowView
---@return FollowDecision[]
function Follow:on_new_call(call_object, kind, view)
    kind = kind == "emergency" and "emergency" or "dispatch"
    local seconds = self.settings.follow_caller_seconds or 0
    if seconds <= 0 or type(call_object) ~= "table" then
        return {}
    end
    local call_id = Subjects.call_id(call_object.callId)
    local player = CadCache.caller_player(call_object)
    if call_id == nil or player == nil then
        return {}
    end
    if view.tracker:get(call_id, kind) ~= nil or (kind == "dispatch" and self.held[call_id] ~= nil) then
        return {} -- an explicit track or track primary came first, or a manual untrack holds it
    end
    local subject = Subjects.parse(player)
    local ok, reason = view.host.check_subject(subject)
    if not ok then
        return { { op = "log", line = ("%s: its caller is not followed (%s)")
            :format(Subjects.call_name(call_id, kind), reason or "?") } }
    end
    return {
        { op = "follow", call_id = call_id, subject = subject.key, meta = Metadata.copy(call_object.metaData),
            extra = { kind = kind, origin = "caller", who = view.host.identify(subject.key),
                until_ms = view.host.now() + seconds * 1000 } },
        { op = "say", call_id = call_id, kind = kind, state = "following",
            detail = ("follows its caller, player %d, for %d s"):format(player, seconds) },
    }
end

---End the caller follows whose time is up; the pin stays where it was put.
---@param now number
---@param view FollowView
---@return FollowDecision[]
function Follow:expire(now, view)
    local decisions = {}
    for _, call in ipairs(view.tracker:calls()) do
        if call.origin == "caller" and call.until_ms ~= nil and call.until_ms <= now then
            decisions[#decisions + 1] = { op = "stop", call_id = call.call_id, kind = call.kind,
                why = "its caller was followed for " .. (self.settings.follow_caller_seconds or 0) .. " s" }
        end
    end
    return decisions
end

return Follow
