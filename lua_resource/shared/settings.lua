-- The convars the Lua side reads (server.cfg `set` lines), validated.
-- Pure: the convar getter comes in as an argument. The transport (JS) reads
-- sonoran_bridge_url and sonoran_bridge_server_id itself.

local Settings = {}

Settings.HEARTBEAT_MS = 30000

---@class BridgeSettings
---@field token_set boolean whether sonoran_bridge_token has a value
---@field interval_ms integer sampling period
---@field min_move number metres a subject must move before it is sent again
---@field heartbeat_ms integer a still subject is sent again after this long
---@field follow_primary boolean|nil follow a call's track primary unit; nil: when sonorancad runs
---@field follow_caller_seconds integer follow a new call's caller this long (0: off)

local NUMBERS = {
    { key = "interval_ms", convar = "sonoran_bridge_interval_ms", default = 1000, min = 100, max = 60000, integer = true },
    { key = "min_move", convar = "sonoran_bridge_min_move", default = 5, min = 0, max = 1000 },
    { key = "follow_caller_seconds", convar = "sonoran_bridge_follow_caller_seconds", default = 0,
      min = 0, max = 3600, integer = true },
}

local SWITCH = { ["1"] = true, ["true"] = true, on = true, yes = true,
    ["0"] = false, ["false"] = false, off = false, no = false }

---Read and validate the settings. A bad value falls back to its default and
---adds a warning that names the convar, what was expected and what came.
---@param get_convar fun(name: string, default: string): string
---@return BridgeSettings settings
---@return string[] warnings
function Settings.read(get_convar)
    local settings = { heartbeat_ms = Settings.HEARTBEAT_MS }
    local warnings = {}
    local token = get_convar("sonoran_bridge_token", "")
    settings.token_set = type(token) == "string" and token:match("%S") ~= nil
    for _, spec in ipairs(NUMBERS) do
        local raw = get_convar(spec.convar, "")
        local value = spec.default
        if raw ~= nil and raw ~= "" then
            local n = tonumber(raw)
            if spec.integer and n ~= nil then
                n = math.tointeger(n)
            end
            if n == nil or n ~= n or n < spec.min or n > spec.max then
                warnings[#warnings + 1] = string.format(
                    "%s: expected %s between %s and %s, got %q; using %s",
                    spec.convar, spec.integer and "an integer" or "a number",
                    spec.min, spec.max, tostring(raw), spec.default)
            else
                value = n
            end
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
