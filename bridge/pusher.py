"""The push loop: the I/O shell around `bridge.driver.Driver`.

It asks the driver what to request when a slot opens, makes the request through the CAD client,
and hands the typed answer back; the decisions are all the driver's (and the planner's under it).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Protocol

import structlog

from bridge.driver import Answer, Driver, ListAnswer, PatchAnswer, Request, Sleep, failed
from bridge.outcomes import (
    Answered,
    AuthFailed,
    CallList,
    GetResult,
    Gone,
    Meta,
    PatchResult,
    RateLimited,
    Rejected,
    Transient,
    Updated,
)
from bridge.planner import Alert, Fetch, Notice, Planner, Push
from bridge.protocol import DISPATCH

log = structlog.stdlib.get_logger("bridge.pusher")

_IDLE_RECHECK = 1.0
"""Seconds between looks at the planner when nothing woke the loop: errors grow with time too."""


Wait = Callable[[asyncio.Event, float], Awaitable[None]]
"""Returns when the event is set or the seconds have passed: the loop's only way to wait."""


async def wait_for_input(event: asyncio.Event, seconds: float) -> None:
    """The real `Wait`: on the event loop's clock."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


class Cad(Protocol):
    """The part of the CAD client the push loop uses: each answer comes with its quota."""

    async def update_call(
        self, server_id: int, call_id: int, meta: Meta, postal: str | None = None
    ) -> Answered[PatchResult]: ...

    async def get_calls(self, server_id: int) -> Answered[GetResult]: ...


class Gate(Protocol):
    """A check every request passes before it leaves, and is reported to when it ends.

    A gate that says no blocks the planner's budget until it may be asked again.
    """

    async def admit(self, action: Push | Fetch, now: float) -> bool: ...

    async def settle(self, action: Push | Fetch, result: PatchResult | GetResult) -> None: ...
OnResult = Callable[[Push | Fetch, PatchResult | GetResult, float, float], None]
"""Called with (action, result, began, ended) once a request has been folded in."""


class PushLoop:
    """Runs the planner's requests one at a time, within the budget, until stopped.

    `on_event` gets what the planner has to tell; `on_spent` is called when a request begins
    and when it ends, the moments the budget's counts change; `on_result` gets each finished
    request with its answer and when it began and ended (for the status page and metrics).
    `clock` and `wait` are the loop's only sense of time: tests give it virtual ones and run
    it without sleeping.
    """

    def __init__(
        self,
        planner: Planner,
        cad: Cad,
        *,
        clock: Callable[[], float],
        on_event: Callable[[Notice | Alert], None],
        on_spent: Callable[[], None] | None = None,
        gate: Gate | None = None,
        on_result: OnResult | None = None,
        wait: Wait = wait_for_input,
    ) -> None:
        self.planner = planner
        self.cad = cad
        self.clock = clock
        self.on_event = on_event
        self.on_spent = on_spent
        self.gate = gate
        self.on_result = on_result
        self._wait = wait
        self.driver = Driver(planner)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    @property
    def requests(self) -> int:
        """Requests begun since the loop was made."""
        return self.driver.requests

    @property
    def in_flight(self) -> Request | None:
        """The request awaiting its answer, if any."""
        return self.driver.in_flight

    def wake(self) -> None:
        """Something changed (positions, tracks): look again now."""
        self._wake.set()

    def stop(self) -> None:
        """Finish the request in flight, then return from `run`."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Loop until `stop()`; a later `run` goes on from there (a benchmark runs in legs)."""
        while not self._stopping.is_set():
            try:
                delay = await self.step()
            except Exception:
                # A bug in one step must not end all pushing while connections are still taken.
                log.exception("push loop step failed; going on")
                delay = _IDLE_RECHECK
            if delay is not None:
                await self._sleep(delay)
        self._stopping.clear()

    async def step(self) -> float | None:
        """Ask the driver once and carry out the request it asks for, if a slot is open.

        Returns None after a request (look again at once), else how long to wait for input or
        the next slot: `run` waits that long at most, and never less than a moment.
        """
        now = self.clock()
        asked = self.driver.step(now)
        if isinstance(asked, Sleep):
            return 0.0 if asked.until is None else asked.until - now
        if self.gate is not None and not await self.gate.admit(asked, now):
            return None  # the gate blocked the planner's budget: look again at its next slot
        await self._carry_out(asked, self.clock() if self.gate else now)
        return None

    async def _sleep(self, seconds: float) -> None:
        self._wake.clear()
        # A slot open now with nothing worth it means: wait for input, not spin.
        delay = _IDLE_RECHECK if not 0 < seconds < _IDLE_RECHECK else seconds
        await self._wait(self._wake, delay)

    async def _carry_out(self, request: Request, now: float) -> None:
        self.driver.begin(request, now)
        if self.on_spent is not None:
            self.on_spent()
        if isinstance(request, Push):
            server_id, kind, call_id = request.key
            context: dict[str, int | str] = {"server_id": server_id, "call_id": call_id}
            if kind != DISPATCH:
                context["kind"] = kind
        else:
            context = {"server_id": request.server_id}
        with structlog.contextvars.bound_contextvars(**context):
            try:
                answer = await self._ask(request, now)
            except asyncio.CancelledError:
                # Abandoned mid-flight at shutdown: it may have reached the CAD, so it counts.
                abandoned = Transient("abandoned at shutdown", reached_server=True)
                self._finish(failed(request, abandoned, now, self.clock()))
                raise
            except Exception as exc:  # a bug below must not stop the loop or lose the slot
                log.exception("request failed unexpectedly")
                error = Transient(f"client error: {type(exc).__name__}", reached_server=True)
                answer = failed(request, error, now, self.clock())
            self._finish(answer)
            if self.on_result is not None:
                self.on_result(request, answer.result, now, answer.ended)
            if self.gate is not None:
                await self.gate.settle(request, answer.result)

    async def _ask(self, request: Request, began: float) -> Answer:
        """Make the request; its answer carries the quota the CAD reported with it."""
        if isinstance(request, Push):
            server_id, kind, call_id = request.key
            # A 911 call's postal rides in its metaData (the planner put it there).
            postal = request.postal if kind == DISPATCH else None
            patched = await self.cad.update_call(server_id, call_id, request.meta, postal)
            return PatchAnswer(request, patched.result, patched.quota, began, self.clock())
        listed = await self.cad.get_calls(request.server_id)
        return ListAnswer(request, listed.result, listed.quota, began, self.clock())

    def _finish(self, answer: Answer) -> None:
        outcome = self.driver.complete(answer)
        if self.on_spent is not None:
            self.on_spent()
        _log_outcome(answer)
        for event in outcome.events:
            self.on_event(event)


def _log_outcome(answer: Answer) -> None:
    result = answer.result
    call_id = answer.push.key[2] if isinstance(answer, PatchAnswer) else None
    # The ids Sonoran's support asks for ride on every failure's line.
    trace = {} if isinstance(result, Updated | CallList) else dict(result.trace)
    match result:
        case Updated() if isinstance(answer, PatchAnswer):
            push = answer.push
            log.debug("pushed", call_id=call_id, x=round(push.x, 1), y=round(push.y, 1))
        case CallList(calls=calls, emergency=emergency, closed=closed):
            log.info("fetched calls", active=len(calls), emergency=len(emergency),
                     closed=len(closed))  # fmt: skip
        case RateLimited(retry_after=retry_after):
            log.warning(
                "rate limited by the CAD", call_id=call_id, retry_after=retry_after, **trace
            )
        case Transient(reason=reason):
            log.warning("CAD request failed, will retry", call_id=call_id, reason=reason, **trace)
        case Rejected(status=status, detail=detail):
            log.error(
                "CAD rejected the update, dropped it",
                call_id=call_id, status=status, detail=detail, **trace,
            )  # fmt: skip
        case Gone(detail=detail, what="server"):
            log.warning("the CAD does not know the server id (404)", detail=detail, **trace)
        case Gone(detail=detail, what="unknown") if call_id is not None:
            log.warning(
                "404 for the update, reading the list of calls to tell why",
                call_id=call_id, detail=detail, **trace,
            )  # fmt: skip
        case Gone(detail=detail):
            log.info(
                "call is gone from the CAD, stopped following",
                call_id=call_id, detail=detail, **trace,
            )  # fmt: skip
        case AuthFailed(status=status):
            # The planner raises one alert for the whole spell; each answer's ids go here.
            log.debug("the CAD refused the API key", status=status, **trace)
