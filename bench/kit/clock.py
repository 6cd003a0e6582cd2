"""The one virtual clock of the tests and the benchmarks.

A settable clock, a timeline of inputs scheduled at their moments, and a `wait` that jumps
ahead at once, running the inputs that fall due: minutes of the push loop's life take
milliseconds and every run is the same.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Callable


class VirtualTime:
    """A settable clock, a timeline of scheduled inputs, and a push loop `Wait` that runs them.

    Call it (or its `clock` method) for the time: it is the `clock` of the push loop, the
    daemon and the CAD stand-in alike.
    """

    def __init__(self, start: float = 0.0, *, limit: int = 200_000) -> None:
        self.now = start
        self.limit = limit
        """Waits allowed in all: more means the loop spins (it would never end on its own)."""
        self.waits: list[float] = []
        """Every wait the loop asked for, in seconds."""
        self._timeline: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    def clock(self) -> float:
        """The current virtual time."""
        return self.now

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Run `action` when the virtual clock reaches `when`."""
        heapq.heappush(self._timeline, (when, next(self._order), action))

    def every(
        self,
        period: float,
        action: Callable[[], None],
        *,
        until: float,
        start: float | None = None,
    ) -> None:
        """Run `action` every `period` seconds from `start` (default: now + period) to `until`."""
        when = self.now + period if start is None else start
        while when <= until:
            self.at(when, action)
            when += period

    def next_input(self) -> float:
        """When the next scheduled input falls due (inf: none)."""
        return self._timeline[0][0] if self._timeline else math.inf

    def run_due(self) -> bool:
        """Run every input due by now, without moving the clock; whether there was any."""
        ran = False
        while self._timeline and self._timeline[0][0] <= self.now:
            _, _, action = heapq.heappop(self._timeline)
            action()
            ran = True
        return ran

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass, running what falls due (a request that takes this long)."""
        self._run_until(self.now + seconds, None)

    async def wait(self, event: asyncio.Event, seconds: float) -> None:
        """The push loop's `Wait`: up to `seconds`, ending early when an input sets `event`."""
        self.waits.append(seconds)
        if len(self.waits) > self.limit:
            raise AssertionError(f"the loop waited {len(self.waits)} times: it spins")
        self._run_until(self.now + seconds, event)
        await asyncio.sleep(0)  # other tasks still get their turn

    def _run_until(self, deadline: float, event: asyncio.Event | None) -> None:
        while self._timeline and self._timeline[0][0] <= deadline:
            if event is not None and event.is_set() and self._timeline[0][0] > self.now:
                return  # woken: the inputs of this same instant have all arrived
            when, _, action = heapq.heappop(self._timeline)
            self.now = max(self.now, when)
            action()
        if event is None or not event.is_set():
            self.now = max(self.now, deadline)


async def until(condition: Callable[[], bool], within: float = 20.0, every: float = 0.01) -> None:
    """Return once `condition()` holds, looking every `every` seconds of real time.

    The one place tests and benchmarks wait on a real daemon or socket for something to
    happen; TimeoutError after `within` seconds, so a broken condition fails instead of hanging.
    With `every=0` it looks after each turn of the event loop: on virtual time, where a turn
    may move the clock a long way, that stops as soon as the condition holds.
    """
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 - a plain predicate has no event to await
            await asyncio.sleep(every)
