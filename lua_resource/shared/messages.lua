-- Wire protocol v1 messages, resource -> daemon (and parsing of daemon -> resource).
-- Pure: the JSON encoder and decoder come in as arguments (FiveM's `json`).
--
-- FiveM's json.encode writes NaN/Infinity as invalid tokens and an empty table
-- as [], so every message is checked here before it is encoded: only finite
-- numbers, and no empty table where the wire wants an object (`meta` follows
-- the rules of shared/metadata.lua).

local Metadata = require("shared.metadata")

local Messages = {}

Messages.PROTOCOL = 1
Messages.MAX_FRAME_BYTES = 64 * 1024
Messages.MAX_BATCH = 2048
Messages.MAX_TRACKS = 4096
-- The value limits of protocol v1, as bridge/protocol.py writes them (a test
-- holds the two, and transport.js, equal).
Messages.LIMITS = {
    call_id = 9007199254740992, -- 2^53
    subject = 64, -- characters
    radius = 10000, -- metres
    horizontal = 20000, -- |x|, |y| metres
    vertical = 5000, -- |z| metres
    heading = 360, -- degrees
    speed = 1000, -- metres per second (also |vx|, |vy|)
}
local LIMITS = Messages.LIMITS
-- Room left under the daemon's 64 KiB frame limit.
Messages.FRAME_BUDGET = 60 * 1024

local STATES = { following = true, pushed = true, gone = true, failed = true }
local KINDS = { dispatch = true, emergency = true }

---@param where string
---@param kind any
---@return boolean ok
---@return string|nil reason
local function kind_ok(where, kind)
    if kind ~= nil and not KINDS[kind] then
        return false, where .. ".kind: expected dispatch or emergency, got " .. tostring(kind)
    end
    return true
end

---@param n any
---@return boolean
local function finite(n)
    return type(n) == "number" and n == n and n ~= math.huge and n ~= -math.huge
end

---@param v any
---@return boolean
local function call_id_ok(v)
    return math.type(v) == "integer" and v >= 1 and v <= LIMITS.call_id
end

---@param v any
---@return boolean
local function subject_ok(v)
    return type(v) == "string" and #v >= 1 and #v <= LIMITS.subject
end

---@param meta any
---@return boolean ok
---@return string|nil reason
local function meta_ok(meta)
    local ok, reason = Metadata.check(meta)
    if not ok then
        return false, "meta: " .. reason
    end
    return true
end

---@param spec table
---@param where string
---@return boolean ok
---@return string|nil reason
local function track_spec_ok(spec, where)
    if not call_id_ok(spec.call_id) then
        return false, where .. ".call_id: expected an integer >= 1, got " .. tostring(spec.call_id)
    end
    if not subject_ok(spec.subject) then
        return false, where .. ".subject: expected a string of 1-64 characters"
    end
    if spec.radius ~= nil and not (finite(spec.radius) and spec.radius >= 0 and spec.radius <= LIMITS.radius) then
        return false, where .. ".radius: expected metres 0-10000, got " .. tostring(spec.radius)
    end
    local kind_fine, kind_reason = kind_ok(where, spec.kind)
    if not kind_fine then
        return false, kind_reason
    end
    if spec.cad_postal ~= nil and type(spec.cad_postal) ~= "boolean" then
        return false, where .. ".cad_postal: expected a boolean, got " .. type(spec.cad_postal)
    end
    if spec.meta ~= nil then
        local ok, reason = meta_ok(spec.meta)
        if not ok then
            return false, where .. "." .. reason
        end
    end
    return true
end

---Whether one positions item is valid on the wire; if not, why.
---@param item table
---@return boolean ok
---@return string|nil reason
function Messages.item_ok(item)
    if type(item) ~= "table" or not subject_ok(item.subject) then
        return false, "item.subject: expected a string of 1-64 characters"
    end
    for _, axis in ipairs({ "x", "y", "z" }) do
        local v, limit = item[axis], axis == "z" and LIMITS.vertical or LIMITS.horizontal
        if not finite(v) or math.abs(v) > limit then
            return false, "item." .. axis .. ": expected a finite number within +-" .. limit
                .. ", got " .. tostring(v)
        end
    end
    if item.heading ~= nil and not (finite(item.heading) and item.heading >= 0 and item.heading <= LIMITS.heading) then
        return false, "item.heading: expected degrees 0-360, got " .. tostring(item.heading)
    end
    if item.speed ~= nil and not (finite(item.speed) and item.speed >= 0 and item.speed <= LIMITS.speed) then
        return false, "item.speed: expected m/s 0-1000, got " .. tostring(item.speed)
    end
    for _, axis in ipairs({ "vx", "vy" }) do
        local v = item[axis]
        if v ~= nil and not (finite(v) and math.abs(v) <= LIMITS.speed) then
            return false, "item." .. axis .. ": expected m/s within +-1000, got " .. tostring(v)
        end
    end
    return true
end

---Check a message the resource is about to send against protocol v1.
---@param msg table
---@return boolean ok
---@return string|nil reason
function Messages.check(msg)
    if type(msg) ~= "table" then
        return false, "expected a message table, got " .. type(msg)
    end
    local kind = msg.type
    if kind == "track" then
        return track_spec_ok(msg, "track")
    elseif kind == "untrack" or kind == "call_closed" or kind == "call_meta_stale" then
        if not call_id_ok(msg.call_id) then
            return false, kind .. ".call_id: expected an integer >= 1, got " .. tostring(msg.call_id)
        end
        return kind_ok(kind, msg.kind)
    elseif kind == "call_meta" then
        if not call_id_ok(msg.call_id) then
            return false, "call_meta.call_id: expected an integer >= 1, got " .. tostring(msg.call_id)
        end
        local fine, why = kind_ok("call_meta", msg.kind)
        if not fine then
            return false, why
        end
        local ok, reason = meta_ok(msg.meta)
        if not ok then
            return false, "call_meta." .. reason
        end
        return true
    elseif kind == "sync" then
        if type(msg.tracks) ~= "table" or #msg.tracks > Messages.MAX_TRACKS then
            return false, "sync.tracks: expected a list of at most " .. Messages.MAX_TRACKS .. " tracks"
        end
        for i, spec in ipairs(msg.tracks) do
            local ok, reason = track_spec_ok(spec, "sync.tracks[" .. i .. "]")
            if not ok then
                return false, reason
            end
        end
        return true
    elseif kind == "postal_file" then
        if type(msg.path) ~= "string" or #msg.path < 1 or #msg.path > 4096 then
            return false, "postal_file.path: expected a string of 1-4096 characters"
        end
        return true
    elseif kind == "positions" then
        if type(msg.items) ~= "table" or #msg.items > Messages.MAX_BATCH then
            return false, "positions.items: expected a list of at most " .. Messages.MAX_BATCH .. " items"
        end
        for _, item in ipairs(msg.items) do
            local ok, reason = Messages.item_ok(item)
            if not ok then
                return false, "positions." .. reason
            end
        end
        return true
    end
    return false, "unknown message type " .. tostring(kind)
end

---@param call TrackedCall
---@param with_meta boolean
---@return table
local function spec_of(call, with_meta)
    local spec = { call_id = call.call_id, subject = call.subject, radius = call.radius }
    if call.kind == "emergency" then
        spec.kind = "emergency" -- left out for a dispatch call, the default
    end
    if call.cad_postal then
        spec.cad_postal = true -- sonorancad keeps the postal: the daemon leaves it alone
    end
    if with_meta then
        spec.meta = call.meta
    end
    return spec
end

---@param call TrackedCall
---@return table
function Messages.track(call)
    local msg = spec_of(call, true)
    msg.type = "track"
    return msg
end

---@param call_id integer
---@param kind CallKind|nil
---@return table
function Messages.untrack(call_id, kind)
    return { type = "untrack", call_id = call_id, kind = kind == "emergency" and kind or nil }
end

---@param call_id integer
---@param meta table<string, any>
---@param kind CallKind|nil
---@return table
function Messages.call_meta(call_id, meta, kind)
    return { type = "call_meta", call_id = call_id, meta = meta, kind = kind == "emergency" and kind or nil }
end

---The CAD changed the call's metaData in a way this side cannot relay as it is:
---the daemon must read the call before its next push, never push its old copy.
---@param call_id integer
---@param kind CallKind|nil
---@return table
function Messages.call_meta_stale(call_id, kind)
    return { type = "call_meta_stale", call_id = call_id, kind = kind == "emergency" and kind or nil }
end

---@param path string
---@return table
function Messages.postal_file(path)
    return { type = "postal_file", path = path }
end

---@param call_id integer
---@param kind CallKind|nil
---@return table
function Messages.call_closed(call_id, kind)
    return { type = "call_closed", call_id = call_id, kind = kind == "emergency" and kind or nil }
end

---@param calls TrackedCall[]
---@param with_meta boolean
---@return table
function Messages.sync(calls, with_meta)
    local tracks = {}
    for i, call in ipairs(calls) do
        tracks[i] = spec_of(call, with_meta)
    end
    return { type = "sync", tracks = tracks }
end

---The frames that carry the full tracked set after a (re)connect: one `sync`,
---with each call's meta when that fits in a frame; otherwise a `sync` without
---meta followed by one `call_meta` per call that has some.
---@param calls TrackedCall[]
---@param encode fun(value: table): string
---@return string[] frames
function Messages.sync_frames(calls, encode)
    local full = encode(Messages.sync(calls, true))
    if #full <= Messages.FRAME_BUDGET then
        return { full }
    end
    local frames = { encode(Messages.sync(calls, false)) }
    for _, call in ipairs(calls) do
        if call.meta ~= nil then
            frames[#frames + 1] = encode(Messages.call_meta(call.call_id, call.meta, call.kind))
        end
    end
    return frames
end

---Encode position items into as few `positions` frames as the limits allow
---(at most MAX_BATCH items and FRAME_BUDGET bytes each). Invalid items are
---left out, never sent.
---@param items PositionItem[]
---@param encode fun(value: table): string
---@param budget integer|nil bytes per frame, FRAME_BUDGET by default
---@return string[] frames
---@return string[] dropped reasons for items left out
function Messages.position_frames(items, encode, budget)
    budget = budget or Messages.FRAME_BUDGET
    local head, tail = '{"type":"positions","items":[', "]}"
    local frames, dropped = {}, {}
    local parts, size = {}, #head + #tail
    local function flush()
        if #parts > 0 then
            frames[#frames + 1] = head .. table.concat(parts, ",") .. tail
            parts, size = {}, #head + #tail
        end
    end
    for _, item in ipairs(items) do
        local ok, reason = Messages.item_ok(item)
        if not ok then
            dropped[#dropped + 1] = tostring(item.subject) .. ": " .. reason
        else
            local part = encode(item)
            if #parts >= Messages.MAX_BATCH or size + #part + 1 > budget then
                flush()
            end
            parts[#parts + 1] = part
            size = size + #part + 1
        end
    end
    flush()
    return frames, dropped
end

---@class CallStateMessage
---@field type "call_state"
---@field call_id integer
---@field state "following"|"pushed"|"gone"|"failed"
---@field detail string|nil
---@field kind CallKind dispatch when the frame has none

---Parse a frame the daemon sent. Only `call_state` reaches Lua; the transport
---handles `welcome` and `error` itself.
---@param text any
---@param decode fun(text: string): any
---@return CallStateMessage|nil msg
---@return string|nil reason
function Messages.parse_daemon(text, decode)
    if type(text) ~= "string" then
        return nil, "expected a JSON text frame, got " .. type(text)
    end
    local ok, msg = pcall(decode, text)
    if not ok or type(msg) ~= "table" then
        return nil, "not a JSON object"
    end
    if msg.type ~= "call_state" then
        return nil, "unexpected message type " .. tostring(msg.type)
    end
    local call_id = type(msg.call_id) == "number" and math.tointeger(msg.call_id) or nil
    if call_id == nil or call_id < 1 then
        return nil, "call_state.call_id: expected an integer >= 1, got " .. tostring(msg.call_id)
    end
    if not STATES[msg.state] then
        return nil, "call_state.state: expected following, pushed, gone or failed, got "
            .. tostring(msg.state)
    end
    local detail = msg.detail
    if detail ~= nil and type(detail) ~= "string" then
        detail = nil
    end
    local kind = msg.kind == nil and "dispatch" or msg.kind
    if not KINDS[kind] then
        return nil, "call_state.kind: expected dispatch or emergency, got " .. tostring(msg.kind)
    end
    return { type = "call_state", call_id = call_id, state = msg.state, detail = detail, kind = kind }
end

return Messages
