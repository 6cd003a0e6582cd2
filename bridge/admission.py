"""Who may open a connection to the websocket, and how refusals reach the log.

Pure: connections are named by an id, time is an argument, and the listener carries out what
`Admission.arrive` decides (abort the newcomer, or abort an older connection to make room).

- **Unauthenticated connections are capped**, and the oldest gives way to a newcomer: idle
  sockets (no HTTP upgrade, no `hello`) can neither run the daemon out of file descriptors nor
  keep the game server out; each also ends at its hello timeout. Sockets that have not sent
  their HTTP upgrade go first: a game server sends its upgrade at once and its `hello` right
  after, so a flood of bare sockets cannot push it out while it says hello.
- **All connections are capped**: past `max_connections`, a newcomer is refused.
- **New connections per address are rate-limited** (a token bucket), except from loopback:
  there the game server and a neighbour share the address, and a bucket would shut the game
  server out with the flood. Eviction of the oldest unauthenticated connection protects it
  instead.
- **Refusals are summed up**: the first few of each interval are logged in full, the rest
  counted, and one line per interval gives the counts by reason.
"""

from __future__ import annotations

import ipaddress
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Literal

Verdict = Literal["accept", "over_capacity", "over_rate"]


@dataclass(frozen=True, slots=True)
class Limits:
    """The listener's caps (`[listen]` keys)."""

    max_connections: int = 128
    max_unauthenticated: int = 16
    new_per_second: float = 10.0
    """Per address (not loopback); twice as many may come in a burst."""


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class Admission:
    """Decides on each new connection; remembers which are open and which said a good hello."""

    ADDRESSES = 4096
    """Rate buckets kept at most (the least recently used go first)."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._pending: OrderedDict[int, bool] = OrderedDict()
        """Unauthenticated connections, oldest first -> whether they sent their HTTP upgrade."""
        self._authenticated: set[int] = set()
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    @property
    def open(self) -> int:
        """Connections open now, authenticated or not."""
        return len(self._pending) + len(self._authenticated)

    @property
    def unauthenticated(self) -> int:
        """Connections that have not (yet) said a good `hello`."""
        return len(self._pending)

    def arrive(self, conn: int, address: str, now: float) -> tuple[Verdict, int | None]:
        """A connection was accepted: (verdict, an older connection to abort to make room)."""
        if not self._within_rate(address, now):
            return "over_rate", None
        evict: int | None = None
        if len(self._pending) >= self.limits.max_unauthenticated:
            bare = (c for c, upgraded in self._pending.items() if not upgraded)
            evict = next(bare, next(iter(self._pending)))
            del self._pending[evict]
        elif self.open >= self.limits.max_connections:
            return "over_capacity", None
        self._pending[conn] = False
        return "accept", evict

    def upgraded(self, conn: int) -> None:
        """The connection sent its HTTP upgrade: it gives way only after every bare socket."""
        if conn in self._pending:
            self._pending[conn] = True

    def authenticated(self, conn: int) -> None:
        """The connection said a good `hello`: it no longer counts as unauthenticated."""
        if conn in self._pending:  # not evicted meanwhile
            del self._pending[conn]
            self._authenticated.add(conn)

    def left(self, conn: int) -> None:
        """The connection closed (or was aborted)."""
        self._pending.pop(conn, None)
        self._authenticated.discard(conn)

    def _within_rate(self, address: str, now: float) -> bool:
        if _loopback(address):
            return True
        rate, burst = self.limits.new_per_second, 2 * self.limits.new_per_second
        bucket = self._buckets.pop(address, None) or _Bucket(burst, now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        self._buckets[address] = bucket
        while len(self._buckets) > self.ADDRESSES:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1.0:
            return False
        bucket.tokens -= 1.0
        return True


@dataclass(slots=True)
class Refusals:
    """Counts refused connections; says which to log in full and when to log the sum."""

    interval: float = 10.0
    logged_per_interval: int = 3
    since: float = 0.0
    counts: Counter[str] = field(default_factory=Counter)
    _logged: int = 0

    def refused(self, reason: str, now: float) -> bool:
        """Count one refusal; True when it may be logged on its own line."""
        if not self.counts:
            self.since = now
        self.counts[reason] += 1
        if self._logged < self.logged_per_interval:
            self._logged += 1
            return True
        return False

    def summary(self, now: float) -> dict[str, int] | None:
        """The counts of an interval once it has ended (None: nothing refused, not yet, or
        every refusal was logged on its own line)."""
        if not self.counts or now - self.since < self.interval:
            return None
        counts, logged = dict(self.counts), self._logged
        self.counts.clear()
        self._logged = 0
        # Every refusal had a line of its own: nothing more to say.
        return counts if sum(counts.values()) > logged else None


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False
