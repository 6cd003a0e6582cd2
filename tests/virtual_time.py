"""Virtual time for the push loop: a clock and a `Wait` that jump ahead at once, running the
inputs scheduled in between, so minutes of the loop's life take milliseconds and every run
is the same; and a model of the CAD's rate-limit window on that clock."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
from collections.abc import Callable

from bridge.outcomes import CallList, GetResult, Meta, PatchResult, Quota, RateLimited, Updated

WINDOW = 60.0
LIMIT = 10
"""The real API's window and its limit of call updates per key."""


class VirtualTime:
    """A settable clock, a timeline of scheduled inputs, and a `Wait` that runs them."""

    def __init__(self, start: float = 0.0, *, limit: int = 200_000) -> None:
        self.now = start
        self.limit = limit
        """Waits allowed in all: more means the loop spins (it would never end on its own)."""
        self.waits: list[float] = []
        """Every wait the loop asked for, in seconds."""
        self._timeline: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def clock(self) -> float:
        """The current virtual time."""
        return self.now

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Run `action` when the virtual clock reaches `when`."""
        heapq.heappush(self._timeline, (when, next(self._order), action))

    def every(self, period: float, action: Callable[[], None], *, until: float) -> None:
        """Run `action` every `period` seconds from now + period up to `until`."""
        when = self.now + period
        while when <= until:
            self.at(when, action)
            when += period

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
            if event is not None and event.is_set():
                return
            when, _, action = heapq.heappop(self._timeline)
            self.now = max(self.now, when)
            action()
        if event is None or not event.is_set():
            self.now = max(self.now, deadline)


class SharedKeyCad:
    """The CAD's strict sliding window of `LIMIT` updates per `WINDOW`, as the stand-in keeps
    it, shared with another integration on the key; each answer takes `latency` seconds."""

    def __init__(self, time: VirtualTime, *, quota_headers: bool, latency: float = 0.3) -> None:
        self.time = time
        self.quota_headers = quota_headers
        self.latency = latency
        self.admitted: list[float] = []
        self.ours: list[float] = []
        self.refused: list[tuple[float, bool]] = []
        """Each 429: when, and whether our own requests alone filled the window."""
        self.drawn: dict[int, tuple[float, float]] = {}
        self.last_quota: Quota | None = None

    def _in_window(self, times: list[float], now: float) -> list[float]:
        return [t for t in times if t > now - WINDOW]

    def spend_external(self) -> None:
        """The neighbour's request: counted whether or not it was refused itself."""
        self.admitted.append(self.time.now)

    async def update_call(self, server_id: int, call_id: int, meta: Meta) -> PatchResult:
        self.time.advance(self.latency / 2)
        now = self.time.now
        used = self._in_window(self.admitted, now)
        result: PatchResult
        if len(used) >= LIMIT:
            self.refused.append((now, len(self._in_window(self.ours, now)) >= LIMIT))
            result = RateLimited(max(1, math.ceil(used[0] + WINDOW - now)), "API rate limit")
        else:
            self.admitted.append(now)
            self.ours.append(now)
            self.drawn[call_id] = (float(meta["x"]), float(meta["y"]))
            result = Updated(call={"callId": call_id, "metaData": meta}, meta=meta)
        used = self._in_window(self.admitted, now)
        self.last_quota = (
            Quota(
                remaining=max(0, LIMIT - len(used)),
                reset_after=math.ceil(used[0] + WINDOW - now) if used else 0,
            )
            if self.quota_headers
            else None
        )
        self.time.advance(self.latency / 2)
        return result

    async def get_calls(self, server_id: int) -> GetResult:
        return CallList(calls={})
