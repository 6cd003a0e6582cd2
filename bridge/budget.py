"""Budget arithmetic: at most `limit` requests in any window, plus back-off after refusals."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Exponential back-off: `initial` seconds, doubling to `cap`; `reset()` after a success."""

    initial: float = 6.0
    cap: float = 60.0
    factor: float = 2.0
    _next: float = field(default=0.0, init=False)

    def delay(self) -> float:
        """The next wait, growing on each call."""
        current = self._next or self.initial
        self._next = min(self.cap, current * self.factor)
        return current

    def reset(self) -> None:
        """Start again from `initial`."""
        self._next = 0.0


class Budget:
    """At most `limit` requests in any `window` seconds (a sliding log), never a burst past it.

    Each request occupies the window from its start until `window + margin` seconds after it
    ended: the server saw it arrive somewhere between the two, so counting from the end is safe
    whatever the network did. A request still in flight holds its place indefinitely.
    """

    def __init__(self, limit: int, window: float, margin: float = 1.0) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        if window <= 0:
            raise ValueError(f"window must be > 0, got {window}")
        self.limit = limit
        self.window = window
        self.margin = margin
        self.share = limit
        self._ended: deque[float] = deque()
        self._in_flight = 0
        self._blocked_until = -math.inf
        self._last_refusal = -math.inf
        self._base_quiet = 5 * window
        self._quiet = self._base_quiet
        self._stepped_at = -math.inf

    def _prune(self, now: float) -> None:
        # The occupied span is closed: a request that ended at e still counts at e + window +
        # margin, so that a server counting a closed window never sees limit + 1 (margin 0).
        while self._ended and self._released(self._ended[0]) <= now:
            self._ended.popleft()

    def _released(self, ended: float) -> float:
        """The first instant a request that ended at `ended` no longer counts."""
        return math.nextafter(ended + self.window + self.margin, math.inf)

    def used(self, now: float) -> int:
        """Requests that still count against the window at `now` (in flight included)."""
        self._prune(now)
        return len(self._ended) + self._in_flight

    def next_slot(self, now: float) -> float:
        """The earliest time at or after `now` a request may start (inf: until one ends)."""
        self._recover(now)
        self._prune(now)
        ready = max(now, self._blocked_until)
        if len(self._ended) + self._in_flight < self.share:
            return ready
        # The oldest finished requests leave the window first; in-flight ones hold their place.
        free_needed = len(self._ended) + self._in_flight - self.share + 1
        if free_needed > len(self._ended):
            return math.inf
        return max(ready, self._released(self._ended[free_needed - 1]))

    def available(self, now: float) -> bool:
        """Whether a request may start now."""
        return self.next_slot(now) <= now

    def begin(self, now: float) -> None:
        """Record that a request starts now; it counts until `end()` plus a window."""
        if not self.available(now):
            raise RuntimeError("budget spent: wait for next_slot()")
        self._in_flight += 1

    def end(self, now: float, *, reached_server: bool = True) -> None:
        """Record that a request ended; one that surely never reached the server is not counted."""
        if self._in_flight <= 0:
            raise RuntimeError("end() without begin()")
        self._in_flight -= 1
        if reached_server:
            self._ended.append(now)

    def seed(self, ended: list[float]) -> None:
        """Count requests that ended at these times (a previous run's, read back at start)."""
        self._ended = deque(sorted([*self._ended, *ended]))

    def ended_times(self) -> list[float]:
        """End times of the requests that still count (for keeping across a restart)."""
        return list(self._ended)

    @property
    def in_flight(self) -> int:
        """Requests begun and not yet ended."""
        return self._in_flight

    def block_until(self, until: float) -> None:
        """Send nothing before `until` (Retry-After, a quota reset, an auth pause)."""
        self._blocked_until = max(self._blocked_until, until)

    def blocked_until(self) -> float:
        """The time before which nothing may be sent (-inf when not blocked)."""
        return self._blocked_until

    def refused(self, now: float, *, admitted: int | None = None) -> None:
        """A 429 although our own count allowed the request: someone else shares the key.

        Take one request less per window or, when `admitted` of ours were in the window the
        server refused, keep to that many: the rest of it is the neighbour's. A long quiet spell
        gives requests back one at a time; a step back that draws a 429 soon after doubles the
        spell before the next (up to 8 times), so a neighbour who stays is seldom collided with.
        """
        if now - self._stepped_at <= 2 * (self.window + self.margin):
            self._quiet = min(2 * self._quiet, 8 * self._base_quiet)
        target = self.share - 1
        if admitted:  # none of ours in the window says nothing of the neighbour's rate
            target = min(target, admitted)
        self.share = max(1, target)
        self._last_refusal = now

    def _recover(self, now: float) -> None:
        while self.share < self.limit:
            quiet = self._quiet
            if self._stepped_at == self._last_refusal:  # the step before drew no 429
                quiet = max(self._base_quiet, quiet / 2)
            if now - self._last_refusal < quiet:
                return
            self._quiet = quiet
            self.share += 1
            self._last_refusal += quiet
            self._stepped_at = self._last_refusal
