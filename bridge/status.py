"""One view of the daemon: a read-only snapshot of it, built at a given time.

Pure: the planner, the links and the tally of requests come in, a `Snapshot` (msgspec Structs,
no secret in any field) comes out. The status page, `/status.json`, `/metrics` and the
`status` log line (its `summary`) all render this one view; none works a figure out again.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import msgspec
from msgspec import Struct

from bridge import __version__
from bridge.budget import Budget
from bridge.planner import Planner
from bridge.tally import Route, Tally
from bridge.tracker import Call, CallKey


class LinkLike(Protocol):
    """What the snapshot reads of one connected game server (`bridge.server.Link`)."""

    server_id: int
    conn: int
    frames: int
    errors: int


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


class ServerView(Struct, frozen=True, kw_only=True):
    """One game server's share of the work: its link, calls, pushes and map error."""

    server_id: int
    linked: bool
    calls: int
    pushes: int
    mean_error: float | None


class RequestCount(Struct, frozen=True, kw_only=True):
    """Finished requests of one route that the CAD answered with one HTTP status."""

    route: Route
    status: str
    """The HTTP status, or "error" when no answer came."""
    count: int


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
    servers: list[ServerView] = []
    """Each game server linked or with calls followed, by id."""
    positions_received: int = 0
    """Subject positions received from game servers since start."""
    answered: list[RequestCount] = []
    """Finished requests by route and HTTP status, since start."""
    dropped: dict[str, int] = {}
    """Call updates that did not land on the map, by reason, since start."""
    shared: dict[str, Any] | None = None
    """The shared budget's standing, when the key's budget is shared."""
    summary: dict[str, Any] = {}
    """The figures of the `status` log line (`summary_of` this snapshot)."""


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
    error = planner.error_of(call) if call.drawn is not None else None
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
    tally: Tally,
    now: float,
    *,
    started: float,
    requests_made: int,
    departed: Mapping[int, float] | None = None,
    shared: Mapping[str, Any] | None = None,
) -> Snapshot:
    """The daemon as the status page shows it at `now`; `departed` maps each game server whose
    link went down (and has not come back) to when; `shared` is the shared budget's standing."""
    links = sorted(links, key=lambda link: link.server_id)
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
            rate_limited=tally.rate_limited(route),
        )
        for route, budget in budgets
    ]
    waits = planner.expected_waits(now)
    next_slot = planner.update_budget.next_slot(now)
    followed = sorted(planner.calls(), key=lambda c: c.key)
    calls = [
        _call_view(planner, call, waits, now, next_slot, call.server_id in gone)
        for call in followed
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
        for r in reversed(list(tally.recent))
    ]
    servers = [
        ServerView(
            server_id=server_id,
            linked=server_id in connected,
            calls=len(mine := [c for c in planner.calls() if c.server_id == server_id]),
            pushes=tally.pushed[server_id],
            mean_error=planner.mean_error(mine),
        )
        for server_id in sorted({c.server_id for c in followed} | connected)
    ]
    view = Snapshot(
        version=__version__,
        uptime=round(now - started, 3),
        links=[
            LinkView(server_id=k.server_id, conn=k.conn, frames=k.frames, errors=k.errors)
            for k in links
        ],
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
        pushes=tally.pushes,
        rate_limited=tally.refusals,
        auth_failing=planner.auth_failing,
        mean_error=planner.mean_error(planner.calls()),
        recent=recent,
        servers=servers,
        positions_received=tally.positions,
        answered=[
            RequestCount(route=route, status=status, count=count)
            for (route, status), count in sorted(tally.answered.items())
        ],
        dropped=dict(sorted(tally.dropped.items())),
        shared=dict(shared) if shared is not None else None,
    )
    return msgspec.structs.replace(view, summary=summary_of(view))


def summary_of(view: Snapshot) -> dict[str, Any]:
    """The figures of the `status` log line, read off the snapshot."""
    update = next(b for b in view.budgets if b.route == "update_call")
    return {
        "links": [link.server_id for link in view.links],
        "calls": len(view.calls),
        "requests": view.requests,
        "pushes": view.pushes,
        "refusals": view.rate_limited,
        "budget_used": update.used,
        "budget_share": update.share,
        "mean_error_m": view.mean_error,
        "servers": {
            server.server_id: {
                "linked": server.linked,
                "calls": server.calls,
                "pushes": server.pushes,
                "mean_error_m": server.mean_error,
            }
            for server in view.servers
        },
        **({"shared": view.shared} if view.shared is not None else {}),
    }
