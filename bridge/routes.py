"""The health of each route to the CAD (updates, reads): its back-off after failures, whether
its last answer was a 429, and the spells of 429s and failures it is in.

One `RouteHealth` per route, next to that route's budget: a read failing for good must not
start again from a second each time an update goes through. No I/O and no clock: the planner
hands in the time of each answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bridge.budget import Backoff

RouteName = Literal["update_call", "get_calls"]
SpellKind = Literal["429s", "failed requests"]

_RESOLVED: tuple[tuple[SpellKind, str], ...] = (
    ("429s", "rate_limit_resolved"),
    ("failed requests", "cad_resolved"),
)
"""Each kind of spell, and the alert its end raises (in the order they are raised)."""


@dataclass(slots=True)
class RouteHealth:
    """One route's standing with the CAD."""

    name: RouteName
    fault_backoff: Backoff
    """The back-off after transport failures and 5xx answers on this route."""
    refusing: bool = False
    """The route's last answer was a 429: another is the same spell, not news of a neighbour."""
    spells: dict[SpellKind, tuple[float, int]] = field(default_factory=dict)
    """Kind -> when the spell began and how many answers it has had."""

    def in_spell(self, kind: SpellKind, now: float) -> None:
        """One more answer of a spell of 429s or failures (which begins now if none is on)."""
        since, count = self.spells.get(kind, (now, 0))
        self.spells[kind] = (since, count + 1)

    def answered(self, now: float) -> list[tuple[str, str]]:
        """An answer came through: the route is well again. Returns (alert, message) for each
        spell that has ended; the fault back-off starts again."""
        self.refusing = False
        self.fault_backoff.reset()
        ended = []
        for kind, alert in _RESOLVED:
            spell = self.spells.pop(kind, None)
            if spell is not None:
                since, count = spell
                ended.append(
                    (
                        alert,
                        f"{self.name}: the CAD answers again after {count} {kind} "
                        f"in {now - since:.0f} s",
                    )
                )
        return ended
