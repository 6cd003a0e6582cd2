"""Which request a slot goes to: the candidates' figures, the policy's choice, the read ahead.

Pure: what the choice looks at comes in as one `Ground` (the tracker, the reads, the settings,
the policy and the budgets), the time as an argument. Looking changes nothing: the figures are
what settling at `now` would make them, settled only when a request begins (`settle`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Literal

from bridge import freshness, habits, placement
from bridge.actions import Fetch, Push
from bridge.budget import Budget
from bridge.placement import MOVING
from bridge.postal import PostalIndex
from bridge.reads import Reads
from bridge.scheduler import BudgetAware, Candidate, Policy
from bridge.settings import Settings
from bridge.tracker import Call, CallKey, Fix, Tracker

BRAKING_RANK = 0.5
"""Share of its error area a braking subject's call is ranked by (`placement.braking`): it is
about to turn or stop, and a push a few seconds on, once the resource has sent the new straight
or the stand, is worth more than one now (on the tuning seeds: `mixed-10` 2 %, `pursuit-stop`
2 %, `all-moving-10` 1 % lower; tried with 0.25 and over 4 s too)."""


@dataclass(frozen=True, slots=True)
class Ground:
    """What a choice looks at (the planner's, as they stand when it asks)."""

    tracker: Tracker
    reads: Reads
    settings: Settings
    policy: Policy
    update_budget: Budget
    get_budget: Budget | None
    postals: PostalIndex | None = None


def eligible(g: Ground, now: float) -> Iterator[tuple[Call, Fix]]:
    """Calls a push could go to now, with their subject's fix."""
    tracker, reads = g.tracker, g.reads
    for call in tracker:
        fix = tracker.fix_of(call)
        if fix is None or call.meta is None or call.server_id in reads.paused_until:
            continue
        if call.stale_at is not None:
            continue  # its copy is older than an edit the relay could not carry: read first
        if call.missing_at is not None:
            continue  # a 404 of its update: the list tells whether it closed
        if call.emergency and not reads.apart(call, tracker):
            continue  # the update route might take it for the dispatch call of its id
        if call.held_fix_t is not None and fix.t <= call.held_fix_t:
            continue
        if call.refused_until > now:
            continue
        yield call, fix


def candidates(g: Ground, now: float) -> list[Candidate]:
    """Calls that could be pushed now, with the figures a policy chooses by."""
    found = []
    for call, fix in eligible(g, now):
        acc, error, right_at = g.tracker.accrued(call, now)
        # An edit a PATCH overwrote is owed to the CAD, however little the subject moved.
        if call.owed:
            error = max(error, g.settings.min_move)
        # Stale time counts from the last moment the call was drawn right, or its push.
        pushed = call.pushed_at if call.pushed_at is not None else call.since
        stale = now - max(right_at, pushed)
        acc = habits.ranked(acc, error, fix.habit, fix.speed, now)
        if placement.braking(fix, now):
            acc *= BRAKING_RANK
        found.append(Candidate(call, fix, error, now - pushed, acc, stale))
    waits = _waits(g, found)
    return [replace(c, wait=wait) for c, wait in zip(found, waits, strict=True)]


def settle(g: Ground, now: float) -> None:
    """Fold the figures `candidates` shows at `now` into the calls: a request begins."""
    for call, _ in eligible(g, now):
        g.tracker.settle(call, now)


def refresh_interval(tracker: Tracker, budget: Budget) -> float:
    """Seconds until a moving call's next turn, were the budget shared evenly."""
    moving = sum(1 for c in tracker if (f := tracker.fix_of(c)) and f.speed > MOVING)
    return budget.window / budget.share * max(1, moving)


def _waits(g: Ground, found: list[Candidate]) -> list[float]:
    """Each call's expected wait for its next push: movers by the square-root law."""
    roots = sum(math.sqrt(c.fix.speed) for c in found if c.fix.speed > MOVING)
    budget = g.update_budget
    rate = budget.share / (budget.window + budget.margin)
    parked = refresh_interval(g.tracker, budget)
    return [
        roots / (rate * math.sqrt(c.fix.speed)) if c.fix.speed > MOVING else parked for c in found
    ]


def expected_waits(g: Ground) -> dict[CallKey, float]:
    """Seconds between pushes each pushable call can expect, leaving state untouched."""
    tracker = g.tracker
    found = [
        Candidate(call, fix, 0.0, 0.0, 0.0)
        for call in tracker
        if (fix := tracker.fix_of(call)) is not None and call.meta is not None
    ]
    return {c.call.key: wait for c, wait in zip(found, _waits(g, found), strict=True)}


def next_action(g: Ground, now: float) -> Push | Fetch | None:
    """The request to make now, or None when there is nothing worth a slot."""
    fetch = g.reads.next_fetch(g.tracker, g.settings, g.get_budget, now)
    if fetch is not None:
        return fetch
    slot = push_slot(g, now)
    if slot > now:
        return _read_ahead(g, slot, now)
    chosen = g.policy.choose(candidates(g, now), now)
    if chosen is None:
        return None
    read = _freshen(g, chosen.call, now, now)
    if read is not None:
        return read if isinstance(read, Fetch) else None
    at = placement.place(chosen, now, g.settings, g.postals, g.tracker.trails)
    return Push(chosen.call.key, at.meta, at.x, at.y, at.z, at.radius, chosen.fix.t, at.postal)


def next_wake(g: Ground, now: float) -> float:
    """When a slot opens next (inf while the budget waits on a request in flight), or the read
    ahead of it may begin."""
    slot = push_slot(g, now)
    ahead = max(now, slot - g.settings.read_ahead)
    wake = ahead if _reading_ahead(g, slot, ahead, now) else slot
    due = g.reads.due(g.tracker, g.settings, g.get_budget, now)
    return min(wake, min(due.values(), default=math.inf))


def push_slot(g: Ground, now: float) -> float:
    """When the next push may begin: the budget's next slot, and the policy's pacing."""
    slot = g.update_budget.next_slot(now)
    if isinstance(g.policy, BudgetAware):
        slot = max(slot, g.policy.ready_at())
    return slot


def _read_ahead(g: Ground, slot: float, now: float) -> Fetch | None:
    """The read the push at `slot` would want first, begun now (`read_ahead` before it) so the
    push goes at its slot with what the read brought. Choosing changes nothing, so the call
    the slot would go to is known ahead; at the slot it is chosen afresh."""
    if not _reading_ahead(g, slot, now, now):
        return None
    chosen = g.policy.choose(candidates(g, slot), slot)
    if chosen is None:
        return None
    read = _freshen(g, chosen.call, slot, now)
    return read if isinstance(read, Fetch) else None


def _reading_ahead(g: Ground, slot: float, at: float, now: float) -> bool:
    """Whether a read begun at `at`, ahead of the push at `slot`, may be wanted (looked at
    `now`, without choosing: a budget is only ever asked about the present)."""
    settings = g.settings
    if not at < slot <= at + settings.read_ahead:
        return False
    if g.get_budget is None or g.get_budget.next_slot(now) > at:
        return False
    return any(
        freshness.meta_old(call, slot, settings.meta_max_age)
        and freshness.may_read(g.reads.fetched_at.get(call.server_id), at, settings.fetch_interval)
        for call, _ in eligible(g, slot)
    )


def _freshen(g: Ground, call: Call, at: float, now: float) -> Fetch | Literal["wait"] | None:
    """A read of the call's list before its push at `at` (`freshness.freshen`)."""
    settings = g.settings
    wanted = freshness.freshen(
        call,
        at,
        now,
        get_budget=g.get_budget,
        last_read=g.reads.fetched_at.get(call.server_id),
        max_age=settings.meta_max_age,
        fetch_interval=settings.fetch_interval,
        meta_wait=settings.meta_wait,
    )
    return Fetch(call.server_id) if wanted == "read" else wanted
