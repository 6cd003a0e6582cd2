-- The resource's logic: what to track, what to tell the daemon and when.
-- Pure: everything that touches the game comes in through `host`, so the tests
-- can drive it, and server/main.lua stays a thin layer of natives.

local Subjects = SonoranBridge.Subjects
local Tracking = SonoranBridge.Tracking
local Sampler = SonoranBridge.Sampler
local Messages = SonoranBridge.Messages
local CadCache = SonoranBridge.CadCache

local Bridge = {}
Bridge.__index = Bridge

-- Enough for any real server; keeps a meta-less sync well under 64 KiB.
Bridge.MAX_TRACKED = 500

---@class BridgeHost
---@field send fun(text: string) hands one JSON frame to the transport
---@field encode fun(value: table): string
---@field decode fun(text: string): any
---@field log fun(line: string)
---@field now fun(): number milliseconds
---@field check_subject fun(subject: Subject): boolean, string|nil whether it can be followed now
---@field locate fun(subjects: string[]): table<string, Reading> current readings; missing = not located
---@field call_cache fun(): table|nil the sonorancad call cache, nil when that resource is not running
---@field call_state fun(call_id: integer, state: string, detail: string|nil) fires the public event

---@param host BridgeHost
---@param settings BridgeSettings
---@return table bridge
function Bridge.new(host, settings)
    return setmetatable({
        host = host,
        tracker = Tracking.new(),
        sampler = Sampler.new({ min_move = settings.min_move, heartbeat_ms = settings.heartbeat_ms }),
        linked = false,
    }, Bridge)
end

---Encode and hand a message to the transport, if the link is up. While it is
---down nothing is queued: the `sync` after the reconnect carries the state.
---@param msg table
---@return boolean sent
function Bridge:send(msg)
    if not self.linked then
        return false
    end
    local ok, reason = Messages.check(msg)
    if not ok then
        self.host.log("not sent (" .. reason .. ")")
        return false
    end
    return self:send_text(self.host.encode(msg))
end

---@param text string
---@return boolean sent
function Bridge:send_text(text)
    if #text > Messages.MAX_FRAME_BYTES then
        self.host.log(("not sent: a %d-byte frame exceeds the daemon's 64 KiB limit"):format(#text))
        return false
    end
    self.host.send(text)
    return true
end

---Drop the sampler's memory of a subject no call follows any more.
---@param subject string
function Bridge:release(subject)
    if not self.tracker:follows(subject) then
        self.sampler:forget(subject)
    end
end

---Follow `subject_spec` with a call (see Subjects.parse for the accepted forms).
---@param call_id_spec any
---@param subject_spec any
---@param options_spec any
---@return boolean ok
---@return string subject_or_reason the wire subject, or why nothing was tracked
function Bridge:track(call_id_spec, subject_spec, options_spec)
    local call_id, reason = Subjects.call_id(call_id_spec)
    if call_id == nil then
        return false, reason
    end
    local subject
    subject, reason = Subjects.parse(subject_spec)
    if subject == nil then
        return false, reason
    end
    local options
    options, reason = Subjects.options(options_spec)
    if options == nil then
        return false, reason
    end
    if self.tracker:get(call_id) == nil and self.tracker:count() >= Bridge.MAX_TRACKED then
        return false, "already tracking " .. Bridge.MAX_TRACKED .. " calls, the most this resource follows"
    end
    local ok
    ok, reason = self.host.check_subject(subject)
    if not ok then
        return false, reason or ("cannot follow " .. subject.key)
    end
    local meta
    local entry = CadCache.find(self.host.call_cache(), call_id)
    if entry ~= nil then
        if CadCache.is_closed(entry) then
            return false, "call " .. call_id .. " is closed in the CAD"
        end
        meta = CadCache.meta(entry)
    end
    local call, previous = self.tracker:track(call_id, subject.key, options.radius, meta)
    if previous ~= nil and previous.subject ~= call.subject then
        self:release(previous.subject)
    end
    self:send(Messages.track(call))
    return true, subject.key
end

---Stop following a call.
---@param call_id_spec any
---@return boolean ok
---@return string|nil reason
function Bridge:untrack(call_id_spec)
    local call_id, reason = Subjects.call_id(call_id_spec)
    if call_id == nil then
        return false, reason
    end
    local removed = self.tracker:untrack(call_id)
    if removed == nil then
        return false, "call " .. call_id .. " is not tracked"
    end
    self:release(removed.subject)
    self:send(Messages.untrack(call_id))
    return true
end

---A copy of the tracked calls for other resources, ordered by call id.
---@return { callId: integer, subject: string, radius: number|nil }[]
function Bridge:tracked()
    local list = {}
    for i, call in ipairs(self.tracker:calls()) do
        list[i] = { callId = call.call_id, subject = call.subject, radius = call.radius }
    end
    return list
end

---The transport has a welcomed connection: send the full tracked set and
---every position afresh (the daemon may have restarted and know nothing).
function Bridge:on_link_up()
    self.linked = true
    self.sampler:reset()
    for _, text in ipairs(Messages.sync_frames(self.tracker:calls(), self.host.encode)) do
        self:send_text(text)
    end
end

function Bridge:on_link_down()
    self.linked = false
end

---A frame from the daemon, as text (only `call_state` is expected here).
---@param text any
function Bridge:on_daemon_message(text)
    local msg, reason = Messages.parse_daemon(text, self.host.decode)
    if msg == nil then
        self.host.log("ignored a daemon message: " .. reason)
        return
    end
    if msg.state == "gone" then
        -- The call no longer exists in the CAD: following it is pointless, and
        -- the next sync must not bring it back.
        local removed = self.tracker:untrack(msg.call_id)
        if removed ~= nil then
            self:release(removed.subject)
            self.host.log(("call %d is gone from the CAD; no longer tracked"):format(msg.call_id))
        end
    end
    self.host.call_state(msg.call_id, msg.state, msg.detail)
end

---Compare a tracked call with its sonorancad cache entry and tell the daemon
---what changed: `call_closed` when it closed, `call_meta` when its metaData did.
---@param call_id integer
---@param entry table
function Bridge:refresh_call(call_id, entry)
    local call = self.tracker:get(call_id)
    if call == nil then
        return
    end
    if CadCache.is_closed(entry) then
        self.tracker:untrack(call_id)
        self:release(call.subject)
        self:send(Messages.call_closed(call_id))
        self.host.log(("call %d was closed in the CAD; no longer tracked"):format(call_id))
        return
    end
    local meta = CadCache.meta(entry)
    if meta ~= nil and not CadCache.same_meta(meta, call.meta) then
        -- Recorded even while the link is down: the next sync carries it.
        self.tracker:set_meta(call_id, meta)
        self:send(Messages.call_meta(call_id, meta))
    end
end

---A sonorancad cache entry from one of its push events.
---@param entry any
function Bridge:on_cad_entry(entry)
    local call_id = CadCache.call_id(entry)
    if call_id ~= nil then
        self:refresh_call(call_id, entry)
    end
end

---sonorancad wrote its cache: re-read the entries of the tracked calls.
function Bridge:on_cad_cache()
    local cache = self.host.call_cache()
    if cache == nil then
        return
    end
    for _, call in ipairs(self.tracker:calls()) do
        local entry = CadCache.find(cache, call.call_id)
        if entry ~= nil then
            self:refresh_call(call.call_id, entry)
        end
    end
end

---One sampling period: read the followed subjects, send what moved or is due.
---@return integer sent number of position items sent
function Bridge:tick()
    if not self.linked then
        return 0
    end
    local subjects = self.tracker:subjects()
    if #subjects == 0 then
        return 0
    end
    local readings = self.host.locate(subjects)
    local items = self.sampler:pick(self.host.now(), subjects, readings)
    local frames, dropped = Messages.position_frames(items, self.host.encode)
    for _, reason in ipairs(dropped) do
        self.host.log("position not sent (" .. reason .. ")")
    end
    for _, text in ipairs(frames) do
        self:send_text(text)
    end
    return #items - #dropped
end

---The suffix that tells a command's caller the daemon will only hear of it later.
---@return string
function Bridge:link_note()
    return self.linked and "" or " (daemon link is down: it is sent on reconnect)"
end

---Run /trackcall or /untrackcall; returns the line to show the caller.
---@param name "trackcall"|"untrackcall"
---@param source integer 0 for the server console
---@param args string[]
---@return string reply
function Bridge:command(name, source, args)
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
        local ok, result = self:track(args[1], subject)
        if not ok then
            return "not tracked: " .. result
        end
        return ("call %s now follows %s"):format(Subjects.call_id(args[1]), result) .. self:link_note()
    elseif name == "untrackcall" then
        if args[1] == nil then
            return "usage: /untrackcall <callId>"
        end
        local ok, reason = self:untrack(args[1])
        if not ok then
            return "not untracked: " .. reason
        end
        return ("call %s is no longer tracked"):format(Subjects.call_id(args[1])) .. self:link_note()
    end
    return "unknown command " .. tostring(name)
end

SonoranBridge.Bridge = Bridge
return Bridge
