-- The CAD's push events as sonorancad received them: its websocket hands each
-- raw body to the server as `SonoranCAD::pushevents:shim`, which any resource
-- may listen to. Pure: the body and the JSON decoder come in as arguments.
--
-- Read here only for what sonorancad v4.0.104 itself loses: the ids of a bulk
-- close (it closes only the first in its cache). The body carries the API key;
-- nothing read here keeps, logs or returns it.

local PushEvents = {}

---@class PushEvent
---@field type string the event type, upper case (e.g. "EVENT_DISPATCH_CLOSED")
---@field call_ids integer[] the call ids it names (data.callIds), valid ones only

---@param value any
---@return integer|nil
local function call_id(value)
    if type(value) == "string" then
        value = tonumber(value)
    end
    local id = type(value) == "number" and math.tointeger(value) or nil
    if id == nil or id < 1 then
        return nil
    end
    return id
end

---@param list any
---@return integer[]
local function ids(list)
    local out = {}
    if type(list) ~= "table" then
        return out
    end
    local keys = {} -- a null in the list leaves a hole: ipairs would stop there
    for k in pairs(list) do
        if math.type(k) == "integer" then
            keys[#keys + 1] = k
        end
    end
    table.sort(keys)
    for _, k in ipairs(keys) do
        local id = call_id(list[k])
        if id ~= nil then
            out[#out + 1] = id
        end
    end
    return out
end

---The event in a raw push body; nil when it is not one this resource reads.
---@param chunk any the raw JSON text
---@param decode fun(text: string): any
---@return PushEvent|nil
function PushEvents.read(chunk, decode)
    if type(chunk) ~= "string" then
        return nil
    end
    local ok, body = pcall(decode, chunk)
    if not ok or type(body) ~= "table" or type(body.type) ~= "string" then
        return nil
    end
    local kind = body.type:upper()
    if kind ~= "EVENT_DISPATCH_CLOSED" then
        return nil
    end
    local data = body.data
    if type(data) == "table" and data.callIds == nil and type(data[1]) == "table" then
        data = data[1] -- the shape Sonoran's push event pages show: data as a one-item list
    end
    return { type = kind, call_ids = ids(type(data) == "table" and data.callIds or nil) }
end

return PushEvents
