-- Reading the official `sonorancad` resource's call cache. Pure: the cache
-- table comes in as an argument.
--
-- The cache is keyed by call id, each entry { dispatch_type = "CALL_NEW" |
-- "CALL_EDIT" | "CALL_CLOSE", dispatch = <call object with metaData> }. Its keys
-- come from decoded JSON: usually numbers, but nothing guarantees it, so a
-- lookup tries the number, the string, then scans the entries' callId.

local CadCache = {}

local CALL_STATUS_CLOSED = 2
local MAX_META_KEYS = 256
local MAX_KEY_LENGTH = 256

---@param value any
---@return integer|nil
local function as_integer(value)
    if type(value) == "string" then
        value = tonumber(value)
    end
    if type(value) ~= "number" then
        return nil
    end
    return math.tointeger(value)
end

---The call object of an entry (push events sometimes nest it one level deeper).
---@param entry any
---@return table|nil
local function call_of(entry)
    if type(entry) ~= "table" then
        return nil
    end
    local call = entry.dispatch
    if type(call) == "table" and type(call.dispatch) == "table" then
        call = call.dispatch
    end
    if type(call) ~= "table" then
        return nil
    end
    return call
end

---The call id of a cache entry.
---@param entry any
---@return integer|nil
function CadCache.call_id(entry)
    local call = call_of(entry)
    return call and as_integer(call.callId) or nil
end

---The entry for a call, whatever the type of the cache's keys.
---@param cache any the table returned by exports.sonorancad:GetCallCache()
---@param call_id integer
---@return table|nil entry
function CadCache.find(cache, call_id)
    if type(cache) ~= "table" then
        return nil
    end
    local entry = cache[call_id]
    if entry == nil then
        entry = cache[tostring(call_id)]
    end
    if entry ~= nil then
        return entry
    end
    for _, candidate in pairs(cache) do
        if CadCache.call_id(candidate) == call_id then
            return candidate
        end
    end
    return nil
end

---Whether the entry is a closed call (CALL_CLOSE, or status 2).
---@param entry any
---@return boolean
function CadCache.is_closed(entry)
    if type(entry) == "table" and entry.dispatch_type == "CALL_CLOSE" then
        return true
    end
    local call = call_of(entry)
    return call ~= nil and as_integer(call.status) == CALL_STATUS_CLOSED
end

---The call's metaData as the wire wants it: string keys and string values
---(numbers and booleans are tostring'd, as the official resource does).
---Returns nil when the entry has no usable metaData, with the reason.
---@param entry any
---@return table<string, string>|nil meta
---@return string|nil reason
function CadCache.meta(entry)
    local call = call_of(entry)
    if call == nil then
        return nil, "no call object"
    end
    local raw = call.metaData
    if type(raw) ~= "table" then
        return nil, "no metaData"
    end
    local meta, count = {}, 0
    for key, value in pairs(raw) do
        local k = tostring(key)
        if #k > MAX_KEY_LENGTH then
            return nil, "metaData key longer than " .. MAX_KEY_LENGTH .. " characters"
        end
        local kind = type(value)
        if kind == "string" then
            meta[k] = value
        elseif kind == "number" then
            -- 430 rather than 430.0 for integral floats, as the CAD writes it
            local n = math.tointeger(value)
            meta[k] = n and tostring(n) or tostring(value)
        elseif kind == "boolean" then
            meta[k] = tostring(value)
        else
            return nil, "metaData." .. k .. " is a " .. kind .. ", expected a string"
        end
        count = count + 1
    end
    if count == 0 then
        return nil, "empty metaData" -- json.encode would write {} as [], not an object
    end
    if count > MAX_META_KEYS then
        return nil, "metaData has more than " .. MAX_META_KEYS .. " keys"
    end
    return meta
end

---Whether two metaData tables hold the same keys and values.
---@param a table<string, string>|nil
---@param b table<string, string>|nil
---@return boolean
function CadCache.same_meta(a, b)
    if a == nil or b == nil then
        return a == b
    end
    for k, v in pairs(a) do
        if b[k] ~= v then
            return false
        end
    end
    for k in pairs(b) do
        if a[k] == nil then
            return false
        end
    end
    return true
end

SonoranBridge = SonoranBridge or {}
SonoranBridge.CadCache = CadCache
return CadCache
