"""The shared budget in Redis: one Lua script over a ZSET per route, on the server's clock.

Per route, `{keyspace}:{route}:log` holds one member per reservation, scored by its end time
(the reservation time plus the hold while it is in flight); `{keyspace}:{route}:state` holds
the pause, the last grant (for pacing) and each daemon's published demand. Everything happens
inside one script call, so two daemons never see the same free slot. Keys expire by
themselves once nobody uses them, except `{keyspace}:epoch`, the state's name: a Redis restarted
without persistence makes a new one, and the daemons wait out the window it forgot.
"""

from __future__ import annotations

import uuid

from bridge.shared.engine import (
    Answer,
    MissingClient,
    Reservation,
    Terms,
    Unavailable,
    Wait,
    WaitReason,
    longest,
    seconds,
)
from bridge.shared.url import Location

try:
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import RedisError
except ImportError:  # an optional extra
    raise MissingClient.of("redis") from None

TIMEOUT = 1.0
"""Seconds any one engine call may take: a frozen server must not stall the push loop."""

SCRIPT = """
local log, state, epoch_key = KEYS[1], KEYS[2], KEYS[3]
local op = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local function fmt(x) return string.format('%.6f', x) end
-- A stored number, or nil for anything else (text, NaN, an infinity): never an error.
local function number(text)
  local x = tonumber(text)
  if x == nil or x ~= x or x == math.huge or x == -math.huge then return nil end
  return x
end
if op == 'confirm' then
  if redis.call('ZSCORE', log, ARGV[2]) then
    redis.call('ZADD', log, fmt(now), ARGV[2])
    return {'ok'}
  end
  return {'gone'}
elseif op == 'cancel' then
  redis.call('ZREM', log, ARGV[2])
  return {'ok'}
elseif op == 'pause' then
  local untl = now + tonumber(ARGV[2])
  if untl > (number(redis.call('HGET', state, 'paused_until')) or 0) then
    redis.call('HSET', state, 'paused_until', fmt(untl))
  end
  redis.call('PEXPIRE', state, math.ceil((tonumber(ARGV[2]) + tonumber(ARGV[3])) * 1000))
  return {'ok'}
elseif op == 'record' then
  for i = 3, #ARGV, 2 do redis.call('ZADD', log, fmt(now - tonumber(ARGV[i + 1])), ARGV[i]) end
  redis.call('PEXPIRE', log, math.ceil(tonumber(ARGV[2]) * 1000) + 1000)
  return {'ok'}
elseif op == 'used' then
  return {tostring(redis.call('ZCOUNT', log, fmt(now - tonumber(ARGV[2])), '+inf'))}
end
-- reserve: id, limit, window, hold, spacing, member, demand, after, ttl, longest
local id, limit, window, hold = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local spacing, member = tonumber(ARGV[6]), ARGV[7]
local demand, after, ttl = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local longest = tonumber(ARGV[11])
-- Entries no daemon writes (text, a time past the longest wait) are dropped or clamped and
-- named in the answer, so the daemons log them: never obeyed, never an error.
local skipped = {}
local function answer(kind, wait, name)
  local reply = {kind, wait, name}
  for _, what in ipairs(skipped) do table.insert(reply, what) end
  return reply
end
local keep = math.ceil((window + hold + ttl + spacing) * 1000) + 1000
-- The state's name, kept without expiry: a new one tells every daemon the window was lost.
local epoch = redis.call('GET', epoch_key)
if not epoch then
  epoch = fmt(now) .. ':' .. id
  redis.call('SET', epoch_key, epoch)
end
-- A request that ended at e counts until e + window: keep every score >= now - window.
redis.call('ZREMRANGEBYSCORE', log, '-inf', '(' .. fmt(now - window))
-- No reservation ends later than the hold from now.
if redis.call('ZREMRANGEBYSCORE', log, '(' .. fmt(now + longest), '+inf') > 0 then
  table.insert(skipped, 'log: a slot ending too far ahead')
end
if ttl > 0 then
  redis.call('HSET', state, 'd:' .. member, fmt(demand) .. ' ' .. fmt(now))
end
redis.call('PEXPIRE', state, keep)
local function stored(field, most)
  local text = redis.call('HGET', state, field)
  if not text then return 0 end
  local x = number(text)
  if x == nil then
    redis.call('HDEL', state, field)
    table.insert(skipped, field .. ': not a number')
    return 0
  elseif x > now + most then
    redis.call('HSET', state, field, fmt(now + most))
    table.insert(skipped, field .. ': too far ahead')
    return now + most
  end
  return x
end
local paused = stored('paused_until', longest)
if paused > now then return answer('paused', fmt(paused - now), epoch) end
local count = redis.call('ZCARD', log)
if count >= limit then
  -- The oldest that must leave: in flight (scored ahead of now), it ends no earlier than now.
  local oldest = tonumber(redis.call('ZRANGE', log, count - limit, count - limit, 'WITHSCORES')[2])
  return answer('full', fmt(math.min(oldest, now) + window - now), epoch)
end
local granted = stored('granted_at', spacing)
if granted + spacing > now then return answer('paced', fmt(granted + spacing - now), epoch) end
if ttl > 0 then
  local fields = redis.call('HGETALL', state)
  for i = 1, #fields, 2 do
    local name = fields[i]
    if string.sub(name, 1, 2) == 'd:' and name ~= 'd:' .. member then
      local sep = string.find(fields[i + 1], ' ', 1, true)
      local theirs = sep and number(string.sub(fields[i + 1], 1, sep - 1))
      local at = sep and number(string.sub(fields[i + 1], sep + 1))
      if theirs == nil or at == nil or at > now + ttl then
        -- No daemon publishes a demand it cannot name, or one from the future.
        redis.call('HDEL', state, name)
        table.insert(skipped, name .. ': malformed demand')
      elseif at + ttl < now then
        redis.call('HDEL', state, name)
      elseif theirs > demand then
        return answer('deferred', fmt(math.max(spacing, 0.05) / 2), epoch)
      end
    end
  end
  redis.call('HSET', state, 'd:' .. member, fmt(after) .. ' ' .. fmt(now))
end
redis.call('ZADD', log, fmt(now + hold), id)
redis.call('PEXPIRE', log, keep)
redis.call('HSET', state, 'granted_at', fmt(now))
return answer('granted', '', epoch)
"""


class RedisEngine:
    """`Engine` over Redis (`redis.asyncio`): one script call per operation, no retries."""

    def __init__(self, location: Location, keyspace: str, *, member: str | None = None) -> None:
        self.member = member or uuid.uuid4().hex[:12]
        self._keyspace = keyspace
        self._client = client_for(location)
        self._script = self._client.register_script(SCRIPT)

    @classmethod
    def from_client(
        cls, client: aioredis.Redis, keyspace: str, *, member: str | None = None
    ) -> RedisEngine:
        """An engine over a client made elsewhere (fakeredis in unit tests)."""
        engine = cls.__new__(cls)
        engine.member = member or uuid.uuid4().hex[:12]
        engine._keyspace = keyspace
        engine._client = client
        engine._script = client.register_script(SCRIPT)
        return engine

    def _keys(self, route: str) -> list[str]:
        base = f"{self._keyspace}:{route}"
        return [f"{base}:log", f"{base}:state", f"{self._keyspace}:epoch"]

    async def _call(self, route: str, *args: str | float) -> list[str] | str:
        reply = await self._script(keys=self._keys(route), args=list(args))
        if isinstance(reply, list):
            return [item.decode() if isinstance(item, bytes) else str(item) for item in reply]
        return str(reply)

    async def reserve(
        self, route: str, terms: Terms, *, demand: float = 0.0, after: float = 0.0
    ) -> Answer:
        """Take a slot of `route` now, or say when to ask again."""
        rid = uuid.uuid4().hex
        try:
            reply = await self._call(
                route,
                "reserve",
                rid,
                terms.limit,
                terms.window,
                terms.hold,
                terms.spacing,
                self.member,
                demand,
                after,
                terms.demand_ttl,
                longest(terms),
            )
        except (RedisError, OSError, TimeoutError) as exc:
            return Unavailable(_reason(exc))
        epoch = reply[2] if len(reply) > 2 else ""
        skipped = tuple(reply[3:])
        if reply[0] == "granted":
            return Reservation(route, rid, epoch, skipped)
        reason: WaitReason = reply[0]  # type: ignore[assignment]  # the script answers only WaitReason's words, which mypy sees as str
        return Wait(seconds(float(reply[1])), reason, epoch, skipped)

    async def confirm(self, reservation: Reservation, terms: Terms) -> bool:
        """The request ended now: its slot counts from now for a window."""
        return await self._simple(reservation.route, "confirm", reservation.id)

    async def cancel(self, reservation: Reservation, terms: Terms) -> bool:
        """The request provably never left: give its slot back."""
        return await self._simple(reservation.route, "cancel", reservation.id)

    async def pause(self, route: str, seconds: float, terms: Terms) -> bool:
        """Nobody on the key sends on `route` for `seconds`."""
        return await self._simple(route, "pause", seconds, terms.window)

    async def _simple(self, route: str, *args: str | float) -> bool:
        try:
            await self._call(route, *args)
        except (RedisError, OSError, TimeoutError):
            return False
        return True

    async def record(self, route: str, ages: list[float], terms: Terms) -> bool:
        """Count requests sent without the engine that ended `ages` seconds ago."""
        args: list[str | float] = []
        for age in ages:
            args += [f"alone:{uuid.uuid4().hex}", age]
        return await self._simple(route, "record", terms.window, *args)

    async def used(self, route: str, terms: Terms) -> int | None:
        """Slots of `route` counting now."""
        try:
            reply = await self._call(route, "used", terms.window)
        except (RedisError, OSError, TimeoutError):
            return None
        return int(reply[0])

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def client_for(location: Location) -> aioredis.Redis:
    """A client that gives up after `TIMEOUT` and never retries (fail closed, fast)."""
    common = {
        "db": location.db,
        "username": location.user or None,
        "password": location.password or None,
        "socket_timeout": TIMEOUT,
        "socket_connect_timeout": TIMEOUT,
        "retry": Retry(NoBackoff(), 0),
        "health_check_interval": 0,
    }
    if location.unix_socket:
        return aioredis.Redis(unix_socket_path=location.unix_socket, **common)  # type: ignore[arg-type]  # `common` mixes value types, so mypy cannot match each keyword to its parameter
    if location.tls:
        # The server's certificate and name are always checked: a shared budget reached over a
        # network it does not own must not be one an attacker in between can answer for.
        common |= {
            "ssl": True,
            "ssl_cert_reqs": "required",
            "ssl_check_hostname": True,
            "ssl_ca_certs": location.ca_file or None,
            "ssl_certfile": location.cert_file or None,
            "ssl_keyfile": location.key_file or None,
        }
    return aioredis.Redis(host=location.host, port=location.port, **common)  # type: ignore[arg-type]  # `common` mixes value types, so mypy cannot match each keyword to its parameter


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:200]
