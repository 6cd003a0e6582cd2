"""What the status page shows: a read-only snapshot of the daemon, built at a given time.

Pure: the planner, the links and the request log come in, a `Snapshot` (msgspec Structs, no
secret in any field) comes out. The page, `/status.json` and `/metrics` all read from it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal, Protocol

from msgspec import Struct

from bridge import __version__
from bridge.budget import Budget
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
from bridge.planner import Fetch, Planner, Push
from bridge.tracker import Call, CallKey

RECENT_REQUESTS = 50
"""How many finished requests the page lists."""

Route = Literal["update_call", "get_calls"]


class LinkLike(Protocol):
    """What the snapshot reads of one connected game server (`bridge.server.Link`)."""

    server_id: int
    conn: int
    frames: int
    errors: int


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


def dropped_reason(result: PatchResult | GetResult) -> str | None:
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
    else:
        route, server_id, call_id = "get_calls", action.server_id, None
    return RequestRecord(
        route=route,
        server_id=server_id,
        call_id=call_id,
        status=outcome_status(result),
        began=began,
        ended=ended,
        detail=detail,
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


class LinkView(Struct, frozen=True, kw_only=True):
    """One connected game server."""

    server_id: int
    conn: int
    frames: int
    errors: int


class DepartedView(Struct, frozen=True, kw_only=True):
    """A game server whose link went down and has not come back."""

    server_id: int
    gone_for: float
    """Seconds since its link went down."""
    calls: int
    """Its calls the daemon still holds: they stay where the map last drew them."""


DEPARTED_STATE = "game server disconnected: stays where last drawn"


class CallView(Struct, frozen=True, kw_only=True):
    """One followed call: where its subject is, where the CAD draws it, when it moves next."""

    server_id: int
    call_id: int
    kind: str
    """"dispatch", or "emergency" for a 911 call."""
    subject: str
    state: str
    subject_at: list[float] | None
    """[x, y, z] of the subject's last fix (game coordinates, metres)."""
    speed: float | None
    fix_age: float | None
    drawn_at: list[float] | None
    """[x, y] where the CAD draws the call, as far as the bridge knows."""
    radius: float | None
    error: float | None
    """Metres between the subject and the drawn call."""
    last_push_ago: float | None
    next_push_in: float | None
    """Seconds until the call's next push is expected; None while it is drawn where it is."""


class BudgetView(Struct, frozen=True, kw_only=True):
    """One route's budget on this key."""

    route: Route
    used: int
    """Requests in the current window, in flight included."""
    limit: int
    share: int
    """What the daemon allows itself now: below `limit` once another integration's 429s taught
    it that the key is shared."""
    window: float
    next_free_in: float | None
    """Seconds until a request may start (0: now; None: when the one in flight ends)."""
    paused_for: float
    """Seconds the CAD asked the daemon to wait (Retry-After, a quota reset, a bad key)."""
    rate_limited: int = 0
    """429s on this route since start."""


class RequestView(Struct, frozen=True, kw_only=True):
    """One recent request as the page lists it."""

    ago: float
    route: Route
    server_id: int
    call_id: int | None
    status: str
    latency_ms: float
    detail: str | None


class Snapshot(Struct, frozen=True, kw_only=True):
    """Everything the status page shows, at one moment."""

    version: str
    uptime: float
    links: list[LinkView]
    departed: list[DepartedView]
    """Game servers that were connected and are no longer, longest gone first."""
    calls: list[CallView]
    budgets: list[BudgetView]
    requests: int
    pushes: int
    rate_limited: int
    auth_failing: bool
    mean_error: float | None
    recent: list[RequestView]
    summary: dict[str, Any]
    """The daemon's own `status()` figures, as its `status` log line has them."""


def _finite(value: float) -> float | None:
    return round(value, 3) if math.isfinite(value) else None


def _call_view(
    planner: Planner,
    call: Call,
    waits: Mapping[CallKey, float],
    now: float,
    next_slot: float,
    departed: bool = False,
) -> CallView:
    settings = planner.settings
    fix = planner.fix_of(call)
    error = planner.tracker.error(call) if call.drawn is not None else None
    state = DEPARTED_STATE if departed else planner.phase(call).value
    next_in: float | None = None
    wait = waits.get(call.key)
    moved = error is None or error >= settings.min_move
    if wait is not None and moved and fix is not None:
        since = call.pushed_at if call.pushed_at is not None else call.since
        next_in = max(0.0, next_slot - now, since + wait - now)
    radius = call.radius if call.radius is not None else settings.default_radius
    return CallView(
        server_id=call.server_id,
        call_id=call.call_id,
        kind=call.kind,
        subject=call.subject,
        state=state,
        subject_at=[round(fix.x, 2), round(fix.y, 2), round(fix.z, 2)] if fix else None,
        speed=round(fix.speed, 2) if fix else None,
        fix_age=round(max(0.0, now - fix.t), 3) if fix else None,
        drawn_at=[round(call.drawn[0], 2), round(call.drawn[1], 2)] if call.drawn else None,
        radius=radius,
        error=round(error, 1) if error is not None else None,
        last_push_ago=round(now - call.pushed_at, 3) if call.pushed_at is not None else None,
        next_push_in=_finite(next_in) if next_in is not None else None,
    )


def snapshot(
    planner: Planner,
    links: Iterable[LinkLike],
    requests: Iterable[RequestRecord],
    now: float,
    *,
    started: float,
    requests_made: int,
    summary: Mapping[str, Any] | None = None,
    rate_limited: Mapping[str, int] | None = None,
    departed: Mapping[int, float] | None = None,
) -> Snapshot:
    """The daemon as the status page shows it at `now`; `departed` maps each game server whose
    link went down (and has not come back) to when."""
    links = list(links)
    connected = {link.server_id for link in links}
    gone = {k: t for k, t in (departed or {}).items() if k not in connected}
    budgets: list[tuple[Route, Budget]] = [("update_call", planner.update_budget)]
    if planner.get_budget is not None:
        budgets.append(("get_calls", planner.get_budget))
    budget_views = [
        BudgetView(
            route=route,
            used=budget.used(now),
            limit=budget.limit,
            share=budget.share,
            window=budget.window,
            next_free_in=_finite(budget.next_slot(now) - now),
            paused_for=round(max(0.0, budget.blocked_until() - now), 3),
            rate_limited=(rate_limited or {}).get(route, 0),
        )
        for route, budget in budgets
    ]
    waits = planner.expected_waits(now)
    next_slot = planner.update_budget.next_slot(now)
    calls = [
        _call_view(planner, call, waits, now, next_slot, call.server_id in gone)
        for call in sorted(planner.tracker, key=lambda c: c.key)
    ]
    recent = [
        RequestView(
            ago=round(now - r.ended, 3),
            route=r.route,
            server_id=r.server_id,
            call_id=r.call_id,
            status=r.status,
            latency_ms=round(r.latency * 1000, 1),
            detail=r.detail,
        )
        for r in reversed(list(requests))
    ]
    return Snapshot(
        version=__version__,
        uptime=round(now - started, 3),
        links=sorted(
            (
                LinkView(server_id=k.server_id, conn=k.conn, frames=k.frames, errors=k.errors)
                for k in links
            ),
            key=lambda view: view.server_id,
        ),
        departed=[
            DepartedView(
                server_id=server_id,
                gone_for=round(max(0.0, now - since), 3),
                calls=sum(1 for call in calls if call.server_id == server_id),
            )
            for server_id, since in sorted(gone.items(), key=lambda item: item[1])
        ],
        calls=calls,
        budgets=budget_views,
        requests=requests_made,
        pushes=planner.pushes,
        rate_limited=planner.refusals,
        auth_failing=planner.auth_failing,
        mean_error=planner.tracker.mean_error(planner.tracker),
        recent=recent,
        summary=dict(summary or {}),
    )
