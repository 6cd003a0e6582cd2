-- The resource's logic: what to track, what to tell the daemon and when.
-- Pure: everything that touches the game comes in through `host`, so the tests
-- can drive it, and server/main.lua stays a thin layer of natives.

local Subjects = require("shared.subjects")
local Tracking = require("shared.tracking")
local Sampler = require("shared.sampler")
local Messages = require("shared.messages")
local CadCache = require("shared.cadcache")
local Saved = require("shared.saved")
local Follow = require("shared.follow")

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
---@field call_state fun(call_id: integer, state: string, detail: string|nil, kind: CallKind) fires the public event
---@field identify fun(subject: string): string|nil what the subject is now (player identifier, entity model)
---@field save fun(text: string) keeps the tracked calls (resource KVP)
---@field unit_players fun(): table<integer, string> unit identId -> player id, for units in game
---@field cad_postals fun(): boolean whether sonorancad's postals plugin is loaded
---@field postal_file (fun(): string|nil)|nil where a running nearest-postal keeps its postal file

---@param host BridgeHost
---@param settings BridgeSettings
---@return table bridge
function Bridge.new(host, settings)
    local bridge = setmetatable({
        host = host,
        settings = settings,
        tracker = Tracking.new(),
        sampler = Sampler.new({ min_move = settings.min_move, heartbeat_ms = settings.heartbeat_ms }),
        linked = false,
        next_reconcile = 0,
    }, Bridge)
    bridge.follow_rules = Follow.new(settings)
    return bridge
end

---Keep the tracked calls in resource KVP, so a restart resumes them.
function Bridge:save()
    self.host.save(Saved.encode(self.tracker:calls(), self.follow_rules.held, self.host.encode))
end

---Resume the calls a previous run kept (see shared/saved.lua for what
---survives what). Their metaData is read afresh from sonorancad's cache.
---@param text string|nil what the KVP holds
function Bridge:restore(text)
    local state, problems = Saved.decode(text, self.host.decode)
    for _, problem in ipairs(problems) do
        self.host.log(problem)
    end
    local cache, now, resumed = self.host.call_cache(), self.host.now(), 0
    for _, saved in ipairs(state.tracks) do
        local ok, why = Saved.still_valid(saved, self.host.identify)
        -- sonorancad's call cache holds dispatch calls only
        local entry = saved.kind ~= "emergency" and CadCache.find(cache, saved.call_id) or nil
        if ok and entry ~= nil and CadCache.is_closed(entry) then
            ok, why = false, "the call is closed in the CAD"
        elseif ok and saved.until_ms ~= nil and saved.until_ms <= now then
            ok, why = false, "its caller follow has ended"
        elseif ok and saved.origin == "primary" and self.settings.follow_primary == false then
            ok, why = false, "sonoran_bridge_follow_primary is off"
        end
        if ok and self.tracker:count() < Bridge.MAX_TRACKED then
            local meta = entry ~= nil and CadCache.meta(entry) or nil
            self.tracker:track(saved.call_id, saved.subject, saved.radius, meta, saved)
            local subject = Subjects.parse(saved.subject)
            if saved.cad_postal and subject ~= nil and subject.kind == "unit" and saved.kind ~= "emergency" then
                self.follow_rules:on_cad_tracking(saved.call_id, true, subject.id)
            end
            resumed = resumed + 1
        else
            self.host.log(("not resumed: call %d (%s): %s"):format(saved.call_id, saved.subject,
                why or ("already tracking " .. Bridge.MAX_TRACKED .. " calls")))
        end
    end
    for _, held in ipairs(state.held) do
        self.follow_rules.held[held.call_id] = held.mark
    end
    if resumed > 0 then
        self.host.log(("resumed %d tracked call%s from before the restart"):format(
            resumed, resumed == 1 and "" or "s"))
    end
    self:save()
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

---Send `track` for a call; with its meta when that fits in a frame, else
---without (the daemon then reads the call's metaData from the CAD itself).
---@param call TrackedCall
---@return boolean sent
function Bridge:send_track(call)
    local msg = Messages.track(call)
    if self.linked and msg.meta ~= nil and Messages.check(msg) == true
        and #self.host.encode(msg) > Messages.FRAME_BUDGET then
        self.host.log(("call %d: its metaData does not fit in one frame; tracked without it "
            .. "(the daemon reads it from the CAD)"):format(call.call_id))
        msg.meta = nil
    end
    return self:send(msg)
end

---Drop the sampler's memory of a subject no call follows any more.
---@param subject string
function Bridge:release(subject)
    if not self.tracker:follows(subject) then
        self.sampler:forget(subject)
    end
end

---Stop following a call here (the daemon is not told: the caller says what to tell it);
---returns the call that was tracked, or nil.
---@param call_id integer
---@param kind CallKind|nil dispatch when nil
---@return table|nil
function Bridge:forget(call_id, kind)
    local removed = self.tracker:untrack(call_id, kind)
    if removed ~= nil then
        self:release(removed.subject)
    end
    return removed
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
    self.follow_rules:take_over(call_id)
    local call, previous = self.tracker:track(call_id, subject.key, options.radius, meta,
        { origin = "manual", who = self.host.identify(subject.key) })
    if previous ~= nil and previous.subject ~= call.subject then
        self:release(previous.subject)
    end
    self:send_track(call)
    self:save()
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
    if self:forget(call_id) == nil then
        return false, "call " .. call_id .. " is not tracked"
    end
    self:send(Messages.untrack(call_id))
    -- Respected until a dispatcher changes the call's tracking: no rule re-follows it before.
    self.follow_rules:hold(call_id, CadCache.find(self.host.call_cache(), call_id))
    self:save()
    return true
end

---Follow a call by one of the CAD's rules (track primary, caller).
---@param call_id integer
---@param subject string wire subject
---@param extra TrackExtra (its `kind` says which call: dispatch when absent)
---@param meta table<string, any>|nil
function Bridge:follow(call_id, subject, extra, meta)
    if self.tracker:get(call_id, extra.kind) == nil and self.tracker:count() >= Bridge.MAX_TRACKED then
        self.host.log(("call %d not followed: already tracking %d calls, the most this resource "
            .. "follows"):format(call_id, Bridge.MAX_TRACKED))
        return
    end
    local call, previous = self.tracker:track(call_id, subject, nil, meta, extra)
    if previous ~= nil and previous.subject ~= call.subject then
        self:release(previous.subject)
    end
    self:send_track(call)
    self:save()
end

---Stop a rule's follow; the pin stays where it was last put.
---@param call_id integer
---@param why string
---@param kind CallKind|nil dispatch when nil
function Bridge:stop(call_id, why, kind)
    if self:forget(call_id, kind) == nil then
        return
    end
    self:send(Messages.untrack(call_id, kind))
    self:save()
    self:say(call_id, "stopped", why .. "; the call stays where it was last put", kind)
end

---What Follow reads: the tracked calls and the host's queries.
---@return FollowView
function Bridge:follow_view()
    return { tracker = self.tracker, host = self.host }
end

---Carry out the rules' decisions (shared/follow.lua), in order.
---@param decisions FollowDecision[]
function Bridge:apply(decisions)
    for _, d in ipairs(decisions) do
        if d.op == "follow" then
            self:follow(d.call_id, d.subject, d.extra, d.meta)
        elseif d.op == "stop" then
            self:stop(d.call_id, d.why, d.kind)
        elseif d.op == "say" then
            self:say(d.call_id, d.state, d.detail, d.kind)
        elseif d.op == "save" then
            self:save()
        elseif d.op == "cad_postal" then
            local call = self.tracker:get(d.call_id, d.kind)
            if call ~= nil then
                call.cad_postal = d.value
                self:send_track(call)
                self:save()
            end
        elseif d.op == "log" then
            self.host.log(d.line)
        else
            error("unknown decision " .. tostring(d.op))
        end
    end
end

---Tell the console and other resources what a rule did with a call: the
---`callState` event with a local state ("following", "waiting", "stopped").
---@param call_id integer
---@param state string
---@param detail string
---@param kind CallKind|nil dispatch when nil
function Bridge:say(call_id, state, detail, kind)
    self.host.log(("%s %s: %s"):format(Subjects.call_name(call_id, kind), state, detail))
    self.host.call_state(call_id, state, detail, kind or "dispatch")
end

---A copy of the tracked calls for other resources, ordered by call id.
---`kind` is there for a 911 call only ("emergency"; absent = a dispatch call).
---@return { callId: integer, kind: "emergency"|nil, subject: string, radius: number|nil, origin: string }[]
function Bridge:tracked()
    local list = {}
    for i, call in ipairs(self.tracker:calls()) do
        list[i] = { callId = call.call_id, subject = call.subject, radius = call.radius,
            origin = call.origin, kind = call.kind == "emergency" and "emergency" or nil }
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
    -- Offered every time: a daemon with its own [postal] file, or that cannot read this one
    -- on its machine, ignores it.
    local postal_file = self.host.postal_file and self.host.postal_file()
    if postal_file ~= nil then
        self:send(Messages.postal_file(postal_file))
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
        if self:forget(msg.call_id, msg.kind) ~= nil then
            -- No rule follows it again (each try would cost an update that fails) until the
            -- CAD's cache shows a change to the call.
            if msg.kind == "dispatch" then
                self.follow_rules:hold(msg.call_id, CadCache.find(self.host.call_cache(), msg.call_id))
            end
            self:save()
            self.host.log(("%s is gone from the CAD; no longer tracked")
                :format(Subjects.call_name(msg.call_id, msg.kind)))
        end
    end
    -- A call that stopped moving says why in the console (a refused API key, an unknown
    -- server id), once per cause rather than at every repeat of the same news.
    self.failed_told = self.failed_told or {}
    local told_key = (msg.kind or "dispatch") .. ":" .. msg.call_id
    if msg.state == "failed" then
        if self.failed_told[told_key] ~= (msg.detail or "") then
            self.failed_told[told_key] = msg.detail or ""
            self.host.log(("%s is not moving: %s")
                :format(Subjects.call_name(msg.call_id, msg.kind), msg.detail or "failed"))
        end
    else
        self.failed_told[told_key] = nil
    end
    self.host.call_state(msg.call_id, msg.state, msg.detail, msg.kind)
end

---One sampling period: read the followed subjects, send what moved or is due.
---(The rules' upkeep comes first: see Sonorancad.tick in shared/sonorancad.lua.)
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

return Bridge
