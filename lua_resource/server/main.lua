-- The one file that touches natives: convars, positions, commands, exports and
-- events, all handed to the pure logic in shared/bridge.lua (and to
-- shared/sonorancad.lua for sonorancad's events). Its modules come through the
-- resource's `require` (server/require.lua, run before this file). The websocket is
-- owned by server/transport.js; this side talks to it through local events
-- prefixed with the resource name.

local RESOURCE = GetCurrentResourceName()
local Settings = require("shared.settings")
local Bridge = require("shared.bridge")
local Commands = require("shared.commands")
local Units = require("shared.units")
local Saved = require("shared.saved")
local PushEvents = require("shared.pushevents")
local Sonorancad = require("shared.sonorancad")
local Subjects = require("shared.subjects")

local function log(line)
    print(("[%s] %s"):format(RESOURCE, line))
end

-- Every convar is read here, once (shared/settings.lua); the transport gets its share.
local settings, warnings = Settings.read(GetConvar)
for _, warning in ipairs(warnings) do
    log(warning)
end
TriggerEvent(RESOURCE .. ":transportSettings", settings.transport)

local function cad_running()
    return GetResourceState("sonorancad") == "started"
end

---Call an export of sonorancad; nil when it is not running or the call fails.
local function sonorancad(name, ...)
    if not cad_running() then
        return nil
    end
    local args = table.pack(...)
    local ok, result = pcall(function()
        local proxy = exports.sonorancad
        return proxy[name](proxy, table.unpack(args, 1, args.n)) -- proxy:name(...)
    end)
    if ok then
        return result
    end
    return nil
end

local function is_connected_player(id)
    local wanted = tostring(id)
    for _, player in ipairs(GetPlayers()) do
        if tostring(player) == wanted then
            return true
        end
    end
    return false
end

-- Unit identId -> player id, as sonorancad announced it (SonoranCAD::core:AddPlayer,
-- at each unit login and unit poll): it resolved those players itself.
local announced = {}
-- Unit identIds whose logout sonorancad announced (UnitLogout), until they log in
-- again: it keeps them in its unit cache until its next unit poll.
local logged_out = {}

local function ident_of(value)
    local id = type(value) == "table" and value.id or value
    id = math.tointeger(tonumber(id) or 0)
    if id ~= nil and id > 0 then
        return id
    end
    return nil
end

---The connected players with their identifiers, prefix stripped.
local function unit_candidates()
    local players = {}
    for _, player in ipairs(GetPlayers()) do
        players[#players + 1] = { id = tostring(player), ids = Units.stripped(GetPlayerIdentifiers(player)) }
    end
    return players
end

---Unit identId -> player server id, for the units of sonorancad's unit cache in
---game. Read locally: never through exports that may spend an API request.
local function unit_players()
    local cache = sonorancad("GetUnitCache")
    if type(cache) ~= "table" then
        return {}
    end
    return Units.players(cache, unit_candidates(), announced, logged_out)
end

local function unit_in_cache(unit_id)
    return Units.find(sonorancad("GetUnitCache"), unit_id) ~= nil
end

---What a subject is now, to tell after a restart whether its id still means
---the same: a player's license (or first identifier), an entity's model.
local function identify(subject)
    local parsed = Subjects.parse(subject)
    local kind, id = parsed and parsed.kind, parsed and parsed.id
    if kind == "player" then
        if not is_connected_player(id) then
            return nil
        end
        local license = GetPlayerIdentifierByType(tostring(id), "license")
        if license ~= nil and license ~= "" then
            return license
        end
        local ids = GetPlayerIdentifiers(tostring(id))
        return type(ids) == "table" and ids[1] or nil
    elseif kind == "entity" then
        local handle = NetworkGetEntityFromNetworkId(id)
        if handle == 0 or not DoesEntityExist(handle) then
            return nil
        end
        return "model:" .. tostring(GetEntityModel(handle))
    end
    return nil
end

---@param subject Subject
local function check_subject(subject)
    if subject.kind == "player" then
        if not is_connected_player(subject.id) then
            return false, "no player with server id " .. subject.id
        end
    elseif subject.kind == "entity" then
        local handle = NetworkGetEntityFromNetworkId(subject.id)
        if handle == 0 or not DoesEntityExist(handle) then
            return false, "no networked entity with net id " .. subject.id
        end
    elseif subject.kind == "unit" then
        if not cad_running() then
            return false, "unit subjects need the sonorancad resource, which is not started"
        end
        if not unit_in_cache(subject.id) then
            return false, "no unit " .. subject.id .. " in sonorancad's unit cache"
        end
    end
    return true
end

---Where an entity is; nil when it has no usable handle. Natives throw on a
---non-zero invalid handle, so existence is checked first and the caller pcalls.
local function read_entity(handle)
    if handle == nil or handle == 0 or not DoesEntityExist(handle) then
        return nil
    end
    local coords = GetEntityCoords(handle)
    local velocity = GetEntityVelocity(handle)
    return {
        x = coords.x,
        y = coords.y,
        z = coords.z,
        heading = GetEntityHeading(handle),
        speed = math.sqrt(velocity.x * velocity.x + velocity.y * velocity.y + velocity.z * velocity.z),
        vx = velocity.x, -- over the ground, what the sampler and the daemon predict by
        vy = velocity.y,
    }
end

local function locate(subjects)
    local readings, units = {}, nil
    for _, subject in ipairs(subjects) do
        local parsed = Subjects.parse(subject)
        local kind, id = parsed and parsed.kind, parsed and parsed.id
        local handle
        if kind == "player" then
            handle = GetPlayerPed(id)
        elseif kind == "entity" then
            handle = NetworkGetEntityFromNetworkId(id)
        elseif kind == "unit" then
            units = units or unit_players() -- resolved once per period, only when needed
            local player = units[id]
            handle = player and GetPlayerPed(player) or nil
        end
        local ok, reading = pcall(read_entity, handle)
        if ok then
            readings[subject] = reading
        end
    end
    return readings
end

local function call_cache()
    local cache = sonorancad("GetCallCache")
    return type(cache) == "table" and cache or nil
end

---Where the nearest-postal resource keeps its postal file, when it runs: its
---`postal_file` manifest entry under its folder (an absolute path here).
local function postal_file()
    for _, name in ipairs({ "nearest-postal", "nearest_postal" }) do
        if GetResourceState(name) == "started" then
            local file = GetResourceMetadata(name, "postal_file", 0)
            local folder = GetResourcePath(name)
            if type(file) == "string" and file ~= "" and type(folder) == "string" and folder ~= "" then
                return folder .. "/" .. file
            end
        end
    end
    return nil
end

local bridge = Bridge.new({
    send = function(text) TriggerEvent(RESOURCE .. ":send", text) end,
    encode = json.encode,
    decode = json.decode,
    log = log,
    now = GetGameTimer,
    check_subject = check_subject,
    locate = locate,
    call_cache = call_cache,
    call_state = function(call_id, state, detail, kind)
        if kind == "emergency" then -- a 4th argument for 911 calls only: absent = a dispatch call
            TriggerEvent(RESOURCE .. ":callState", call_id, state, detail, kind)
        else
            TriggerEvent(RESOURCE .. ":callState", call_id, state, detail)
        end
    end,
    identify = identify,
    save = function(text) SetResourceKvp(Saved.KEY, text) end,
    unit_players = unit_players,
    cad_postals = function() return sonorancad("isPluginLoaded", "postals") == true end,
    postal_file = postal_file,
}, settings)

-- A restart of this resource (or of FXServer) resumes what was tracked.
bridge:restore(GetResourceKvpString(Saved.KEY))

-- Exports: bad arguments (and any surprise) come back as false plus a reason,
-- never as an error thrown into the calling resource.
local function guarded(name, fn)
    return function(...)
        local result = table.pack(pcall(fn, ...))
        if not result[1] then
            log(name .. " failed: " .. tostring(result[2]))
            return false, "internal error in " .. RESOURCE .. ": " .. tostring(result[2])
        end
        return table.unpack(result, 2, result.n)
    end
end

exports("TrackCall", guarded("TrackCall", function(callId, subject, opts)
    return bridge:track(callId, subject, opts)
end))
exports("UntrackCall", guarded("UntrackCall", function(callId)
    return bridge:untrack(callId)
end))
exports("GetTrackedCalls", guarded("GetTrackedCalls", function()
    return bridge:tracked()
end))
exports("IsConnected", guarded("IsConnected", function()
    return bridge.linked
end))

local function reply(source, text)
    if source == 0 then
        log(text)
    else
        TriggerClientEvent("chat:addMessage", source, { color = { 255, 200, 0 }, args = { RESOURCE, text } })
    end
end

for _, name in ipairs({ "trackcall", "untrackcall" }) do
    -- restricted: only principals with the ace command.<name> may run it
    RegisterCommand(name, function(source, args)
        local ok, text = pcall(Commands.run, bridge, name, tonumber(source) or 0, args)
        reply(tonumber(source) or 0, ok and text or ("error: " .. tostring(text)))
    end, true)
end

-- From server/transport.js.
AddEventHandler(RESOURCE .. ":linkUp", function() bridge:on_link_up() end)
AddEventHandler(RESOURCE .. ":linkDown", function() bridge:on_link_down() end)
AddEventHandler(RESOURCE .. ":daemonMessage", function(text) bridge:on_daemon_message(text) end)

-- From sonorancad, when it runs. A dropped player's explicit tracks are
-- deliberately kept: its calls stay where the player was last seen.
AddEventHandler("SonoranCAD::pushevents:DispatchEvent", function(entry)
    Sonorancad.on_cad_entry(bridge, entry)
end)
AddEventHandler("SonoranCAD::pushevents:IncomingCadCall", function(call)
    Sonorancad.on_emergency_call(bridge, call)
end)
AddEventHandler("SonoranCAD::pushevents:CadCallRemoved", function(call_id)
    Sonorancad.on_cad_removed(bridge, call_id)
end)
AddEventHandler("SonoranCAD::dispatchnotify:CallEdit:Tracking", function(call_id, on, primary)
    Sonorancad.on_cad_tracking(bridge, call_id, on, primary)
end)
AddEventHandler("SonoranCAD::core:AddPlayer", function(player, unit)
    local ident_id = ident_of(unit)
    if ident_id ~= nil then
        announced[ident_id] = tostring(player)
        logged_out[ident_id] = nil -- listed by a login or a unit poll: logged in
    end
    Sonorancad.on_units_changed(bridge)
end)
-- RemovePlayer(k, unit): from sonorancad's unit poll `k` is an index into its unit
-- cache, not a player, so only the unit is trusted.
AddEventHandler("SonoranCAD::core:RemovePlayer", function(_, unit)
    local ident_id = ident_of(unit)
    if ident_id ~= nil then
        announced[ident_id] = nil
    end
    Sonorancad.on_units_changed(bridge)
end)
AddEventHandler("playerDropped", function()
    for ident_id, id in pairs(announced) do
        if id == tostring(source) then
            announced[ident_id] = nil
        end
    end
    Sonorancad.on_units_changed(bridge)
end)
AddEventHandler("SonoranCAD::pushevents:UnitLogin", function(unit)
    local ident_id = ident_of(unit)
    if ident_id ~= nil then
        logged_out[ident_id] = nil
    end
    Sonorancad.on_units_changed(bridge)
end)
AddEventHandler("SonoranCAD::pushevents:UnitLogout", function(ident)
    local ident_id = ident_of(ident)
    if ident_id ~= nil then
        logged_out[ident_id] = true
    end
    Sonorancad.on_units_changed(bridge)
end)
AddEventHandler("playerJoining", function() Sonorancad.on_units_changed(bridge) end)
-- No handler of DispatchEdit: it fires before sonorancad caches the edit, and its
-- DispatchEvent, fired right after, carries the same call. (dispatchnotify's
-- CallEdit:Tracking, fired inside it, is read with what it announces.)
AddEventHandler("SonoranCAD::pushevents:shim", function(chunk)
    Sonorancad.on_cad_push(bridge, PushEvents.read(chunk, json.decode))
end)
AddEventHandler("SonoranCAD::pushevents:CallCacheUpdated", function()
    Sonorancad.on_cad_cache(bridge)
end)

if not settings.token_set then
    return -- the transport says so in the console and stays idle; so does sampling
end

log(("sampling every %d ms, sending after %s m of movement"):format(settings.interval_ms, settings.min_move))
CreateThread(function()
    while true do
        Wait(settings.interval_ms)
        local ok, err = pcall(Sonorancad.tick, bridge)
        if not ok then
            log("sampling failed: " .. tostring(err))
        end
    end
end)
