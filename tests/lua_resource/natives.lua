-- Stand-ins for the FXServer natives and globals the resource uses, for stock
-- Lua 5.4 under lupa. The state lives in FAKE, which the Python side edits.
-- `json` and the list of natives called are installed from Python.

FAKE = {
    time = 0, -- GetGameTimer(), milliseconds
    resource = "sonoran_bridge",
    convars = {},
    players = {}, -- server id (integer) -> ped handle (0 = no ped yet)
    entities = {}, -- handle -> { x, y, z, heading, vx, vy, vz }
    netids = {}, -- net id -> handle
    resources = {}, -- name -> state ("started", ...)
    exports = {}, -- resource name -> { name -> function }
    commands = {}, -- name -> { fn, restricted }
    handlers = {}, -- event name -> { fn, ... }
    triggered = {}, -- { name, args } of TriggerEvent calls
    client_events = {}, -- { name, target, args }
    prints = {},
    threads = {}, -- { co, wake }
    errors = {}, -- errors raised inside threads and event handlers
    kvp = {}, -- resource KVP: key -> string (survives a restart when the test carries it over)
    identifiers = {}, -- player id (integer) -> { "license:...", ... }
}

local function record_error(where, err)
    FAKE.errors[#FAKE.errors + 1] = where .. ": " .. tostring(err)
end

function print(...)
    local parts = table.pack(...)
    for i = 1, parts.n do
        parts[i] = tostring(parts[i])
    end
    FAKE.prints[#FAKE.prints + 1] = table.concat(parts, " ", 1, parts.n)
end

function GetCurrentResourceName()
    return FAKE.resource
end

function GetGameTimer()
    return FAKE.time
end

function GetConvar(name, default)
    local value = FAKE.convars[name]
    if value == nil then
        return default
    end
    return tostring(value)
end

function GetConvarInt(name, default)
    return math.tointeger(tonumber(FAKE.convars[name])) or default
end

function GetConvarFloat(name, default)
    return tonumber(FAKE.convars[name]) or default
end

FAKE.metadata = {} -- resource name -> { key -> value } (fxmanifest entries)
FAKE.paths = {} -- resource name -> folder

function GetResourceMetadata(name, key, index)
    local entries = FAKE.metadata[name]
    return entries and entries[key] or nil
end

function GetResourcePath(name)
    return FAKE.paths[name]
end

function GetResourceState(name)
    return FAKE.resources[name] or "missing"
end

function vector3(x, y, z)
    return { x = x, y = y, z = z }
end

function GetPlayers()
    local ids = {}
    for id in pairs(FAKE.players) do
        ids[#ids + 1] = id
    end
    table.sort(ids)
    for i, id in ipairs(ids) do
        ids[i] = tostring(id) -- FXServer returns the ids as strings
    end
    return ids
end

function GetPlayerPed(id)
    return FAKE.players[math.tointeger(tonumber(id))] or 0
end

function DoesEntityExist(handle)
    return FAKE.entities[handle] ~= nil
end

local NO_ENTITY = { x = 0.0, y = 0.0, z = 0.0, heading = 0.0 }

local function entity(handle, native)
    if handle == 0 then
        -- the pessimistic reading: handle 0 does not throw, it reads as the origin
        return NO_ENTITY
    end
    local e = FAKE.entities[handle]
    if e == nil then
        -- like FXServer: a non-zero handle that is not an entity throws
        error(native .. ": no entity with handle " .. tostring(handle))
    end
    return e
end

function GetEntityCoords(handle)
    local e = entity(handle, "GetEntityCoords")
    return vector3(e.x, e.y, e.z)
end

function GetEntityHeading(handle)
    return entity(handle, "GetEntityHeading").heading or 0.0
end

function GetEntityVelocity(handle)
    local e = entity(handle, "GetEntityVelocity")
    return vector3(e.vx or 0.0, e.vy or 0.0, e.vz or 0.0)
end

function GetEntityModel(handle)
    return entity(handle, "GetEntityModel").model or 0
end

function GetPlayerIdentifiers(id)
    local list = FAKE.identifiers[math.tointeger(tonumber(id))] or {}
    local copy = {}
    for i, v in ipairs(list) do
        copy[i] = v
    end
    return copy
end

function GetPlayerIdentifierByType(id, kind)
    for _, v in ipairs(GetPlayerIdentifiers(id)) do
        if v:sub(1, #kind + 1) == kind .. ":" then
            return v
        end
    end
    return nil
end

function SetResourceKvp(key, value)
    assert(type(key) == "string" and type(value) == "string", "SetResourceKvp(string, string)")
    FAKE.kvp[key] = value
end

function GetResourceKvpString(key)
    return FAKE.kvp[key]
end

function NetworkGetEntityFromNetworkId(netid)
    return FAKE.netids[netid] or 0
end

function RegisterCommand(name, fn, restricted)
    FAKE.commands[name] = { fn = fn, restricted = restricted }
end

function AddEventHandler(name, fn)
    local list = FAKE.handlers[name] or {}
    list[#list + 1] = fn
    FAKE.handlers[name] = list
    return { name = name, fn = fn }
end

---Run this resource's handlers of an event (FXServer sets `source` meanwhile).
---Each handler runs as a thread of its own (it may Wait or Await, as in FXServer).
function FAKE.deliver(name, from, ...)
    local outer = source
    source = from
    for _, fn in ipairs(FAKE.handlers[name] or {}) do
        FAKE.run_now("event " .. name, fn, ...)
    end
    source = outer
end

---Run `fn` now as a thread of its own; what is left after its first Wait/Await
---runs later, as FXServer runs event handlers and HTTP callbacks.
function FAKE.run_now(where, fn, ...)
    local co = coroutine.create(fn)
    local ok, wait, awaited = coroutine.resume(co, ...)
    if not ok then
        record_error(where, FAKE.traceback and debug.traceback(co, tostring(wait)) or wait)
    elseif coroutine.status(co) == "suspended" then
        FAKE.threads[#FAKE.threads + 1] = { co = co, wake = FAKE.time + (type(wait) == "number" and wait or 0),
            awaiting = type(wait) ~= "number" and wait ~= nil and awaited or nil }
    end
end

function TriggerEvent(name, ...)
    FAKE.triggered[#FAKE.triggered + 1] = { name = name, args = table.pack(...) }
    if FAKE.world ~= nil then
        -- several resources: the world copies the arguments (msgpack) to every resource's handlers
        FAKE.world.emit(name, source, table.pack(...))
        return
    end
    for _, fn in ipairs(FAKE.handlers[name] or {}) do
        local ok, err = pcall(fn, ...)
        if not ok then
            record_error("event " .. name, err)
        end
    end
end

function TriggerClientEvent(name, target, ...)
    FAKE.client_events[#FAKE.client_events + 1] = { name = name, target = target, args = table.pack(...) }
end

function CreateThread(fn)
    local co = coroutine.create(fn)
    FAKE.threads[#FAKE.threads + 1] = { co = co, wake = FAKE.time }
end

function Wait(ms)
    coroutine.yield(ms or 0)
end

---A FiveM promise (its deferred.lua, as far as resources use it): resolve/reject
---once, `next` callbacks, and `Citizen.Await` suspending the calling thread.
promise = {}
promise.__index = promise

function promise.new()
    return setmetatable({ state = "pending", callbacks = {} }, promise)
end

local function settle(p, state, value)
    if p.state ~= "pending" then
        return
    end
    p.state, p.value = state, value
    for _, cb in ipairs(p.callbacks) do
        local ok, err = pcall(cb[state == "resolved" and 1 or 2], value)
        if not ok then
            record_error("promise callback", err)
        end
    end
end

function promise:resolve(value) settle(self, "resolved", value) end
function promise:reject(value) settle(self, "rejected", value) end

function promise:next(on_resolved, on_rejected)
    local cb = { on_resolved or function() end, on_rejected or function() end }
    if self.state == "pending" then
        self.callbacks[#self.callbacks + 1] = cb
    else
        settle({ state = "pending", callbacks = { cb } }, self.state, self.value)
    end
end

local AWAIT = {}

Citizen = {
    CreateThread = function(fn) CreateThread(fn) end,
    Wait = function(ms) Wait(ms) end,
    Await = function(p)
        if p.state == "pending" then
            assert(coroutine.isyieldable(), "Citizen.Await outside a thread")
            coroutine.yield(AWAIT, p)
        end
        if p.state == "rejected" then
            error(p.value, 2)
        end
        return p.value
    end,
    SetTimeout = function(ms, fn) SetTimeout(ms, fn) end,
    Trace = function(text) print(text) end,
}

function SetTimeout(ms, fn)
    CreateThread(function()
        Wait(ms)
        fn()
    end)
end

---The first time a thread wants to run again (nil when none will).
function FAKE.next_wake()
    local wake
    for _, t in ipairs(FAKE.threads) do
        local ready = t.awaiting == nil or t.awaiting.state ~= "pending"
        if coroutine.status(t.co) == "suspended" and ready and (wake == nil or t.wake < wake) then
            wake = t.wake
        end
    end
    return wake
end

---Advance the clock to `until_ms`, resuming every thread whose Wait is over,
---in wake order (a thread awaiting a promise waits for it to settle).
function FAKE.run_until(until_ms)
    while true do
        local next_thread
        for _, t in ipairs(FAKE.threads) do
            local ready = t.awaiting == nil or t.awaiting.state ~= "pending"
            if coroutine.status(t.co) == "suspended" and ready and t.wake <= until_ms
                and (next_thread == nil or t.wake < next_thread.wake) then
                next_thread = t
            end
        end
        if next_thread == nil then
            break
        end
        if next_thread.wake > FAKE.time then
            FAKE.time = next_thread.wake
        end
        next_thread.awaiting = nil
        local ok, wait, awaited = coroutine.resume(next_thread.co)
        if not ok then
            record_error("thread", FAKE.traceback and debug.traceback(next_thread.co, tostring(wait)) or wait)
        elseif coroutine.status(next_thread.co) == "suspended" then
            if wait == AWAIT then
                next_thread.awaiting = awaited
                next_thread.wake = FAKE.time
            else
                next_thread.wake = FAKE.time + (wait or 0)
            end
        end
    end
    -- finished threads are dropped (they are many: every SetTimeout and push event)
    local alive = {}
    for _, t in ipairs(FAKE.threads) do
        if coroutine.status(t.co) ~= "dead" then
            alive[#alive + 1] = t
        end
    end
    FAKE.threads = alive
    FAKE.time = math.max(FAKE.time, until_ms)
end

---PerformHttpRequest(url, cb, method, body, headers): queued for the world, which
---answers it over a real socket and calls `cb(status, body, headers)` later.
FAKE.http = { pending = {}, callbacks = {}, next_id = 0 }

function PerformHttpRequest(url, cb, method, body, headers)
    FAKE.http.next_id = FAKE.http.next_id + 1
    local id = FAKE.http.next_id
    local names = {}
    for name, value in pairs(headers or {}) do
        names[#names + 1] = { tostring(name), tostring(value) }
    end
    FAKE.http.pending[#FAKE.http.pending + 1] = {
        id = id, url = url, method = method or "GET", body = body or "", headers = names,
    }
    FAKE.http.callbacks[id] = cb
end

---Hand the queued requests to the world (a list of plain tables).
function FAKE.take_http()
    local pending = FAKE.http.pending
    FAKE.http.pending = {}
    return pending
end

---An answer arrives: the callback runs on the main thread, as FXServer runs it.
function FAKE.http_done(id, status, body, headers_json)
    local cb = FAKE.http.callbacks[id]
    FAKE.http.callbacks[id] = nil
    if cb ~= nil then
        FAKE.run_now("http callback", cb, status, body, json.decode(headers_json))
    end
end

-- exports(name, fn) declares one of this resource's exports;
-- exports.other:Fn(...) / exports["other"]:Fn(...) calls another resource's.
exports = setmetatable({}, {
    __call = function(_, name, fn)
        local own = FAKE.exports[FAKE.resource] or {}
        own[name] = fn
        FAKE.exports[FAKE.resource] = own
    end,
    __index = function(_, resource)
        return setmetatable({}, {
            __index = function(_, name)
                return function(_self, ...)
                    local list = FAKE.exports[resource]
                    local fn = list and list[name]
                    if fn == nil and FAKE.world ~= nil and resource ~= FAKE.resource then
                        -- another resource: arguments and results copied (msgpack)
                        return FAKE.world.call(resource, name, ...)
                    end
                    if fn == nil or (resource ~= FAKE.resource and FAKE.resources[resource] ~= "started") then
                        error(("No such export %s in resource %s"):format(name, resource))
                    end
                    return fn(...)
                end
            end,
        })
    end,
})

-- The official sonorancad resource, as far as this resource uses it: its call
-- cache, unit cache and emergency cache, shaped as its v4 source keeps them.
-- Started by the tests that need it. Its lookups that may spend an API request
-- (GetUnitByPlayerId, getPlayerCommunityUserId) count their calls: the resource
-- must never make any.
FAKE.cad = {
    calls = {}, -- the call cache: call id -> { dispatch_type, dispatch }
    units = {}, -- the unit cache: a list of unit objects { id, data = {...} }
    emergency = {}, -- the emergency (911) cache: call id -> call object
    plugins = {}, -- plugin name -> true (isPluginLoaded)
    spending_lookups = 0,
}
FAKE.exports.sonorancad = {
    GetCallCache = function()
        return FAKE.cad.calls
    end,
    GetUnitCache = function()
        return FAKE.cad.units
    end,
    GetEmergencyCache = function()
        return FAKE.cad.emergency
    end,
    isPluginLoaded = function(name)
        return FAKE.cad.plugins[name] == true
    end,
    GetUnitByPlayerId = function()
        FAKE.cad.spending_lookups = FAKE.cad.spending_lookups + 1
        return nil
    end,
    getPlayerCommunityUserId = function()
        FAKE.cad.spending_lookups = FAKE.cad.spending_lookups + 1
        return nil
    end,
}
