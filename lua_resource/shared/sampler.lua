-- Which readings are worth sending: dead reckoning, as DIS entity state
-- updates do it. Pure: no natives, the time comes in as an argument (ms).
--
-- Per subject the sampler keeps what it last sent (position, velocity, time)
-- and predicts the subject from it with the model the daemon uses
-- (shared/motion.lua). A reading is sent when the subject is off that
-- prediction by `min_move` metres (now, or a second on at its velocity), when
-- it stopped or set off, or when `heartbeat_ms` passed (so the daemon can tell
-- a parked car from a lost one). A steady mover is sent by the heartbeat alone;
-- a stop, a start or a turn at once. Readings that cannot be real positions
-- are skipped, never sent, and leave the subject's state untouched: its calls
-- stay where the subject was last seen.

local Motion = require("shared.motion")

local Sampler = {}
Sampler.__index = Sampler

-- Equal to protocol v1's limits (bridge/protocol.py LIMITS; a test holds them so).
Sampler.MAX_HORIZONTAL = 20000
Sampler.MAX_VERTICAL = 5000
Sampler.MAX_SPEED = 1000
local MAX_HORIZONTAL = Sampler.MAX_HORIZONTAL
local MAX_VERTICAL = Sampler.MAX_VERTICAL
local MAX_SPEED = Sampler.MAX_SPEED

---@class Reading
---@field x number
---@field y number
---@field z number
---@field heading number|nil degrees
---@field speed number|nil metres per second
---@field vx number|nil metres per second east
---@field vy number|nil metres per second north

---@class PositionItem
---@field subject string
---@field x number
---@field y number
---@field z number
---@field heading number|nil
---@field speed number|nil
---@field vx number|nil
---@field vy number|nil

---@param n any
---@return boolean
local function finite(n)
    return type(n) == "number" and n == n and n ~= math.huge and n ~= -math.huge
end

---Whether a reading can be a real position; if not, why.
---@param reading any
---@return boolean usable
---@return string|nil reason
function Sampler.usable(reading)
    if type(reading) ~= "table" then
        return false, "no reading"
    end
    local x, y, z = reading.x, reading.y, reading.z
    if not (finite(x) and finite(y) and finite(z)) then
        return false, "non-finite coordinates"
    end
    if math.abs(x) > MAX_HORIZONTAL or math.abs(y) > MAX_HORIZONTAL or math.abs(z) > MAX_VERTICAL then
        return false, "coordinates off the map"
    end
    -- OneSync reports (0, 0, -1700) for an entity whose position has not synced yet.
    if math.abs(x) < 0.01 and math.abs(y) < 0.01 and math.abs(z + 1700) < 1 then
        return false, "position not synced yet"
    end
    return true
end

---@param v number
---@param step number
---@return number
local function round(v, step)
    local r = math.floor(v / step + 0.5) * step
    -- keep one decimal representation: 430.5 rather than 430.50000000000006
    return tonumber(string.format("%.2f", r)) or r
end

---The wire item for a usable reading: rounded to centimetres, optional fields
---kept only when they are valid.
---@param subject string
---@param reading Reading
---@return PositionItem
function Sampler.item(subject, reading)
    local item = {
        subject = subject,
        x = round(reading.x, 0.01),
        y = round(reading.y, 0.01),
        z = round(reading.z, 0.01),
    }
    local heading = reading.heading
    if finite(heading) then
        heading = heading % 360
        item.heading = round(heading, 0.1)
        if item.heading >= 360 then
            item.heading = 0.0
        end
    end
    local speed = reading.speed
    if finite(speed) and speed >= 0 and speed <= MAX_SPEED then
        item.speed = round(speed, 0.01)
    end
    local vx, vy = reading.vx, reading.vy
    if finite(vx) and finite(vy) and math.abs(vx) <= MAX_SPEED and math.abs(vy) <= MAX_SPEED then
        item.vx = round(vx, 0.01)
        item.vy = round(vy, 0.01)
    end
    return item
end

---The track an item puts on the wire: its position and the velocity the
---daemon reads from it (unknown velocity predicts a subject standing still).
---@param item PositionItem
---@param now_ms number
---@return table track
local function track_of(item, now_ms)
    local vx, vy = Motion.velocity(item.vx, item.vy, item.speed, item.heading)
    return { x = item.x, y = item.y, z = item.z, vx = vx or 0.0, vy = vy or 0.0, t = now_ms }
end

---@class SamplerOptions
---@field min_move number metres
---@field heartbeat_ms number

---@param opts SamplerOptions
---@return table sampler
function Sampler.new(opts)
    assert(type(opts) == "table", "Sampler.new: expected a table of options")
    assert(finite(opts.min_move) and opts.min_move >= 0, "min_move: expected metres >= 0")
    assert(finite(opts.heartbeat_ms) and opts.heartbeat_ms > 0, "heartbeat_ms: expected > 0")
    return setmetatable({
        min_move = opts.min_move,
        heartbeat_ms = opts.heartbeat_ms,
        last = {}, -- subject -> { x, y, z, vx, vy, t } as last sent
    }, Sampler)
end

---Pick what to send from this period's readings, and remember it as sent.
---@param now_ms number
---@param subjects string[] the subjects to consider, in order
---@param readings table<string, Reading> subject -> reading (missing = not located)
---@return PositionItem[] items to send
---@return table<string, string> skipped subject -> why it was not usable
function Sampler:pick(now_ms, subjects, readings)
    local items, skipped = {}, {}
    for _, subject in ipairs(subjects) do
        local reading = readings[subject]
        local ok, reason = Sampler.usable(reading)
        if not ok then
            skipped[subject] = reading == nil and "not located" or reason
        else
            local last = self.last[subject]
            local item = Sampler.item(subject, reading)
            local due = last == nil or now_ms - last.t >= self.heartbeat_ms
            if not due then
                local vx, vy = Motion.velocity(item.vx, item.vy, item.speed, item.heading)
                local dt = (now_ms - last.t) / 1000
                due = not Motion.holds(last, dt, reading.x, reading.y, vx or 0.0, vy or 0.0, self.min_move)
                    or math.abs(reading.z - last.z) >= self.min_move
            end
            if due then
                items[#items + 1] = item
                self.last[subject] = track_of(item, now_ms)
            end
        end
    end
    return items, skipped
end

---Forget what was sent for one subject (it is no longer followed).
---@param subject string
function Sampler:forget(subject)
    self.last[subject] = nil
end

---Forget everything sent, so every subject is sent again at the next pick
---(after a reconnect the daemon may know nothing).
function Sampler:reset()
    self.last = {}
end

return Sampler
