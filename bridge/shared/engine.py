"""The engine-neutral interface of a shared budget: reserve a slot, confirm it, cancel it.

Every daemon on one API key points at the same engine. A request first reserves a slot of its
route; the engine counts it from that moment until `hold` seconds later (longer than any
request can take), and `confirm` re-scores it at the moment the answer came. A slot counts for
`window` seconds after its end, on the engine's clock, whichever daemon took it, so the key sees
at most `limit` requests in any window with no leader: a dead daemon's slots expire by
themselves. All times the engine answers with are durations, never instants, so no two hosts'
clocks are compared.

Demand: each attempt says how much the daemon wants the slot (its best call's accumulated
error, metre-seconds) and how much it will still want once served. The engine keeps each
daemon's latest word for `demand_ttl` seconds and defers an attempt while another daemon's live
demand is higher, so slots go where the map error is, as one scheduler over all daemons would.
"""

from __future__ import annotations

import hashlib
from typing import Literal, Protocol

from msgspec import Struct


class Terms(Struct, frozen=True, kw_only=True):
    """How one route is shared: the same for every daemon on the key."""

    limit: int
    """Requests allowed in any window."""
    window: float
    """Seconds a request counts after it ended (the API's window plus the safety margin)."""
    hold: float
    """Seconds a reservation counts as in flight before it ends by itself (> the HTTP timeout)."""
    spacing: float = 0.0
    """Seconds between any two reservations on the key (pacing across all daemons)."""
    demand_ttl: float = 0.0
    """Seconds a daemon's published demand stays live without a new attempt (0: no deference)."""


class Reservation(Struct, frozen=True):
    """A slot taken: send the request, then `confirm` (or `cancel` if it never left)."""

    route: str
    id: str
    epoch: str = ""
    """The engine's state's name: a new one means the engine forgot the window (see `Wait`)."""
    skipped: tuple[str, ...] = ()
    """Malformed entries the engine found on the way, and dropped or clamped (see `longest`)."""


WaitReason = Literal["full", "paced", "paused", "deferred"]


class Wait(Struct, frozen=True):
    """No slot now: ask again in `seconds`."""

    seconds: float
    reason: WaitReason
    epoch: str = ""
    """Named when the key's state was first made; an engine that lost it (a Redis restarted
    without persistence, a database dropped) answers with a new one."""
    skipped: tuple[str, ...] = ()


class Unavailable(Struct, frozen=True):
    """The engine could not be asked (down, timed out, refused): send nothing."""

    reason: str


Answer = Reservation | Wait | Unavailable


class Engine(Protocol):
    """A shared budget engine. No method raises: a failure is `Unavailable` or False."""

    member: str
    """This daemon's name among the engine's clients (its demand is published under it)."""

    async def reserve(
        self, route: str, terms: Terms, *, demand: float = 0.0, after: float = 0.0
    ) -> Answer:
        """Take a slot of `route` now, or say when to ask again."""
        ...

    async def confirm(self, reservation: Reservation, terms: Terms) -> bool:
        """The request ended now: its slot counts from now for a window."""
        ...

    async def cancel(self, reservation: Reservation, terms: Terms) -> bool:
        """The request provably never left: give its slot back."""
        ...

    async def pause(self, route: str, seconds: float, terms: Terms) -> bool:
        """Nobody on the key sends on `route` for `seconds` (a 429 was seen)."""
        ...

    async def record(self, route: str, ages: list[float], terms: Terms) -> bool:
        """Count requests sent without the engine that ended `ages` seconds ago."""
        ...

    async def used(self, route: str, terms: Terms) -> int | None:
        """Slots of `route` counting now (None when the engine cannot be asked)."""
        ...

    async def close(self) -> None:
        """Close the connection."""
        ...


MAX_WAIT_WINDOWS = 3.0
"""Windows at most that any wait read from a shared engine lasts, as the CAD's waits are capped."""


def longest(terms: Terms) -> float:
    """The longest wait an engine's entry may ask for: three windows (the longest pause a 429
    sets), or a window plus the hold (a forgotten window's). Anything beyond is a bad value in
    the shared store, a pause years ahead, say: it is clamped to this, never obeyed, so one bad
    entry cannot stop every daemon on the key until each is restarted."""
    return max(MAX_WAIT_WINDOWS * terms.window, terms.window + terms.hold)


def keyspace(api_url: str, api_key: str) -> str:
    """A name for one API key's budget in a shared engine: a hash, never the key itself."""
    digest = hashlib.sha256(f"{api_url.rstrip('/')}\n{api_key}".encode()).hexdigest()
    return f"sb{digest[:16]}"


def seconds(value: float) -> float:
    """A non-negative wait, rounded to the microsecond the engines keep."""
    return max(0.0, round(value, 6))


EXTRAS = {"mariadb": "asyncmy", "redis": "redis"}


class MissingClient(RuntimeError):
    """The engine's client library is not installed; the text says which extra to install."""

    @classmethod
    def of(cls, kind: str) -> MissingClient:
        """The error for the engine `kind` ("mariadb" or "redis")."""
        return cls(
            f"budget.shared_url names {kind}, whose client ({EXTRAS[kind]}) is not installed: "
            f"pip install 'sonoran-bridge[{kind}]'"
        )
