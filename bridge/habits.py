"""What one subject's own fixes say of how it moves: how far it goes straight before it turns,
and how long it stands when it stops.

Learned online, fix by fix, from what the resource sends (`bridge.tracker.Tracker.observe`
hands each new fix the habit of the one before). Pure state, time passed in as an argument.
`bridge.placement` reads it to size a pushed call's lead: a subject that turns every few
seconds gets a short one, a car on long roads the one a straight road would get. The planner
reads it to rank a standing subject's call (`ranked`): one that usually stands long is pushed
as it stops, one that usually sets off again soon is not pushed for a pause.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

from bridge.motion import STOPPED, Kinematic

TURNED = 1.2
"""Radians (about 70 degrees) the direction of travel must change within `WITHIN` seconds for a
straight run to have ended in a turn: a corner, not a road that bends."""
WITHIN = 5.0
"""Seconds a turn takes at most: a direction that drifts more slowly is a bend, and the run
goes on along it."""
STANDING = STOPPED
"""Metres per second under which a subject stands: where the resource's motion model says so."""
MOVING = 2.0
"""Metres per second above which a fix tells of a run's direction."""
RUNS = 8
"""Straight runs remembered (the latest): habits change with the roads."""
LEARNED = 3
"""Straight runs seen before their length is taken as the subject's habit."""
LEARNED_STANDS = 2
"""Stands seen before their length is."""
SETTING_OFF = 15.0
"""Seconds a pin pushed while its subject stands goes on serving once it sets off: it starts
from rest, on the pin, and takes a while to get away (tuned on the tuning seeds: 10, 15, 20
and 30 s were tried; `foot-chase` gains most, about 3 %)."""


class Sighting(Kinematic, Protocol):
    """A fix as the habit reads it (`bridge.tracker.Fix`): where and how fast, and when."""

    @property
    def t(self) -> float: ...


@dataclass(slots=True)
class Habit:
    """One subject's latest straight runs, as its fixes showed them."""

    runs: deque[float] = field(default_factory=lambda: deque(maxlen=RUNS))
    """Metres of the latest straight runs, each from where it began to the turn that ended it."""
    start: tuple[float, float] | None = None
    """Where the current straight run began (None before the first fix on the move)."""
    stands: deque[float] = field(default_factory=lambda: deque(maxlen=RUNS))
    """Seconds of the latest stands, each from the first fix standing to the first moving."""
    stood: float | None = None
    """When the current stand began (None: on the move, or not seen yet)."""
    headings: deque[tuple[float, float]] = field(default_factory=deque)
    """(time, direction of travel in radians) of the current run's fixes on the move of the last
    `WITHIN` seconds, and the latest one before them."""

    def note(self, fix: Sighting) -> None:
        """Learn from one more fix of the subject."""
        speed = math.hypot(fix.vx, fix.vy)
        if speed < STANDING:
            # A stand counts from the first fix standing after one on the move (one seen from
            # the start has no known beginning); it does not end a straight run.
            if self.stood is None and self.start is not None:
                self.stood = fix.t
            return
        if self.stood is not None:
            self.stands.append(fix.t - self.stood)
            self.stood = None
        if speed < MOVING:
            return  # creeping: no direction to speak of, and a run goes on after it
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

    def straight_ahead(self, x: float, y: float) -> float | None:
        """Metres the subject at (x, y) is expected to go on straight before it turns: the mean
        of how far its remembered runs went on past the distance this one has gone."""
        if len(self.runs) < LEARNED or self.start is None:
            return None
        gone = math.hypot(x - self.start[0], y - self.start[1])
        longer = [run - gone for run in self.runs if run > gone]
        if not longer:
            return sum(self.runs) / len(self.runs)
        return sum(longer) / len(longer)

    def stand_left(self, now: float) -> float | None:
        """Seconds the subject is expected to stand on from `now`: how long its remembered
        stands that outlasted this one so far went on past it (past them all: as long again as
        it has stood, and at least its longest); None when not standing, or before it has shown
        `LEARNED_STANDS` stands."""
        if self.stood is None or len(self.stands) < LEARNED_STANDS:
            return None
        so_far = now - self.stood
        longer = [stand - so_far for stand in self.stands if stand > so_far]
        if not longer:
            return max(so_far, max(self.stands))
        return sum(longer) / len(longer)


def _angle(a: float, b: float) -> float:
    """Radians between two directions."""
    return abs((a - b + math.pi) % (2 * math.pi) - math.pi)


def persistence(run: float, speed: float, hold: float) -> float:
    """Seconds of straight projection that put a pin at the time-average of where a subject is
    expected over the pin's life, if it turns at random about every `run` metres.

    The pin lives until the next push (`hold` seconds away) or until the subject turns, which
    comes first: a turn is sent by the resource as it happens, the call's error grows from
    there, and the schedule pushes it again, so where the subject goes after a corner is the
    next pin's to draw. With turns at a rate of 1/D (D = run / speed seconds) the subject is
    still on its straight at time t with odds e^(-t/D), so the pin's life is spent on the
    straight and its time-average is the mean of that life: D - hold / (e^(hold/D) - 1)
    seconds of velocity. On a straight road (D much longer than the hold) that is half the
    hold; for a subject that turns every few seconds, about those seconds.
    """
    if speed <= 0.0 or hold <= 0.0 or run <= 0.0:
        return 0.0
    d = run / speed
    return d - hold / math.expm1(min(hold / d, 700.0))


def ranked(acc: float, error: float, habit: Habit, speed: float, now: float) -> float:
    """The figure a call is ranked by for the next slot (`bridge.scheduler`'s accumulated
    error area, metre-seconds), given its subject's habit.

    A subject standing still is worth at least what a push saves over the rest of its stand:
    its error times the seconds its habit says it will stand on, and `SETTING_OFF` seconds
    more for the while it is still near the pin once it moves. A parked car is pushed as it
    parks, not once its error area has grown; a runner who pauses a few seconds is pushed for
    it only when that beats its area. Any other call keeps its area.
    """
    if speed >= STANDING:
        return acc
    left = habit.stand_left(now)
    return acc if left is None else max(acc, error * (left + SETTING_OFF))
