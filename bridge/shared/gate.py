"""The push loop's gate to a shared budget: no request leaves without a reservation.

Before each request the loop awaits `admit`; after it, `settle`. The local `Budget` keeps its
role (pacing, back-off, this daemon's own count); the engine adds the count of every daemon on
the key. When the engine says wait, or cannot be reached, the gate blocks the local budget until
it may ask again, so the loop sleeps and positions keep coalescing in the tracker meanwhile:
fail closed. With `budget.shared_max_hosts` set, a daemon that has not reached its engine for a
window plus the hold (by then every slot it knew of has expired) sends alone within
limit / max_hosts a window, and hands what it sent to the engine when it is back.

The gate knows requests only through the `Claim` its caller makes of each (the route and how
much the slot is wanted) and the local budgets it blocks: `bridge.build` ties it to the planner.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NamedTuple, TypeVar

import structlog

from bridge.budget import Backoff, Budget
from bridge.outcomes import GetResult, PatchResult, RateLimited, Transient
from bridge.shared.engine import Engine, Reservation, Terms, Unavailable, Wait, longest

log = structlog.stdlib.get_logger("bridge.shared")

UPDATE, GET = "update_call", "get_calls"
ENGINE_TIMEOUT = 1.0
"""Seconds one engine call may take (both engines' clients are set to it)."""
PAUSE_WINDOWS = 1.0
"""Windows every daemon on the key waits after any one of them drew a 429."""


class Claim(NamedTuple):
    """What one request asks of the shared budget."""

    route: str
    """`UPDATE` or `GET`."""
    demand: float = 0.0
    """How much this daemon wants the slot (its call's accumulated error, metre-seconds)."""
    after: float = 0.0
    """How much it will still want once this request is served."""


Request = TypeVar("Request")
"""Whatever the push loop sends: the gate only holds it by identity and asks for its `Claim`."""


@dataclass
class Outage:
    """The local share used while the engine is out of reach, and what it spent."""

    budget: Budget
    after: float
    """Seconds without contact before the share may be used (a window plus the hold)."""
    sent: dict[str, list[float]] = field(default_factory=dict)
    """Route -> local end times of requests sent alone, to hand to the engine when it is back."""


class SharedGate(Generic[Request]):
    """Reserves a shared slot for each request, confirms it at the end, pauses all on a 429.

    `budgets`: route -> the local budget blocked while the engine says wait; `claim`: what a
    request asks of the shared budget.
    """

    def __init__(
        self,
        engine: Engine,
        terms: dict[str, Terms],
        budgets: Mapping[str, Budget],
        claim: Callable[[Request], Claim],
        *,
        clock: Callable[[], float],
        describe: str = "",
        max_hosts: int = 0,
    ) -> None:
        self.engine = engine
        self.terms = terms
        self.budgets = budgets
        self.claim = claim
        self.clock = clock
        self.describe = describe
        self.up: bool | None = None
        """None before the first answer; False while the engine cannot be reached."""
        self.last_contact = clock()
        """A fresh start counts as contact: slots taken by a predecessor may still count."""
        self.last_error: str | None = None
        self.epochs: dict[str, str] = {}
        """Route -> the engine's state this daemon has been counting in (see `Wait.epoch`)."""
        self.waits: Counter[str] = Counter()
        self.reserved = 0
        self.local_sends = 0
        self._held: dict[int, tuple[Reservation | None, str]] = {}
        self._reported: set[str] = set()
        """Malformed engine entries and capped waits logged already (each once)."""
        self._retry = Backoff(initial=0.25, cap=5.0)
        update = terms[UPDATE]
        self.outage = (
            Outage(
                Budget(max(1, update.limit // max_hosts), update.window, 0.0),
                after=update.window + update.hold,
            )
            if max_hosts
            else None
        )

    async def admit(self, action: Request, now: float) -> bool:
        """Whether `action` may go now; if not, the local budget is blocked until it may ask."""
        route, demand, after = self.claim(action)
        terms = self.terms[route]
        answer = await self.engine.reserve(route, terms, demand=demand, after=after)
        now = self.clock()
        if isinstance(answer, Unavailable):
            return self._unreachable(action, route, answer.reason, now)
        await self._contact(now)
        self._report_skipped(route, answer.skipped)
        if self._forgotten(route, answer.epoch):
            await self._wait_out_lost_window(route, answer, now)
            return False
        if isinstance(answer, Wait):
            self.waits[answer.reason] += 1
            # A daemon waiting on a full window asks again within the demand's lifetime, so
            # its demand stays live for the slot that frees.
            wait = self._capped(route, answer, terms)
            if answer.reason == "full" and terms.demand_ttl:
                wait = min(wait, terms.demand_ttl / 2)
            self._refuse(route, now + max(wait, 0.01))
            return False
        self.reserved += 1
        self._held[id(action)] = (answer, route)
        return True

    def _capped(self, route: str, answer: Wait, terms: Terms) -> float:
        """The wait, at most `longest(terms)`: a bad value in the shared store (a pause years
        ahead) must not stop this daemon until it is restarted. Logged once per reason."""
        cap = longest(terms)
        if answer.seconds <= cap:
            return answer.seconds
        self._report(
            f"wait:{route}:{answer.reason}",
            "the shared budget asked for a wait past the cap; waiting the cap instead",
            route=route,
            reason=answer.reason,
            asked_seconds=round(answer.seconds),
            cap_seconds=round(cap, 1),
        )
        return cap

    def _report_skipped(self, route: str, skipped: tuple[str, ...]) -> None:
        for entry in skipped:
            self._report(
                f"skip:{route}:{entry}",
                "skipped a malformed entry in the shared budget (another writer, or a bad "
                "edit, put it there); logged once",
                route=route,
                entry=entry[:200],
            )

    def _report(self, key: str, event: str, **fields: Any) -> None:
        if key in self._reported or len(self._reported) >= 100:
            return
        self._reported.add(key)
        log.warning(event, engine=self.describe, **fields)

    def _forgotten(self, route: str, epoch: str) -> bool:
        """Whether the engine's state of `route` is not the one this daemon spoke to before."""
        known = self.epochs.get(route, "")
        self.epochs[route] = epoch or known
        return bool(known and epoch and epoch != known)

    async def _wait_out_lost_window(
        self, route: str, answer: Reservation | Wait, now: float
    ) -> None:
        """The engine forgot who sent what: nobody sends until all of that has expired.

        The first daemon to see the new state gives back its slot and pauses every route for a
        window plus the hold; the others find the pause.
        """
        if isinstance(answer, Reservation):
            await self.engine.cancel(answer, self.terms[route])
        if not (isinstance(answer, Wait) and answer.reason == "paused"):
            for name, terms in self.terms.items():
                await self.engine.pause(name, terms.window + terms.hold, terms)
        log.warning(
            "the shared budget forgot its window (restarted without persistence?): every "
            "daemon on the key waits until what it had counted has expired",
            engine=self.describe,
        )
        self._refuse(route, now + 0.01)

    def _refuse(self, route: str, until: float) -> None:
        # Choosing changed nothing, so a refused slot leaves the pacing as it was.
        self.budgets[route].block_until(until)

    def _unreachable(self, action: Request, route: str, reason: str, now: float) -> bool:
        if self.up is not False:
            log.warning(
                "shared budget unreachable: sending nothing until it answers; positions keep "
                "coalescing",
                engine=self.describe,
                reason=reason,
            )
        self.up = False
        self.last_error = reason
        outage = self.outage
        if outage is not None and now - self.last_contact >= outage.after:
            if outage.budget.available(now):
                outage.budget.begin(now)
                self._held[id(action)] = (None, route)
                self.local_sends += 1
                return True
            self._refuse(route, outage.budget.next_slot(now))
            return False
        self._refuse(route, now + self._retry.delay())
        return False

    async def _contact(self, now: float) -> None:
        self.last_contact = now
        self._retry.reset()
        if self.up is False:
            log.warning("resolved", detail=f"shared budget reachable again ({self.describe})")
            await self._hand_over(now)
        self.up = True
        self.last_error = None

    async def _hand_over(self, now: float) -> None:
        """Tell the engine what was sent alone during the outage, so it counts it."""
        outage = self.outage
        if outage is None or not outage.sent:
            return
        for route, ended in list(outage.sent.items()):
            terms = self.terms[route]
            ages = [now - e for e in ended if now - e <= terms.window]
            if not ages or await self.engine.record(route, ages, terms):
                del outage.sent[route]

    async def settle(self, action: Request, result: PatchResult | GetResult) -> None:
        """The request ended: confirm its slot (or give it back), and pause all on a 429."""
        held, route = self._held.pop(id(action), (None, ""))
        if not route:
            return
        terms = self.terms[route]
        now = self.clock()
        never_left = isinstance(result, Transient) and not result.reached_server
        if held is None:  # sent alone during an outage
            assert self.outage is not None
            self.outage.budget.end(now, reached_server=not never_left)
            if not never_left:
                self.outage.sent.setdefault(route, []).append(now)
        elif never_left:
            await self.engine.cancel(held, terms)
        else:
            # Unconfirmed (the engine went away meanwhile), it counts until the hold ends.
            await self.engine.confirm(held, terms)
        if isinstance(result, RateLimited):
            pause = max(PAUSE_WINDOWS * terms.window, result.retry_after or 0.0)
            await self.engine.pause(route, pause, terms)
            log.warning("paused every daemon on the key", route=route, seconds=round(pause, 1))

    def abandon(self) -> None:
        """Forget reservations at shutdown: held, they expire by themselves after the hold."""
        self._held.clear()

    def status(self) -> dict[str, Any]:
        """The gate's state for the status output."""
        state = "connecting" if self.up is None else ("up" if self.up else "unreachable")
        if (
            self.up is False
            and self.outage is not None
            and self.clock() - self.last_contact >= self.outage.after
        ):
            state = "local share"
        return {
            "engine": self.describe,
            "state": state,
            "reserved": self.reserved,
            "waits": dict(self.waits),
            "local_sends": self.local_sends,
            "last_error": self.last_error,
            "seconds_since_contact": round(max(0.0, self.clock() - self.last_contact), 1),
        }


def terms_for(
    limit: int,
    window: float,
    margin: float,
    timeout: float,
    engine_timeout: float,
    *,
    pace: float = 0.85,
    shared_pace: bool = True,
) -> Terms:
    """The terms of one route: the hold outlasts the request and the reserve's round trip."""
    spacing = pace * window / limit if shared_pace else 0.0
    return Terms(
        limit=limit,
        window=window + margin,
        hold=timeout + engine_timeout + margin + 1.0,
        spacing=spacing,
        demand_ttl=2 * spacing if shared_pace else 0.0,
    )
