-- The calls this game server wants followed, and by what. Pure state: no natives.
-- This is the state a `sync` carries after every (re)connect, so anything that
-- happens while the link is down only has to change it.

local Tracking = {}
Tracking.__index = Tracking

---@class TrackedCall
---@field call_id integer
---@field subject string wire subject, e.g. "player:12"
---@field radius number|nil metres
---@field meta table<string, any>|nil the call's metaData as last read from the CAD cache
---@field meta_refused string|nil why the cache's latest metaData was not relayed (said once)
---@field origin "manual"|"primary"|"caller" who asked: a command or export, the CAD's track primary, the caller rule
---@field who string|nil what the subject was when tracked (a player's identifier, an entity's model)
---@field until_ms integer|nil when a caller follow ends (game timer)
---@field cad_postal boolean|nil sonorancad keeps this call's postal itself (its track primary)

---@class TrackExtra
---@field origin "manual"|"primary"|"caller"|nil manual when left out
---@field who string|nil
---@field until_ms integer|nil
---@field cad_postal boolean|nil

---@class Tracker
---@field private by_id table<integer, TrackedCall>

---@return Tracker
function Tracking.new()
    return setmetatable({ by_id = {} }, Tracking)
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
    local previous = self.by_id[call_id]
    local call = {
        call_id = call_id,
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
    self.by_id[call_id] = call
    return call, previous
end

---Stop following a call.
---@param call_id integer
---@return TrackedCall|nil removed nil when the call was not tracked
function Tracking:untrack(call_id)
    local call = self.by_id[call_id]
    self.by_id[call_id] = nil
    return call
end

---@param call_id integer
---@return TrackedCall|nil
function Tracking:get(call_id)
    return self.by_id[call_id]
end

---Record the call's metaData as the CAD now holds it.
---@param call_id integer
---@param meta table<string, any>|nil
---@return boolean tracked false when the call is not tracked
function Tracking:set_meta(call_id, meta)
    local call = self.by_id[call_id]
    if call == nil then
        return false
    end
    call.meta = meta
    return true
end

---The tracked calls, ordered by call id.
---@return TrackedCall[]
function Tracking:calls()
    local list = {}
    for _, call in pairs(self.by_id) do
        list[#list + 1] = call
    end
    table.sort(list, function(a, b) return a.call_id < b.call_id end)
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

SonoranBridge = SonoranBridge or {}
SonoranBridge.Tracking = Tracking
return Tracking
