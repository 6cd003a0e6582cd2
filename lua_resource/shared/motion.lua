-- The motion model the resource and the daemon share (bridge/motion.py is the
-- same model in Python, and a test holds the two equal on generated inputs).
-- Pure: no natives; times are seconds.
--
-- A track is what was last sent of a subject: its position and its velocity
-- over the ground at a time. Between two sends the subject is taken to go on at
-- that velocity (dead reckoning, as DIS entity state updates do), for at most
-- HORIZON seconds; a subject slower than STOPPED stands where it was sent. The
-- resource sends again as soon as the truth is off that prediction by
-- `min_move`, so silence tells the daemon "on the predicted track".

local Motion = {}

Motion.STOPPED = 0.5 -- metres per second below which a subject stands still
Motion.HORIZON = 30.0 -- seconds a prediction runs on at most (the heartbeat)
Motion.LOOKAHEAD = 1.0 -- seconds ahead a change of velocity is judged by

---@param n any
---@return boolean
local function finite(n)
    return type(n) == "number" and n == n and n ~= math.huge and n ~= -math.huge
end

---@class MotionTrack
---@field x number
---@field y number
---@field vx number metres per second, east
---@field vy number metres per second, north

---A subject's velocity over the ground from what a reading or item carries:
---vx/vy when both are finite, else speed along heading (GTA: degrees
---anticlockwise from north), else unknown. Slower than STOPPED is (0, 0).
---@param vx any
---@param vy any
---@param speed any
---@param heading any
---@return number|nil vx
---@return number|nil vy
function Motion.velocity(vx, vy, speed, heading)
    if not (finite(vx) and finite(vy)) then
        if not (finite(speed) and finite(heading)) then
            return nil, nil
        end
        local h = math.rad(heading)
        vx, vy = -speed * math.sin(h), speed * math.cos(h)
    end
    if math.sqrt(vx * vx + vy * vy) < Motion.STOPPED then
        return 0.0, 0.0
    end
    return vx, vy
end

---Whether a velocity is a subject on the move (not standing still).
---@param vx number
---@param vy number
---@return boolean
function Motion.moving(vx, vy)
    return math.sqrt(vx * vx + vy * vy) >= Motion.STOPPED
end

---Where the track puts its subject `dt` seconds after it was sent.
---@param track MotionTrack
---@param dt number seconds
---@return number x
---@return number y
function Motion.predict(track, dt)
    local s = math.min(math.max(dt, 0.0), Motion.HORIZON)
    return track.x + track.vx * s, track.y + track.vy * s
end

---Metres between the track's prediction and a subject now at (x, y) with
---velocity (vx, vy), now or LOOKAHEAD seconds on, whichever is more: a stop,
---a start or a turn shows at once, before the position has drifted.
---@param track MotionTrack
---@param dt number seconds since the track was sent
---@param x number
---@param y number
---@param vx number
---@param vy number
---@return number metres
function Motion.off_track(track, dt, x, y, vx, vy)
    local px, py = Motion.predict(track, dt)
    local ex, ey = x - px, y - py
    local ax = ex + (vx - track.vx) * Motion.LOOKAHEAD
    local ay = ey + (vy - track.vy) * Motion.LOOKAHEAD
    return math.max(math.sqrt(ex * ex + ey * ey), math.sqrt(ax * ax + ay * ay))
end

---Whether the track still holds for a subject now at (x, y) with velocity
---(vx, vy): within `min_move` of it (now and LOOKAHEAD seconds on), and
---moving if and only if the track is. When it does not, the resource sends.
---@param track MotionTrack
---@param dt number seconds since the track was sent
---@param x number
---@param y number
---@param vx number
---@param vy number
---@param min_move number metres
---@return boolean
function Motion.holds(track, dt, x, y, vx, vy, min_move)
    if Motion.moving(vx, vy) ~= Motion.moving(track.vx, track.vy) then
        return false
    end
    return Motion.off_track(track, dt, x, y, vx, vy) < min_move
end

return Motion
