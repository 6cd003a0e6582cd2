-- The tracked calls as kept in resource KVP, so a restart of the resource (or
-- of FXServer) resumes them. Pure: the JSON encoder and decoder, and what a
-- subject is now, come in as arguments; server/main.lua does the KVP natives.
--
-- What a subject's id means does not always outlive a restart:
-- - unit:<id> is the CAD's unit: it means the same after any restart.
-- - player:<id> is a server id: FXServer hands them out afresh after it
--   restarts. Saved with the player's identifier (license), resumed only when
--   the player with that id now has the same one (a resource restart).
-- - entity:<netid> is a network id, reused after FXServer restarts: saved with
--   the entity's model, resumed only when that id is an entity of that model.

local Subjects = require("shared.subjects")

local Saved = {}

Saved.KEY = "sonoran_bridge:tracks"
Saved.VERSION = 1

local ORIGINS = { manual = true, primary = true, caller = true }

---@class SavedTrack
---@field call_id integer
---@field kind CallKind|nil dispatch when absent (what saves before 911 calls had)
---@field subject string
---@field radius number|nil
---@field origin "manual"|"primary"|"caller"
---@field who string|nil what the subject was when tracked (player identifier, entity model)
---@field until_ms integer|nil when a caller follow ends (game timer)
---@field cad_postal boolean|nil sonorancad keeps the call's postal itself

---@class SavedState
---@field tracks SavedTrack[]
---@field held { call_id: integer, mark: string }[] calls a manual untrack keeps unfollowed

---The text to keep: every tracked call, and the calls held unfollowed.
---@param calls TrackedCall[]
---@param held table<integer, string> call id -> the CAD's tracking mark when untracked
---@param encode fun(value: table): string
---@return string
function Saved.encode(calls, held, encode)
    local tracks = {}
    for i, call in ipairs(calls) do
        tracks[i] = {
            call_id = call.call_id,
            kind = call.kind == "emergency" and "emergency" or nil,
            subject = call.subject,
            radius = call.radius,
            origin = call.origin or "manual",
            who = call.who,
            until_ms = call.until_ms,
            cad_postal = call.cad_postal or nil,
        }
    end
    local held_list = {}
    for call_id, mark in pairs(held) do
        held_list[#held_list + 1] = { call_id = call_id, mark = mark }
    end
    table.sort(held_list, function(a, b) return a.call_id < b.call_id end)
    -- Lists, never empty objects: json.encode writes {} as [], which is what a list wants.
    return encode({ v = Saved.VERSION, tracks = tracks, held = held_list })
end

---@param value any
---@return integer|nil
local function integer(value)
    return type(value) == "number" and math.tointeger(value) or nil
end

---One saved track, checked; nil and why when it is not usable.
---@param raw any
---@return SavedTrack|nil
---@return string|nil reason
local function track_of(raw)
    if type(raw) ~= "table" then
        return nil, "not a table"
    end
    local call_id = Subjects.call_id(raw.call_id)
    if call_id == nil then
        return nil, "bad call id " .. Subjects.describe(raw.call_id)
    end
    local subject = Subjects.parse(raw.subject)
    if subject == nil then
        return nil, "call " .. call_id .. ": bad subject " .. Subjects.describe(raw.subject)
    end
    local options = Subjects.options({ radius = raw.radius })
    if options == nil then
        return nil, "call " .. call_id .. ": bad radius " .. Subjects.describe(raw.radius)
    end
    local origin = raw.origin
    if not ORIGINS[origin] then
        return nil, "call " .. call_id .. ": bad origin " .. Subjects.describe(origin)
    end
    if raw.kind ~= nil and raw.kind ~= "dispatch" and raw.kind ~= "emergency" then
        return nil, "call " .. call_id .. ": bad kind " .. Subjects.describe(raw.kind)
    end
    local who = type(raw.who) == "string" and raw.who or nil
    return {
        call_id = call_id,
        kind = raw.kind == "emergency" and "emergency" or nil,
        subject = subject.key,
        radius = options.radius,
        origin = origin,
        who = who,
        until_ms = integer(raw.until_ms),
        cad_postal = raw.cad_postal == true or nil,
    }
end

---Read what `encode` wrote. Entries that are not usable are left out, each
---with a reason; text that is not ours at all gives an empty state and a reason.
---@param text any
---@param decode fun(text: string): any
---@return SavedState state
---@return string[] problems
function Saved.decode(text, decode)
    local state = { tracks = {}, held = {} }
    if text == nil or text == "" then
        return state, {}
    end
    local ok, doc = pcall(decode, text)
    if not ok or type(doc) ~= "table" or doc.v ~= Saved.VERSION then
        return state, { "saved tracks are not in a format this version reads; starting empty" }
    end
    local problems = {}
    for _, raw in ipairs(type(doc.tracks) == "table" and doc.tracks or {}) do
        local track, reason = track_of(raw)
        if track == nil then
            problems[#problems + 1] = "saved track left out: " .. reason
        else
            state.tracks[#state.tracks + 1] = track
        end
    end
    for _, raw in ipairs(type(doc.held) == "table" and doc.held or {}) do
        local call_id = type(raw) == "table" and Subjects.call_id(raw.call_id) or nil
        if call_id ~= nil and type(raw.mark) == "string" then
            state.held[#state.held + 1] = { call_id = call_id, mark = raw.mark }
        end
    end
    return state, problems
end

---Whether a saved track still means the same subject now; if not, why.
---@param track SavedTrack
---@param identify fun(subject: string): string|nil what the subject is now (nil: nothing)
---@return boolean
---@return string|nil reason
function Saved.still_valid(track, identify)
    local subject = Subjects.parse(track.subject)
    local kind = subject and subject.kind
    if kind == "unit" then
        return true
    end
    local now = identify(track.subject)
    if now == nil then
        return false, ("%s is not here any more (%s)"):format(track.subject,
            kind == "player" and "server ids start afresh when FXServer restarts"
            or "network ids start afresh when FXServer restarts")
    end
    if track.who == nil or now ~= track.who then
        return false, ("%s is now someone or something else"):format(track.subject)
    end
    return true
end

return Saved
