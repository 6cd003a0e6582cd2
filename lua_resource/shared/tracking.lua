-- The calls this game server wants followed, and by what. Pure state: no natives.
-- This is the state a `sync` carries after every (re)connect, so anything that
-- happens while the link is down only has to change it.

local Tracking = {}
Tracking.__index = Tracking

---@alias CallKind "dispatch"|"emergency" a dispatch call, or a 911 call (ids of the two may collide)

---@class TrackedCall
---@field call_id integer
---@field kind CallKind
---@field subject string wire subject, e.g. "player:12"
---@field radius number|nil metres
---@field meta table<string, any>|nil the call's metaData as last read from the CAD cache
---@field meta_refused string|nil why the cache's latest metaData was not relayed (said once)
---@field meta_seen string|nil fingerprint of the cache's metaData when last compared
---@field origin "manual"|"primary"|"caller" who asked: a command or export, the CAD's track primary, the caller rule
---@field who string|nil what the subject was when tracked (a player's identifier, an entity's model)
---@field until_ms integer|nil when a caller follow ends (game timer)
---@field cad_postal boolean|nil sonorancad keeps this call's postal itself (its track primary)

---@class TrackExtra
---@field kind CallKind|nil dispatch when left out
---@field origin "manual"|"primary"|"caller"|nil manual when left out
---@field who string|nil
---@field until_ms integer|nil
---@field cad_postal boolean|nil

---@class Tracker
---@field private by_id table<integer|string, TrackedCall> keyed by Tracking.key

---@return Tracker
function Tracking.new()
    return setmetatable({ by_id = {} }, Tracking)
end

---The key of a call: dispatch call 501 and 911 call 501 are two calls.
---@param call_id integer
---@param kind CallKind|nil dispatch when nil
---@return integer|string
function Tracking.key(call_id, kind)
    if kind == "emergency" then
        return "emergency:" .. call_id
    end
    return call_id
end

---Follow `subject` with the call, replacing what the call followed before.
---@param call_id integer
---@param subject string
---@param radius number|nil
---@param meta table<string, any>|nil
---@param extra TrackExtra|nil
---@return TrackedCall call
---@return TrackedCall|nil previous
function Tracking:track(call_id, subject, radius, meta, extra)
    assert(math.type(call_id) == "integer", "call_id must be an integer")
    assert(type(subject) == "string", "subject must be a string")
    extra = extra or {}
    local kind = extra.kind == "emergency" and "emergency" or "dispatch"
    local key = Tracking.key(call_id, kind)
    local previous = self.by_id[key]
    local call = {
        call_id = call_id,
        kind = kind,
        subject = subject,
        radius = radius,
        meta = meta,
        origin = extra.origin or "manual",
        who = extra.who,
        until_ms = extra.until_ms,
        cad_postal = extra.cad_postal,
    }
    if meta == nil and previous ~= nil then
        call.meta = previous.meta -- re-tracking keeps what is known of the call
    end
    self.by_id[key] = call
    return call, previous
end

---Stop following a call.
---@param call_id integer
---@param kind CallKind|nil dispatch when nil
---@return TrackedCall|nil removed nil when the call was not tracked
function Tracking:untrack(call_id, kind)
    local key = Tracking.key(call_id, kind)
    local call = self.by_id[key]
    self.by_id[key] = nil
    return call
end

---@param call_id integer
---@param kind CallKind|nil dispatch when nil
---@return TrackedCall|nil
function Tracking:get(call_id, kind)
    return self.by_id[Tracking.key(call_id, kind)]
end

---Record the call's metaData as the CAD now holds it.
---@param call_id integer
---@param meta table<string, any>|nil
---@param kind CallKind|nil dispatch when nil
---@return boolean tracked false when the call is not tracked
function Tracking:set_meta(call_id, meta, kind)
    local call = self.by_id[Tracking.key(call_id, kind)]
    if call == nil then
        return false
    end
    call.meta = meta
    return true
end

---The tracked calls, ordered by call id (a dispatch call before the 911 call
---with its id).
---@return TrackedCall[]
function Tracking:calls()
    local list = {}
    for _, call in pairs(self.by_id) do
        list[#list + 1] = call
    end
    table.sort(list, function(a, b)
        if a.call_id ~= b.call_id then
            return a.call_id < b.call_id
        end
        return a.kind < b.kind
    end)
    return list
end

---The distinct subjects the tracked calls follow, sorted.
---@return string[]
function Tracking:subjects()
    local seen, list = {}, {}
    for _, call in pairs(self.by_id) do
        if not seen[call.subject] then
            seen[call.subject] = true
            list[#list + 1] = call.subject
        end
    end
    table.sort(list)
    return list
end

---Whether some tracked call still follows `subject`.
---@param subject string
---@return boolean
function Tracking:follows(subject)
    for _, call in pairs(self.by_id) do
        if call.subject == subject then
            return true
        end
    end
    return false
end

---@return integer
function Tracking:count()
    local n = 0
    for _ in pairs(self.by_id) do
        n = n + 1
    end
    return n
end

return Tracking
