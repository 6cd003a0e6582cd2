-- The /trackcall and /untrackcall commands: their arguments read, the bridge's
-- track and untrack run, and the line to show the caller. Pure: server/main.lua
-- registers the commands and shows the reply.

local Subjects = require("shared.subjects")

local Commands = {}

---The suffix that tells a command's caller the daemon will only hear of it later.
---@param bridge table
---@return string
local function link_note(bridge)
    return bridge.linked and "" or " (daemon link is down: it is sent on reconnect)"
end

---Run /trackcall or /untrackcall; returns the line to show the caller.
---@param bridge table the Bridge
---@param name "trackcall"|"untrackcall"
---@param source integer 0 for the server console
---@param args string[]
---@return string reply
function Commands.run(bridge, name, source, args)
    args = type(args) == "table" and args or {}
    if name == "trackcall" then
        if args[1] == nil then
            return "usage: /trackcall <callId> [playerId]"
        end
        local subject = args[2]
        if subject == nil then
            if source == 0 then
                return "usage: trackcall <callId> <playerId> (the console must name a player)"
            end
            subject = source
        end
        local ok, result = bridge:track(args[1], subject)
        if not ok then
            return "not tracked: " .. result
        end
        return ("call %s now follows %s"):format(Subjects.call_id(args[1]), result) .. link_note(bridge)
    elseif name == "untrackcall" then
        if args[1] == nil then
            return "usage: /untrackcall <callId>"
        end
        local ok, reason = bridge:untrack(args[1])
        if not ok then
            return "not untracked: " .. reason
        end
        return ("call %s is no longer tracked"):format(Subjects.call_id(args[1])) .. link_note(bridge)
    end
    return "unknown command " .. tostring(name)
end

return Commands
