"""The daemon's counts since start, each held once, fed by every finished request.

Each request's outcome becomes one `RequestRecord` (its route, HTTP status, timing, and why an
update did not land); `Tally.finished` counts it, and keeps the last few for the status page.
The status page, `/status.json`, `/metrics` and the `status` log line all read these counts
through one `bridge.status.Snapshot`: none of them counts on its own.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from typing import Literal

from msgspec import Struct

from bridge.actions import Fetch, Push
from bridge.outcomes import (
    AuthFailed,
    CallList,
    GetResult,
    Gone,
    PatchResult,
    RateLimited,
    Rejected,
    Transient,
    Updated,
)

RECENT_REQUESTS = 50
"""How many finished requests the page lists."""

Route = Literal["update_call", "get_calls"]
ROUTES: tuple[Route, ...] = ("update_call", "get_calls")

Dropped = Literal["gone", "rate_limited", "auth_failed", "rejected", "failed"]
"""Why a call update did not land on the map."""


class RequestRecord(Struct, frozen=True, kw_only=True):
    """One finished request to the CAD."""

    route: Route
    server_id: int
    call_id: int | None
    status: str
    """The HTTP status ("200", "429", ...), or "error" when no answer came (timeout, reset)."""
    began: float
    ended: float
    detail: str | None = None
    dropped: Dropped | None = None
    """Why the update did not land on the map (None: it did, or the request was a read)."""

    @property
    def latency(self) -> float:
        """Seconds from the request's start to its answer."""
        return max(0.0, self.ended - self.began)


def outcome_status(result: PatchResult | GetResult) -> str:
    """The HTTP status a typed result stands for; "error" when none came back."""
    match result:
        case Updated() | CallList():
            return "200"
        case Gone():
            return "404"
        case RateLimited():
            return "429"
        case AuthFailed(status=status) | Rejected(status=status):
            return str(status)
        case Transient(status=status):
            return "error" if status is None else str(status)
    raise AssertionError(f"unexpected result {result!r}")  # pragma: no cover


def dropped_reason(result: PatchResult | GetResult) -> Dropped | None:
    """Why a call update did not land on the map, or None when it did."""
    match result:
        case Updated():
            return None
        case Gone():
            return "gone"
        case RateLimited():
            return "rate_limited"
        case AuthFailed():
            return "auth_failed"
        case Rejected():
            return "rejected"
        case Transient():
            return "failed"
    return None


def record_of(
    action: Push | Fetch, result: PatchResult | GetResult, began: float, ended: float
) -> RequestRecord:
    """The request log's entry for one finished request."""
    detail: str | None
    match result:
        case Transient(reason=reason):
            detail = reason
        case Gone(detail=text) | RateLimited(detail=text) | AuthFailed(detail=text):
            detail = text
        case Rejected(detail=text):
            detail = text
        case _:
            detail = None
    if isinstance(action, Push):
        route: Route = "update_call"
        server_id, _, call_id = action.key
        dropped = dropped_reason(result)
    else:
        route, server_id, call_id, dropped = "get_calls", action.server_id, None, None
    return RequestRecord(
        route=route,
        server_id=server_id,
        call_id=call_id,
        status=outcome_status(result),
        began=began,
        ended=ended,
        detail=detail,
        dropped=dropped,
    )


class RequestLog:
    """The last finished requests, newest last (a ring buffer)."""

    def __init__(self, size: int = RECENT_REQUESTS) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=size)

    def add(self, record: RequestRecord) -> None:
        """Keep one more; the oldest gives way."""
        self._records.append(record)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self._records)

    def __len__(self) -> int:
        return len(self._records)


class Tally:
    """The daemon's counts since start: requests by route and HTTP status (429s among them),
    updates dropped by reason, pushes by game server, positions received; the last requests."""

    def __init__(self, recent: int = RECENT_REQUESTS) -> None:
        self.recent = RequestLog(recent)
        self.answered: Counter[tuple[Route, str]] = Counter()
        """(route, HTTP status) -> finished requests."""
        self.dropped: Counter[Dropped] = Counter()
        self.pushed: Counter[int] = Counter()
        """Game server -> updates of its calls that landed on the map."""
        self.positions = 0
        """Subject positions received from game servers."""

    def finished(self, record: RequestRecord) -> None:
        """Count one finished request, and keep it among the recent ones."""
        self.recent.add(record)
        self.answered[(record.route, record.status)] += 1
        if record.route == "update_call":
            if record.dropped is None:
                self.pushed[record.server_id] += 1
            else:
                self.dropped[record.dropped] += 1

    def heard(self, positions: int) -> None:
        """A game server sent this many subject positions."""
        self.positions += positions

    @property
    def pushes(self) -> int:
        """Updates that landed on the map, every game server."""
        return sum(self.pushed.values())

    def rate_limited(self, route: Route) -> int:
        """Requests of the route the CAD answered with 429."""
        return self.answered[(route, "429")]

    @property
    def refusals(self) -> int:
        """Requests the CAD answered with 429, every route."""
        return sum(self.rate_limited(route) for route in ROUTES)
