-- What the exports and commands accept: call ids, subjects and track options.
-- Pure: no natives. Every parser returns the value, or nil plus a reason that
-- says what was expected and what came.

local Subjects = {}

local MAX_ID = 2147483647 -- player ids, net ids and unit ids all fit an int32
local MAX_CALL_ID = 9007199254740992 -- 2^53: the daemon's limit, exact in a double
local MAX_RADIUS = 10000

---@class Subject
---@field kind "player"|"entity"|"unit"
---@field id integer
---@field key string the wire form, e.g. "player:12"

local KINDS = { player = true, entity = true, unit = true }

---Short printable form of any value, for error messages.
---@param value any
---@return string
function Subjects.describe(value)
    if type(value) == "string" then
        if #value > 40 then
            value = value:sub(1, 40) .. "..."
        end
        return string.format("%q", value)
    end
    if value == nil then
        return "nothing"
    end
    return type(value) .. " " .. tostring(value)
end

---How the console names a call: "call 501", or "911 call 501".
---@param call_id integer
---@param kind CallKind|nil dispatch when nil
---@return string
function Subjects.call_name(call_id, kind)
    return (kind == "emergency" and "911 call " or "call ") .. call_id
end

---An integer in [1, max] from a number or a string of digits; nil otherwise.
---@param value any
---@param max integer
---@return integer|nil
local function positive_integer(value, max)
    local n
    if type(value) == "number" then
        n = math.tointeger(value) -- 12.0 (e.g. from a JS caller) becomes 12; 12.5 and NaN give nil
    elseif type(value) == "string" and value:match("^%d+$") and #value <= 16 then
        n = math.tointeger(tonumber(value))
    end
    if n == nil or n < 1 or n > max then
        return nil
    end
    return n
end

---Parse a dispatch call id: an integer >= 1 (a number or a string of digits).
---@param value any
---@return integer|nil call_id
---@return string|nil reason
function Subjects.call_id(value)
    local n = positive_integer(value, MAX_CALL_ID)
    if n == nil then
        return nil, "callId: expected an integer >= 1, got " .. Subjects.describe(value)
    end
    return n
end

---Parse a subject: a player server id (number or string of digits), or
---"player:<id>", "entity:<netid>", "unit:<id>".
---@param value any
---@return Subject|nil subject
---@return string|nil reason
function Subjects.parse(value)
    local kind, id
    if type(value) == "number" or (type(value) == "string" and value:match("^%d+$")) then
        kind, id = "player", positive_integer(value, MAX_ID)
    elseif type(value) == "string" then
        local k, digits = value:match("^(%a+):(%d+)$")
        if k ~= nil and KINDS[k] then
            kind, id = k, positive_integer(digits, MAX_ID)
        end
    end
    if kind == nil or id == nil then
        return nil, "subject: expected a player server id or \"player:<id>\", "
            .. "\"entity:<netid>\", \"unit:<id>\" (ids >= 1), got " .. Subjects.describe(value)
    end
    return { kind = kind, id = id, key = kind .. ":" .. id }
end

---@class TrackOptions
---@field radius number|nil metres, 0-10000

---Parse the options of TrackCall: nil or a table with an optional `radius`.
---@param value any
---@return TrackOptions|nil options
---@return string|nil reason
function Subjects.options(value)
    if value == nil then
        return {}
    end
    if type(value) ~= "table" then
        return nil, "opts: expected a table like { radius = 50 } or nothing, got "
            .. Subjects.describe(value)
    end
    for key in pairs(value) do
        if key ~= "radius" then
            return nil, "opts: unknown option " .. Subjects.describe(key) .. " (known: radius)"
        end
    end
    local radius = value.radius
    if radius ~= nil then
        if type(radius) ~= "number" or radius ~= radius or radius < 0 or radius > MAX_RADIUS then
            return nil, "opts.radius: expected metres between 0 and " .. MAX_RADIUS
                .. ", got " .. Subjects.describe(radius)
        end
    end
    return { radius = radius }
end

return Subjects
