"""Which call to refresh when a request slot opens: policies shared by daemon and benchmark."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bridge.tracker import Call, Fix


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
    """Error integrated over time since the last push (metre-seconds)."""


class Policy(Protocol):
    """Chooses the call to push from the candidates, or None to leave the slot unspent."""

    name: str

    def choose(self, candidates: Sequence[Candidate], now: float) -> Candidate | None:
        """The candidate to push now, or None."""
        ...


class RoundRobin:
    """What a naive integration does: every call in turn, moved or not."""

    name = "round-robin"

    def __init__(self) -> None:
        self._last: dict[tuple[int, int], float] = {}

    def choose(self, candidates: Sequence[Candidate], now: float) -> Candidate | None:
        """The call whose turn it is (the one served longest ago)."""
        if not candidates:
            return None
        pick = min(candidates, key=lambda c: (self._last.get(c.call.key, -math.inf), c.call.key))
        self._last[pick.call.key] = now
        return pick


class OldestFirst:
    """The moved call that has waited longest since its last push."""

    name = "oldest-first"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def choose(self, candidates: Sequence[Candidate], now: float) -> Candidate | None:
        """The oldest candidate whose error is at least the threshold."""
        moved = [c for c in candidates if c.error >= self.threshold]
        return max(moved, key=lambda c: c.age, default=None)


class GreedyError:
    """The call drawn furthest from its subject right now."""

    name = "greedy-error"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def choose(self, candidates: Sequence[Candidate], now: float) -> Candidate | None:
        """The candidate with the largest current error, if above the threshold."""
        moved = [c for c in candidates if c.error >= self.threshold]
        return max(moved, key=lambda c: c.error, default=None)


class Accumulator:
    """The priority accumulator: the largest error area since the last push goes next."""

    name = "accumulator"

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def choose(self, candidates: Sequence[Candidate], now: float) -> Candidate | None:
        """The candidate with the largest accumulated error, if its error is above the threshold."""
        moved = [c for c in candidates if c.error >= self.threshold]
        return max(moved, key=lambda c: c.acc, default=None)


class Bridge:
    """The daemon's policy: accumulated error, a stale cap so no moving call starves."""

    name = "bridge"

    def __init__(self, threshold: float, max_stale: float) -> None:
        self.threshold = threshold
        self.max_stale = max_stale

    def choose(self, candidates: Sequence[Candidate], now: float) -> Candidate | None:
        """A starving call first; otherwise the largest accumulated error above the threshold."""
        moved = [c for c in candidates if c.error >= self.threshold]
        if not moved:
            return None
        starving = [c for c in moved if c.age >= self.max_stale]
        if starving:
            return max(starving, key=lambda c: c.age)
        return max(moved, key=lambda c: c.acc)
