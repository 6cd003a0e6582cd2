-- The resource's module loader, run first: FXServer's server-side Lua has no
-- file access, so stock `require` cannot find the resource's own files. This
-- `require` resolves "shared.follow" to shared/follow.lua in this resource's
-- folder (LoadResourceFile), runs it once, and keeps what it returned. A
-- module that is missing, fails to load, or requires itself back (a cycle)
-- stops the start with an error that names it. Stock Lua 5.4 (the tests) runs
-- the same file with an emulated LoadResourceFile.

local RESOURCE = GetCurrentResourceName()
local env = _ENV

local loaded = {} -- module name -> what its file returned (true when nothing)
local loading = {} -- module names being loaded, outermost first

---@param name string
---@return string
local function chain(name)
    local names = {}
    for i, each in ipairs(loading) do
        names[i] = each
    end
    names[#names + 1] = name
    return table.concat(names, " -> ")
end

---Load a module of this resource by its dotted name, once.
---@param name string e.g. "shared.follow" for shared/follow.lua
---@return any module what the file returned
function require(name)
    if type(name) ~= "string" or not name:match("^[%w_.]+$") or name:find("..", 1, true)
        or name:sub(1, 1) == "." or name:sub(-1) == "." then
        error(("require: expected a module name like \"shared.follow\", got %s"):format(
            type(name) == "string" and string.format("%q", name) or type(name)), 2)
    end
    local module = loaded[name]
    if module ~= nil then
        return module
    end
    for _, each in ipairs(loading) do
        if each == name then
            error(("require: module %q requires itself (a cycle: %s)"):format(name, chain(name)), 2)
        end
    end
    local path = name:gsub("%.", "/") .. ".lua"
    local text = LoadResourceFile(RESOURCE, path)
    if type(text) ~= "string" then
        error(("require: module %q not found (no file %s in resource %s)"):format(name, path, RESOURCE), 2)
    end
    local chunk, syntax = load(text, "@@" .. RESOURCE .. "/" .. path, "t", env)
    if chunk == nil then
        error(("require: module %q does not load: %s"):format(name, syntax), 2)
    end
    loading[#loading + 1] = name
    local ok, result = pcall(chunk, name)
    table.remove(loading)
    if not ok then
        error(("require: module %q failed: %s"):format(name, tostring(result)), 2)
    end
    if result == nil then
        result = true
    end
    loaded[name] = result
    return result
end
