"""The CAD's rate-limit rule, modelled once for the stand-in and the replay benchmark's CAD.

At most `limit` requests in any window of `length` seconds, counted as a closed interval: a
request arriving exactly `length` seconds after another still counts with it. That is the
stricter reading of "N a minute" (the daemon's budget is written against it), so a client that
never sees a 429 here sees none from a server that counts the half-open window either.
"""

from __future__ import annotations

import bisect


class SlidingLog:
    """Arrival times of the requests a route admitted, and the rule that admits the next."""

    def __init__(self, limit: int, length: float) -> None:
        self.limit = limit
        self.length = length
        self.times: list[float] = []

    def used(self, now: float) -> int:
        """Requests that count against the window at `now`: those in [now - length, now]."""
        del self.times[: bisect.bisect_left(self.times, now - self.length)]
        return len(self.times)

    def admits(self, now: float) -> bool:
        """Whether a request arriving at `now` is within the limit (nothing is recorded)."""
        return self.used(now) < self.limit

    def record(self, at: float) -> None:
        """Count a request that arrived at `at` (admitted, or spent by another client)."""
        bisect.insort(self.times, at)

    def wait(self, now: float) -> float:
        """Seconds until the oldest counted request leaves the window (0 when none counts)."""
        return max(0.0, self.times[0] + self.length - now) if self.used(now) else 0.0


def counted_at(times: list[float], at: float, length: float) -> int:
    """How many of the sorted arrival `times` the rule counts in the window ending at `at`."""
    return bisect.bisect_right(times, at) - bisect.bisect_left(times, at - length)


def most_in_window(times: list[float], length: float) -> int:
    """The most of the arrival `times` the rule ever counts at once (the fullest window)."""
    ordered = sorted(times)
    return max((counted_at(ordered, at, length) for at in ordered), default=0)
