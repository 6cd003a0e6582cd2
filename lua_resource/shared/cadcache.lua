-- Reading the official `sonorancad` resource's call cache. Pure: the cache
-- table comes in as an argument.
--
-- The cache is keyed by call id, each entry { dispatch_type = "CALL_NEW" |
-- "CALL_EDIT" | "CALL_CLOSE", dispatch = <call object with metaData> }. Its keys
-- come from decoded JSON: usually numbers, but nothing guarantees it, so a
-- lookup tries the number, the string, then scans the entries' callId.

local Metadata = require("shared.metadata")

local CadCache = {}

local CALL_STATUS_CLOSED = 2

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

---The call's metaData as sonorancad holds it (nil when the entry has none).
---@param entry any
---@return any
function CadCache.raw_meta(entry)
    local call = call_of(entry)
    return call and call.metaData or nil
end

---The call's metaData as the wire carries it: every value verbatim (see
---shared/metadata.lua). Returns nil when the entry has no metaData the wire
---can carry as the CAD holds it, with the reason.
---@param entry any
---@return table<string, any>|nil meta
---@return string|nil reason
function CadCache.meta(entry)
    local call = call_of(entry)
    if call == nil then
        return nil, "no call object"
    end
    return Metadata.copy(call.metaData)
end

---@param value any
---@return boolean
local function on(value)
    return value == true or value == "true" or value == 1
end

---The unit a call's track primary asks to follow: the `primary` identId when
---`trackPrimary` is on and the call is open; nil otherwise.
---@param entry any
---@return integer|nil ident_id
function CadCache.primary_unit(entry)
    local call = call_of(entry)
    if call == nil or CadCache.is_closed(entry) or not on(call.trackPrimary) then
        return nil
    end
    local primary = as_integer(call.primary)
    if primary == nil or primary < 1 then
        return nil
    end
    return primary
end

---The call's tracking controls as one string, to notice when a dispatcher
---changes them (a manual untrack holds until then).
---@param entry any
---@return string
function CadCache.tracking_mark(entry)
    local call = call_of(entry)
    if call == nil then
        return "none"
    end
    return ("primary=%s;track=%s;closed=%s"):format(tostring(as_integer(call.primary)),
        tostring(on(call.trackPrimary)), tostring(CadCache.is_closed(entry)))
end

---The player who made the call (sonorancad's 911 and panic calls carry
---`metaData.callerPlayerId`, a server id as a string); nil when there is none.
---@param call_object any a call object (the `dispatch` of an entry, or an emergency call)
---@return integer|nil
function CadCache.caller_player(call_object)
    if type(call_object) ~= "table" or type(call_object.metaData) ~= "table" then
        return nil
    end
    local id = as_integer(call_object.metaData.callerPlayerId)
    if id == nil or id < 1 then
        return nil
    end
    return id
end

---The entry as a tracking announcement says it now is: dispatchnotify fires
---CallEdit:Tracking(callId, trackPrimary, primary) before sonorancad writes the
---edited call to its cache, so the cached entry still holds the old controls.
---Returns a copy with the announced `trackPrimary` and `primary`; the cached
---entry itself is left alone.
---@param entry any
---@param on boolean
---@param primary integer|nil
---@return table|nil
function CadCache.with_tracking(entry, on, primary)
    local call = call_of(entry)
    if call == nil then
        return nil
    end
    local copy = {}
    for k, v in pairs(call) do
        copy[k] = v
    end
    copy.trackPrimary = on == true
    copy.primary = primary
    return { dispatch_type = entry.dispatch_type, dispatch = copy }
end

---Whether two metaData tables hold the same keys and values.
---@param a table<string, any>|nil
---@param b table<string, any>|nil
---@return boolean
function CadCache.same_meta(a, b)
    if a == nil or b == nil then
        return a == b
    end
    return Metadata.same(a, b)
end

return CadCache
