"""The shared budget's rules in memory, on an injected clock: for the gate's tests.

Several `MemoryEngine`s made from one `MemoryBudget` behave as daemons on one Redis or MariaDB
would (the same answers, in the same order of checks), with the time a plain argument. `down`
makes every call fail, as an engine out of reach.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from bridge.shared.engine import Answer, Reservation, Terms, Unavailable, Wait, seconds


@dataclass
class _Route:
    log: dict[str, float] = field(default_factory=dict)
    paused_until: float = 0.0
    granted_at: float = -1e18
    demand: dict[str, tuple[float, float]] = field(default_factory=dict)


@dataclass
class MemoryBudget:
    """The engine's state: one per API key, shared by every `MemoryEngine` made from it."""

    clock: Callable[[], float]
    down: bool = False
    routes: dict[str, _Route] = field(default_factory=dict)
    epoch: int = 1
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def forget(self) -> None:
        """Lose every count and pause, as a Redis restarted without persistence does."""
        self.routes.clear()
        self.epoch += 1

    def engine(self, member: str) -> MemoryEngine:
        """A daemon's connection to this budget."""
        return MemoryEngine(self, member)

    def _route(self, route: str, terms: Terms) -> _Route:
        state = self.routes.setdefault(route, _Route())
        now = self.clock()
        state.log = {k: v for k, v in state.log.items() if v >= now - terms.window}
        return state


class MemoryEngine:
    """`Engine` over a `MemoryBudget`."""

    def __init__(self, budget: MemoryBudget, member: str) -> None:
        self.budget = budget
        self.member = member

    async def reserve(
        self, route: str, terms: Terms, *, demand: float = 0.0, after: float = 0.0
    ) -> Answer:
        """Take a slot of `route` now, or say when to ask again."""
        if self.budget.down:
            return Unavailable("engine down")
        state, now = self.budget._route(route, terms), self.budget.clock()
        epoch = str(self.budget.epoch)
        if terms.demand_ttl > 0:
            state.demand[self.member] = (demand, now)
        if state.paused_until > now:
            return Wait(seconds(state.paused_until - now), "paused", epoch)
        if len(state.log) >= terms.limit:
            ordered = sorted(state.log.values())
            oldest = ordered[len(ordered) - terms.limit]
            return Wait(seconds(min(oldest, now) + terms.window - now), "full", epoch)
        if state.granted_at + terms.spacing > now:
            return Wait(seconds(state.granted_at + terms.spacing - now), "paced", epoch)
        if terms.demand_ttl > 0:
            for member, (theirs, at) in list(state.demand.items()):
                if member == self.member:
                    continue
                if at + terms.demand_ttl < now:
                    del state.demand[member]
                elif theirs > demand:
                    return Wait(seconds(max(terms.spacing, 0.05) / 2), "deferred", epoch)
            state.demand[self.member] = (after, now)
        rid = f"{self.member}:{next(self.budget._ids)}"
        state.log[rid] = now + terms.hold
        state.granted_at = now
        return Reservation(route, rid, epoch)

    async def confirm(self, reservation: Reservation, terms: Terms) -> bool:
        """The request ended now."""
        if self.budget.down:
            return False
        state = self.budget._route(reservation.route, terms)
        if reservation.id in state.log:
            state.log[reservation.id] = self.budget.clock()
        return True

    async def cancel(self, reservation: Reservation, terms: Terms) -> bool:
        """The request never left."""
        if self.budget.down:
            return False
        self.budget._route(reservation.route, terms).log.pop(reservation.id, None)
        return True

    async def pause(self, route: str, seconds: float, terms: Terms) -> bool:
        """Nobody sends on `route` for `seconds`."""
        if self.budget.down:
            return False
        state = self.budget._route(route, terms)
        state.paused_until = max(state.paused_until, self.budget.clock() + seconds)
        return True

    async def record(self, route: str, ages: list[float], terms: Terms) -> bool:
        """Count requests sent without the engine."""
        if self.budget.down:
            return False
        state, now = self.budget._route(route, terms), self.budget.clock()
        for age in ages:
            state.log[f"alone:{next(self.budget._ids)}"] = now - age
        return True

    async def used(self, route: str, terms: Terms) -> int | None:
        """Slots of `route` counting now."""
        if self.budget.down:
            return None
        return len(self.budget._route(route, terms).log)

    async def close(self) -> None:
        """Nothing to close."""
