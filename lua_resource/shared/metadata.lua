-- A call's metaData as the wire carries it: any JSON value, verbatim. Pure.
--
-- The CAD's metaData reaches Lua through json.decode (in sonorancad), and leaves
-- through FiveM's json.encode, which cannot write every Lua table faithfully:
-- an empty table becomes [] (the CAD may have held {}), NaN and Infinity become
-- invalid tokens, and a table that mixes integer and string keys has no JSON
-- form. Such metaData is refused whole, with the reason: a guessed value would
-- overwrite the CAD's on the next update, and the daemon can read the call
-- itself. (A JSON null inside metaData is lost in json.decode before it gets
-- here; nothing can tell it from a missing key.)

local Metadata = {}

-- The daemon's limits on `meta` (bridge/protocol.py).
Metadata.MAX_KEYS = 256
Metadata.MAX_KEY_LENGTH = 256
-- Deep enough for any real metaData, far below the daemon decoder's nesting limit.
Metadata.MAX_DEPTH = 16
-- Values (at every depth) in one call's metaData.
Metadata.MAX_VALUES = 4096
-- A sparse list is padded with nulls by json.encode: bound what one key may cost.
local MAX_LIST_LENGTH = 4096

---@param n number
---@return boolean
local function finite(n)
    return n == n and n ~= math.huge and n ~= -math.huge
end

---How FiveM's json.encode will write a table: "list" (keys 1..n, holes as
---null), "object" (string keys), or nil plus why it cannot be written as it is.
---@param t table
---@return "list"|"object"|nil shape
---@return string|nil reason
---@return integer count
local function shape_of(t)
    local count, strings, max = 0, 0, 0
    for k in pairs(t) do
        count = count + 1
        if type(k) == "string" then
            strings = strings + 1
        elseif math.type(k) == "integer" and k >= 1 then
            if k > max then
                max = k
            end
        else
            return nil, "a table with a key that is a " .. (math.type(k) or type(k))
                .. " (" .. tostring(k) .. ")", count
        end
    end
    if count == 0 then
        return nil, "an empty table (json.encode writes [], the CAD may hold {})", 0
    end
    if strings == count then
        return "object", nil, count
    end
    if strings > 0 then
        return nil, "a table mixing integer and string keys", count
    end
    if max > MAX_LIST_LENGTH then
        return nil, "a list longer than " .. MAX_LIST_LENGTH, count
    end
    return "list", nil, count
end

---Copy one value, checking that json.encode writes it as the CAD holds it.
---@param value any
---@param path string where the value is, for the reason
---@param depth integer
---@param budget { left: integer } values still allowed
---@return any copy nil when refused
---@return string|nil reason
local function copy_value(value, path, depth, budget)
    budget.left = budget.left - 1
    if budget.left < 0 then
        return nil, "more than " .. Metadata.MAX_VALUES .. " values"
    end
    local kind = type(value)
    if kind == "string" or kind == "boolean" then
        return value
    elseif kind == "number" then
        if not finite(value) then
            return nil, path .. " is " .. tostring(value) .. ", not a JSON number"
        end
        return value
    elseif kind ~= "table" then
        return nil, path .. " is a " .. kind .. ", not a JSON value"
    end
    if depth >= Metadata.MAX_DEPTH then
        return nil, path .. " nests deeper than " .. Metadata.MAX_DEPTH .. " levels"
    end
    local shape, why = shape_of(value)
    if shape == nil then
        return nil, path .. " is " .. why
    end
    local copy = {}
    for k, v in pairs(value) do
        local child, reason = copy_value(v, path .. "." .. tostring(k), depth + 1, budget)
        if child == nil then
            return nil, reason
        end
        copy[k] = child
    end
    return copy
end

---A copy of `raw` fit for the wire's `meta`: an object whose values are any
---JSON value, kept verbatim (no number or boolean becomes a string). Returns
---nil and the reason when it is not an object, is empty, exceeds the limits,
---or holds a value json.encode would not write as it is.
---@param raw any
---@return table<string, any>|nil meta
---@return string|nil reason
function Metadata.copy(raw)
    if type(raw) ~= "table" then
        return nil, "metaData is " .. (raw == nil and "missing" or "a " .. type(raw)) .. ", expected an object"
    end
    local meta, count = {}, 0
    local budget = { left = Metadata.MAX_VALUES }
    for key, value in pairs(raw) do
        if type(key) ~= "string" then
            return nil, "metaData has a key that is a " .. type(key) .. " (" .. tostring(key)
                .. "), expected an object"
        end
        if #key > Metadata.MAX_KEY_LENGTH then
            return nil, "metaData has a key longer than " .. Metadata.MAX_KEY_LENGTH .. " characters"
        end
        count = count + 1
        if count > Metadata.MAX_KEYS then
            return nil, "metaData has more than " .. Metadata.MAX_KEYS .. " keys"
        end
        local copy, reason = copy_value(value, "metaData." .. key, 1, budget)
        if copy == nil then
            return nil, reason
        end
        meta[key] = copy
    end
    if count == 0 then
        return nil, "metaData is empty (json.encode would write [], not an object)"
    end
    return meta
end

---Whether `meta` can go on the wire as it is (the same rules as `copy`).
---@param meta any
---@return boolean ok
---@return string|nil reason
function Metadata.check(meta)
    local copy, reason = Metadata.copy(meta)
    return copy ~= nil, reason
end

---Whether two JSON values are equal (tables compared by content; 1 equals 1.0,
---as in JSON).
---@param a any
---@param b any
---@return boolean
function Metadata.same(a, b)
    if type(a) ~= "table" or type(b) ~= "table" then
        return a == b
    end
    for k, v in pairs(a) do
        if not Metadata.same(v, b[k]) then
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

---A text that differs whenever the value differs (tables by content, keys in a
---fixed order, integers told from floats): to notice that the CAD's metaData
---changed even when it cannot be relayed. Tables that contain themselves are
---marked, not followed.
---@param value any
---@return string
function Metadata.fingerprint(value)
    local parts, seen = {}, {}
    local function walk(v)
        local kind = type(v)
        if kind == "table" then
            if seen[v] then
                parts[#parts + 1] = "<cycle>"
                return
            end
            seen[v] = true
            local keys = {}
            for k in pairs(v) do
                keys[#keys + 1] = k
            end
            table.sort(keys, function(a, b)
                local ta, tb = type(a), type(b)
                if ta ~= tb then
                    return ta < tb
                end
                if ta == "number" or ta == "string" then
                    return a < b
                end
                return tostring(a) < tostring(b)
            end)
            parts[#parts + 1] = "{"
            for _, k in ipairs(keys) do
                walk(k)
                parts[#parts + 1] = "="
                walk(v[k])
                parts[#parts + 1] = ","
            end
            parts[#parts + 1] = "}"
            seen[v] = nil
        elseif kind == "number" then
            parts[#parts + 1] = (math.type(v) == "integer" and "i" or "f") .. string.format("%.17g", v)
        elseif kind == "string" then
            parts[#parts + 1] = string.format("%q", v)
        else
            parts[#parts + 1] = kind .. ":" .. tostring(v)
        end
    end
    walk(value)
    return table.concat(parts)
end

return Metadata
