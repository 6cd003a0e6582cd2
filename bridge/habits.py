"""What one subject's own fixes say of how far it goes straight before it turns.

Learned online, fix by fix, from what the resource sends (`bridge.tracker.Tracker.observe`
hands each new fix the habit of the one before). Pure state, time passed in as an argument.
`bridge.placement` reads it to size a pushed call's lead: a subject that turns every few
seconds gets a short one, a car on long roads the one a straight road would get.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

TURNED = 1.2
"""Radians (about 70 degrees) the direction of travel must change within `WITHIN` seconds for a
straight run to have ended in a turn: a corner, not a road that bends."""
WITHIN = 5.0
"""Seconds a turn takes at most: a direction that drifts more slowly is a bend, and the run
goes on along it."""
MOVING = 2.0
"""Metres per second above which a fix tells of a run's direction."""
RUNS = 8
"""Straight runs remembered (the latest): habits change with the roads."""
LEARNED = 3
"""Straight runs seen before their length is taken as the subject's habit."""


class Moving(Protocol):
    """A fix as the habit reads it (`bridge.tracker.Fix`)."""

    @property
    def x(self) -> float: ...
    @property
    def y(self) -> float: ...
    @property
    def t(self) -> float: ...
    @property
    def vx(self) -> float: ...
    @property
    def vy(self) -> float: ...


@dataclass(slots=True)
class Habit:
    """One subject's latest straight runs, as its fixes showed them."""

    runs: deque[float] = field(default_factory=lambda: deque(maxlen=RUNS))
    """Metres of the latest straight runs, each from where it began to the turn that ended it."""
    start: tuple[float, float] | None = None
    """Where the current straight run began (None before the first fix on the move)."""
    headings: deque[tuple[float, float]] = field(default_factory=deque)
    """(time, direction of travel in radians) of the current run's fixes on the move of the last
    `WITHIN` seconds, and the latest one before them."""

    def note(self, fix: Moving) -> None:
        """Learn from one more fix of the subject."""
        if math.hypot(fix.vx, fix.vy) < MOVING:
            return  # standing or creeping: no direction to speak of, and a run goes on after it
        heading = math.atan2(fix.vy, fix.vx)
        if self.start is None:
            self.start = (fix.x, fix.y)
        elif any(_angle(heading, then) > TURNED for _, then in self.headings):
            self.runs.append(math.hypot(fix.x - self.start[0], fix.y - self.start[1]))
            self.start = (fix.x, fix.y)
            self.headings.clear()
        self.headings.append((fix.t, heading))
        while len(self.headings) > 1 and fix.t - self.headings[1][0] > WITHIN:
            self.headings.popleft()

    @property
    def run(self) -> float | None:
        """Metres the subject usually goes straight before it turns; None until learned."""
        if len(self.runs) < LEARNED:
            return None
        return sum(self.runs) / len(self.runs)


def _angle(a: float, b: float) -> float:
    """Radians between two directions."""
    return abs((a - b + math.pi) % (2 * math.pi) - math.pi)


def persistence(run: float, speed: float, hold: float) -> float:
    """Seconds of straight projection that put a pin at the time-average of where a subject is
    expected over the next `hold` seconds, if it turns at random about every `run` metres.

    A turn goes left or right alike, so after one the subject's expected progress along its old
    direction stops: with turns at a rate of 1/D (D = run / speed seconds) the expected position
    runs out as D (1 - e^(-t/D)) times the velocity, and its mean over the hold is
    D (1 - D/hold (1 - e^(-hold/D))) seconds of it. On a straight road (D much longer than the
    hold) that is half the hold.
    """
    if speed <= 0.0 or hold <= 0.0 or run <= 0.0:
        return 0.0
    d = run / speed
    return d * (1.0 - d / hold * (1.0 - math.exp(-hold / d)))
