-- The calls this game server wants followed, and by what. Pure state: no natives.
-- This is the state a `sync` carries after every (re)connect, so anything that
-- happens while the link is down only has to change it.

local Tracking = {}
Tracking.__index = Tracking

---@class TrackedCall
---@field call_id integer
---@field subject string wire subject, e.g. "player:12"
---@field radius number|nil metres
---@field meta table<string, string>|nil the call's metaData as last read from the CAD cache

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
---@param meta table<string, string>|nil
---@return TrackedCall call
---@return TrackedCall|nil previous
function Tracking:track(call_id, subject, radius, meta)
    assert(math.type(call_id) == "integer", "call_id must be an integer")
    assert(type(subject) == "string", "subject must be a string")
    local previous = self.by_id[call_id]
    local call = { call_id = call_id, subject = subject, radius = radius, meta = meta }
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
---@param meta table<string, string>|nil
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
