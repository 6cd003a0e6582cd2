"""The push loop's gate to a shared budget: no request leaves without a reservation.

Before each request the loop awaits `admit`; after it, `settle`. The local `Budget` keeps its
role (pacing, back-off, this daemon's own count); the engine adds the count of every daemon on
the key. When the engine says wait, or cannot be reached, the gate blocks the local budget until
it may ask again, so the loop sleeps and positions keep coalescing in the tracker meanwhile:
fail closed. With `budget.shared_max_hosts` set, a daemon that has not reached its engine for a
window plus the hold (by then every slot it knew of has expired) sends alone within
limit / max_hosts a window, and hands what it sent to the engine when it is back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import structlog

from bridge import logs
from bridge.budget import Backoff, Budget
from bridge.config import Config, ConfigError
from bridge.outcomes import GetResult, PatchResult, RateLimited, Transient
from bridge.planner import Fetch, Planner, Push
from bridge.shared.engine import (
    Engine,
    MissingClient,
    Reservation,
    Terms,
    Unavailable,
    Wait,
    keyspace,
    longest,
    open_engine,
)
from bridge.shared.url import SharedUrlError, parse

log = structlog.stdlib.get_logger("bridge.shared")

UPDATE, GET = "update_call", "get_calls"
ENGINE_TIMEOUT = 1.0
"""Seconds one engine call may take (both engines' clients are set to it)."""
PAUSE_WINDOWS = 1.0
"""Windows every daemon on the key waits after any one of them drew a 429."""


@dataclass
class Outage:
    """The local share used while the engine is out of reach, and what it spent."""

    budget: Budget
    after: float
    """Seconds without contact before the share may be used (a window plus the hold)."""
    sent: dict[str, list[float]] = field(default_factory=dict)
    """Route -> local end times of requests sent alone, to hand to the engine when it is back."""


class SharedGate:
    """Reserves a shared slot for each request, confirms it at the end, pauses all on a 429."""

    def __init__(
        self,
        engine: Engine,
        terms: dict[str, Terms],
        planner: Planner,
        *,
        clock: Callable[[], float],
        describe: str = "",
        max_hosts: int = 0,
    ) -> None:
        self.engine = engine
        self.terms = terms
        self.planner = planner
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

    def _budget(self, route: str) -> Budget:
        if route == GET:
            assert self.planner.get_budget is not None
            return self.planner.get_budget
        return self.planner.update_budget

    def _demand(self, action: Push | Fetch) -> tuple[float, float]:
        """(this request's priority, what stays wanted once it is served): accumulated error."""
        if isinstance(action, Fetch):
            return 0.0, 0.0
        tracker, threshold = self.planner.tracker, self.planner.settings.min_move
        call = tracker.calls.get(action.key)
        own = call.acc if call is not None else 0.0
        rest = (c.acc for c in tracker if c.key != action.key and c.acc_err >= threshold)
        return own, max(rest, default=0.0)

    async def admit(self, action: Push | Fetch, now: float) -> bool:
        """Whether `action` may go now; if not, the local budget is blocked until it may ask."""
        route = GET if isinstance(action, Fetch) else UPDATE
        terms = self.terms[route]
        demand, after = self._demand(action)
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
        self._budget(route).block_until(until)

    def _unreachable(self, action: Push | Fetch, route: str, reason: str, now: float) -> bool:
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

    async def settle(self, action: Push | Fetch, result: PatchResult | GetResult) -> None:
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
        if self.up is False and self.outage is not None:
            if self.clock() - self.last_contact >= self.outage.after:
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


def gate_from(config: Config, planner: Planner, clock: Callable[[], float]) -> SharedGate | None:
    """The gate `budget.shared_url` asks for, or None for the embedded budget.

    Raises `ConfigError` when the URL is unusable or its engine's client is not installed.
    """
    budget, cad = config.budget, config.cad
    if not budget.shared_url:
        return None
    try:
        location = parse(budget.shared_url)
        engine = open_engine(location, keyspace(cad.api_url, cad.api_key))
    except (SharedUrlError, MissingClient) as exc:
        raise ConfigError(str(exc)) from None
    logs.register_secret(location.password)
    logs.register_secret(raw_password(budget.shared_url))
    terms = {
        UPDATE: terms_for(
            budget.update_call,
            budget.window_seconds,
            budget.margin_seconds,
            cad.timeout_seconds,
            ENGINE_TIMEOUT,
        )
    }
    if budget.get_calls:
        terms[GET] = terms_for(
            budget.get_calls,
            budget.window_seconds,
            budget.margin_seconds,
            cad.timeout_seconds,
            ENGINE_TIMEOUT,
            shared_pace=False,
        )
    return SharedGate(
        engine,
        terms,
        planner,
        clock=clock,
        describe=location.describe(),
        max_hosts=budget.shared_max_hosts,
    )


def raw_password(url: str) -> str:
    """The password as written in the URL (percent-encoded), to be scrubbed from logs too."""
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""
