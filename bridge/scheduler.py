"""Which call to refresh when a request slot opens: policies shared by daemon and benchmark."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from bridge.budget import Budget
from bridge.tracker import Call, CallKey, Fix

STARVING_SLOTS = 5
"""How many paced slots before its stale cap a call is served first."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A call that could be pushed now, with the figures policies choose by."""

    call: Call
    fix: Fix
    error: float
    """Metres between the subject and where the CAD draws the call."""
    age: float
    """Seconds since the call was last pushed (or since tracking began)."""
    acc: float
    """Error integrated over time since the last push (metre-seconds); for a standing subject,
    at least its error times the stand its habit says is left (`bridge.habits.ranked`)."""
    stale: float = 0.0
    """Seconds the call has been drawn off its subject (at least min_move metres) unpushed."""
    wait: float = 0.0
    """Seconds until the call's next turn is expected (square-root law over the movers)."""


class Policy(Protocol):
    """Chooses the call to push from the candidates, or None to leave the slot unspent.

    Choosing changes nothing: a choice may come to nothing (a shared budget says wait, a read
    goes first). What a policy remembers of its pushes it learns from `spent`, which the
    planner calls when a push really begins.
    """

    name: str

    def choose(self, candidates: Sequence[Candidate], now: float) -> Candidate | None:
        """The candidate to push now, or None."""
        ...

    def spent(self, key: CallKey, now: float) -> None:
        """A push of the call `key` began at `now`."""
        ...


@runtime_checkable
class BudgetAware(Protocol):
    """A policy that paces itself against the budget the planner spends."""

    def bind(self, budget: Budget) -> None:
        """Use this budget's window and share to pace."""
        ...

    def ready_at(self) -> float:
        """The earliest time the policy would spend a slot again."""
        ...


class RoundRobin:
    """What a naive integration does: every call in turn, moved or not."""

    name = "round-robin"

    def __init__(self) -> None:
        self._last: dict[CallKey, float] = {}

    def choose(self, candidates: Sequence[Candidate], now: float) -> Candidate | None:
        """The call whose turn it is (the one served longest ago)."""
        if not candidates:
            return None
        return min(candidates, key=lambda c: (self._last.get(c.call.key, -math.inf), c.call.key))

    def spent(self, key: CallKey, now: float) -> None:
        """The call was served now: its next turn comes after every other's."""
        self._last[key] = now


class _Forgetful:
    """A policy that chooses from the figures alone, remembering nothing of its pushes."""

    def spent(self, key: CallKey, now: float) -> None:
        """Nothing to remember."""


class OldestFirst(_Forgetful):
    """The moved call that has waited longest since its last push."""

    name = "oldest-first"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def choose(self, candidates: Sequence[Candidate], now: float) -> Candidate | None:
        """The oldest candidate whose error is at least the threshold."""
        moved = [c for c in candidates if c.error >= self.threshold]
        return max(moved, key=lambda c: c.age, default=None)


class GreedyError(_Forgetful):
    """The call drawn furthest from its subject right now."""

    name = "greedy-error"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def choose(self, candidates: Sequence[Candidate], now: float) -> Candidate | None:
        """The candidate with the largest current error, if above the threshold."""
        moved = [c for c in candidates if c.error >= self.threshold]
        return max(moved, key=lambda c: c.error, default=None)


class Accumulator(_Forgetful):
    """The priority accumulator: the largest error area since the last push goes next."""

    name = "accumulator"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def choose(self, candidates: Sequence[Candidate], now: float) -> Candidate | None:
        """The candidate with the largest accumulated error, if its error is above the threshold."""
        moved = [c for c in candidates if c.error >= self.threshold]
        return max(moved, key=lambda c: c.acc, default=None)


class PacedAccumulator:
    """The daemon's policy: paced, capped, the largest error area since the last push first.

    - Only calls drawn at least `threshold` metres off their subject are worth a slot; when
      none is, the slot is left unspent (banked for a later burst, or for others on the key).
    - Slots are spent at most one per `pace` x the budget's even spacing. A sliding-log budget
      would allow its whole window in one burst, and once burst, slots reopen in bursts every
      window forever: two pushes of one call seconds apart buy little, then all wait a minute.
    - A call stale for nearly `max_stale` seconds (drawn off a subject that moved, unpushed)
      goes first, so no moving call starves; otherwise the largest accumulated error, which
      refreshes each call at a rate proportional to the square root of its speed.
    """

    name = "paced-accumulator"

    def __init__(self, threshold: float, max_stale: float, *, pace: float = 0.85) -> None:
        self.threshold = threshold
        self.max_stale = max_stale
        self.pace = pace
        self._budget: Budget | None = None
        self._spent_at = -math.inf

    def bind(self, budget: Budget) -> None:
        """Pace the slots against this budget (the planner binds its update budget)."""
        self._budget = budget

    def ready_at(self) -> float:
        """When the pacing lets the next slot be spent."""
        return self._spent_at + self._spacing()

    def _spacing(self) -> float:
        """Seconds between two pushes when paced; 0 when not bound to a budget."""
        if self._budget is None:
            return 0.0
        return self.pace * self._budget.window / self._budget.share

    def choose(self, candidates: Sequence[Candidate], now: float) -> Candidate | None:
        """A call about to exceed the stale cap; else the largest accumulated error; or None."""
        spacing = self._spacing()
        if now - self._spent_at < spacing:
            return None
        moved = [c for c in candidates if c.error >= self.threshold]
        if not moved:
            return None
        # Start serving a stale call a few slots before its cap, so a queue of them still fits.
        starving = [c for c in moved if c.stale >= self.max_stale - STARVING_SLOTS * spacing]
        if starving:
            return max(starving, key=lambda c: c.stale)
        return max(moved, key=lambda c: c.acc)

    def spent(self, key: CallKey, now: float) -> None:
        """A push began: the next waits a paced spacing from now."""
        self._spent_at = now
