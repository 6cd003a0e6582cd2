-- Every convar the resource reads (server.cfg `set` lines), read and validated
-- here only. Pure: the convar getter comes in as an argument. The transport's
-- share (`transport`) reaches server/transport.js from server/main.lua; it
-- reads no convar itself, and only parses the URL it is handed.

local Settings = {}

Settings.HEARTBEAT_MS = 30000

---@class BridgeSettings
---@field token_set boolean whether sonoran_bridge_token has a value
---@field interval_ms integer sampling period
---@field min_move number metres a subject must move before it is sent again
---@field heartbeat_ms integer a still subject is sent again after this long
---@field follow_primary boolean|nil follow a call's track primary unit; nil: when sonorancad runs
---@field follow_caller_seconds integer follow a new call's caller this long (0: off)
---@field transport TransportSettings what server/transport.js needs

---@class TransportSettings the link's settings, read for server/transport.js
---@field url string the daemon's ws:// or wss:// URL, unparsed (the transport parses it)
---@field token string the shared secret, trimmed ("" when not set); never logged
---@field server_id integer
---@field backoff_min_ms integer
---@field backoff_max_ms integer never below backoff_min_ms
---@field connect_timeout_ms integer
---@field keepalive_ms integer
---@field problems string[] bad values, in the console's order after the URL's; any keeps the link idle

---The transport's integer convars, in the order their problems are told: a bad
---value is a problem that keeps the link idle (the link must not guess a server id).
local LINK_INTEGERS = {
    { key = "server_id", convar = "sonoran_bridge_server_id", default = 1, min = 1, max = 2147483647 },
    -- Advanced: waits between attempts, for a connection + welcome, and of silence.
    { key = "backoff_min_ms", convar = "sonoran_bridge_backoff_min_ms", default = 500, min = 10, max = 600000 },
    { key = "backoff_max_ms", convar = "sonoran_bridge_backoff_max_ms", default = 30000, min = 10, max = 3600000 },
    { key = "connect_timeout_ms", convar = "sonoran_bridge_connect_timeout_ms", default = 10000,
      min = 100, max = 600000 },
    { key = "keepalive_ms", convar = "sonoran_bridge_keepalive_ms", default = 30000, min = 100, max = 600000 },
}

---A convar's text, trimmed; the fallback when it is not a string.
---@param get_convar fun(name: string, default: string): string
---@param name string
---@return string
local function text(get_convar, name)
    local value = get_convar(name, "")
    if type(value) ~= "string" then
        return ""
    end
    return (value:match("^%s*(.-)%s*$"))
end

---A number convar within [spec.min, spec.max]; its default when not set.
---Strict (the link's): the trimmed text must be digits. Otherwise any number
---Lua reads, an integer where spec.integer says so.
---@param get_convar fun(name: string, default: string): string
---@param spec { convar: string, default: number, min: number, max: number, integer: boolean|nil }
---@param strict boolean
---@return number|nil value nil when set to something out of bounds or not a number
---@return string raw what was set
local function bounded(get_convar, spec, strict)
    local raw = strict and text(get_convar, spec.convar) or get_convar(spec.convar, "")
    if type(raw) ~= "string" or raw == "" then
        return spec.default, ""
    end
    local n
    if strict then
        n = raw:match("^%d+$") and math.tointeger(tonumber(raw)) or nil
    else
        n = tonumber(raw)
        if spec.integer and n ~= nil then
            n = math.tointeger(n)
        end
    end
    if n == nil or n ~= n or n < spec.min or n > spec.max then
        return nil, raw
    end
    return n, raw
end

---The transport's settings and their problems.
---@param get_convar fun(name: string, default: string): string
---@return TransportSettings
local function read_transport(get_convar)
    local link = { problems = {} }
    local problems = link.problems
    local url = text(get_convar, "sonoran_bridge_url")
    link.url = url ~= "" and url or "ws://127.0.0.1:30125"
    link.token = text(get_convar, "sonoran_bridge_token")
    if link.token == "" then
        problems[#problems + 1] = 'sonoran_bridge_token is not set (server.cfg: set sonoran_bridge_token "...")'
    end
    for _, spec in ipairs(LINK_INTEGERS) do
        local value, raw = bounded(get_convar, spec, true)
        if value == nil then
            problems[#problems + 1] = ('%s: expected an integer between %d and %d, got "%s"')
                :format(spec.convar, spec.min, spec.max, raw)
            value = spec.default
        end
        link[spec.key] = value
    end
    link.backoff_max_ms = math.max(link.backoff_min_ms, link.backoff_max_ms)
    return link
end

local NUMBERS = {
    { key = "interval_ms", convar = "sonoran_bridge_interval_ms", default = 1000, min = 100, max = 60000, integer = true },
    { key = "min_move", convar = "sonoran_bridge_min_move", default = 5, min = 0, max = 1000 },
    { key = "follow_caller_seconds", convar = "sonoran_bridge_follow_caller_seconds", default = 0,
      min = 0, max = 3600, integer = true },
}

local SWITCH = { ["1"] = true, ["true"] = true, on = true, yes = true,
    ["0"] = false, ["false"] = false, off = false, no = false }

---Read and validate every convar. A bad value of the Lua side falls back to its
---default and adds a warning that names the convar, what was expected and what
---came; a bad value of the link is in `transport.problems` (the transport prints
---them and stays idle).
---@param get_convar fun(name: string, default: string): string
---@return BridgeSettings settings
---@return string[] warnings
function Settings.read(get_convar)
    local settings = { heartbeat_ms = Settings.HEARTBEAT_MS, transport = read_transport(get_convar) }
    local warnings = {}
    settings.token_set = settings.transport.token ~= ""
    for _, spec in ipairs(NUMBERS) do
        local value, raw = bounded(get_convar, spec, false)
        if value == nil then
            warnings[#warnings + 1] = string.format(
                "%s: expected %s between %s and %s, got %q; using %s",
                spec.convar, spec.integer and "an integer" or "a number",
                spec.min, spec.max, tostring(raw), spec.default)
            value = spec.default
        end
        settings[spec.key] = value
    end
    local raw = get_convar("sonoran_bridge_follow_primary", "")
    local word = type(raw) == "string" and raw:lower():match("^%s*(.-)%s*$") or ""
    if word ~= "" and word ~= "auto" then
        if SWITCH[word] == nil then
            warnings[#warnings + 1] = string.format(
                "sonoran_bridge_follow_primary: expected on, off or auto, got %q; using auto", tostring(raw))
        else
            settings.follow_primary = SWITCH[word]
        end
    end
    return settings, warnings
end

return Settings
