"""The health of each route to the CAD (updates, reads): its back-off after failures, whether
its last answer was a 429, and the spells of 429s and failures it is in.

One `RouteHealth` per route, next to that route's budget: a read failing for good must not
start again from a second each time an update goes through. `Health` holds them, the key's
standing (refused or not) and the back-offs, and folds each answer's news of the route into
the budgets. No I/O and no clock: the planner hands in the time of each answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from bridge.actions import Alert, AlertKind
from bridge.budget import Backoff, Budget
from bridge.outcomes import (
    AuthFailed,
    CallList,
    GetResult,
    Gone,
    PatchResult,
    RateLimited,
    Transient,
    Updated,
)

RouteName = Literal["update_call", "get_calls"]
SpellKind = Literal["429s", "failed requests"]

_RESOLVED: tuple[tuple[SpellKind, AlertKind], ...] = (
    ("429s", AlertKind.RATE_LIMIT_RESOLVED),
    ("failed requests", AlertKind.CAD_RESOLVED),
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

    def answered(self, now: float) -> list[tuple[AlertKind, str]]:
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


@dataclass(slots=True)
class Health:
    """The routes' health and the key's: what each answer says of the CAD, not of a call."""

    rate_backoff: Backoff
    """The wait after a 429 that named none, doubling on each more."""
    auth_backoff: Backoff
    """The wait of every route while the CAD refuses the key, doubling while it does."""
    fault_backoff: tuple[float, float]
    """(first, cap) of each route's back-off after failures."""
    routes: dict[RouteName, RouteHealth] = field(default_factory=dict)
    auth_failing: bool = False

    def configure(
        self, rate: tuple[float, float], auth: tuple[float, float], fault: tuple[float, float]
    ) -> None:
        """New back-offs (first, cap), starting again."""
        self.rate_backoff, self.auth_backoff = Backoff(*rate), Backoff(*auth)
        self.fault_backoff = fault
        for route in self.routes.values():
            route.fault_backoff = Backoff(*fault)

    def route(self, name: RouteName) -> RouteHealth:
        """The health of a route, made on its first answer."""
        if name not in self.routes:
            self.routes[name] = RouteHealth(name, Backoff(*self.fault_backoff))
        return self.routes[name]

    def fold(
        self,
        route: RouteHealth,
        budget: Budget,
        budgets: list[Budget],
        result: PatchResult | GetResult,
        now: float,
    ) -> list[Alert]:
        """What an answer on `route` (paced by `budget`; `budgets`: every route's, the update
        route's first) says of the CAD: waits, spells and the alerts they raise or end."""
        alerts: list[Alert] = []
        match result:
            case RateLimited(retry_after=retry_after):
                if not route.refusing:
                    # Ours in the window the CAD refused, this one aside: the rest is another's.
                    budget.refused(now, admitted=budget.used(now) - 1)
                    route.refusing = True
                wait = retry_after if retry_after is not None else self.rate_backoff.delay()
                budget.block_until(now + wait)
                route.in_spell("429s", now)
            case AuthFailed(status=status, detail=detail, trace=trace):
                first, *others = budgets
                first.block_until(now + self.auth_backoff.delay())
                for other in others:
                    other.block_until(first.blocked_until())
                if not self.auth_failing:
                    self.auth_failing = True
                    detail = f"HTTP {status}: {detail}"
                    alerts.append(Alert(AlertKind.AUTH_FAILED, detail, None, trace))
            case Transient():
                budget.block_until(now + route.fault_backoff.delay())
                route.in_spell("failed requests", now)
            case Updated() | CallList() | Gone():
                # A Rejected is no news of the route: it says one call's update was refused,
                # not that the CAD stopped limiting or failing; those waits stand.
                alerts.extend(Alert(alert, message) for alert, message in route.answered(now))
                self.rate_backoff.reset()
                if self.auth_failing:
                    self.auth_failing = False
                    self.auth_backoff.reset()
                    resolved = "the CAD accepts the API key again"
                    alerts.append(Alert(AlertKind.AUTH_RESOLVED, resolved))
        return alerts
