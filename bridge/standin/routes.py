"""Deterministic movement for the demo's simulated game and the benchmark: a street-grid fleet.

Everything here is a pure function of its inputs (a seed) and the time asked for, so the
simulated game server and the replay benchmark see the same movement on every run. Itineraries
are built lazily, one leg at a time, and looked up by bisection, so asking for every subject's
position every simulated second stays cheap. Recorded tracks (GPX, CSV) are the benchmark's:
`bench.tracks`.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

Position = tuple[str, float, float, float]
"""(subject, x, y, z) in game metres."""

MAP_BOX = (-4000.0, -4000.0, 4500.0, 8000.0)
"""(x_min, y_min, x_max, y_max): roughly the drivable part of the GTA V map."""

BLOCK = 200.0
"""Metres between two parallel streets of the grid."""
GRID_BOX = (-3000.0, -3000.0, 3400.0, 7000.0)
"""Where the grid's intersections lie: inside the map box, away from its edges."""
ACCEL = 2.5
BRAKE = 3.5
TURN_SPEED = 6.0
"""Metres per second a car slows to for a turn at an intersection."""
STRAIGHTS = (1, 1, 2, 2, 3, 4, 6, 8)
"""Blocks a straight runs before its turn, drawn alike from these."""
LIGHT_ODDS = 0.12
"""The chance of a stop at a light at the end of a straight (in a fleet that parks)."""


def ground(x: float, y: float) -> float:
    """A gently rolling ground height, so z is not constant."""
    return 30.0 + 15.0 * math.sin(x / 900.0) * math.cos(y / 1300.0)


@dataclass(frozen=True, slots=True)
class _Leg:
    """A straight run between two intersections with a trapezoid speed profile (or a stop)."""

    t0: float
    x0: float
    y0: float
    ux: float
    uy: float
    v0: float
    vp: float
    v1: float
    t_acc: float
    t_cruise: float
    t_dec: float

    @property
    def duration(self) -> float:
        return self.t_acc + self.t_cruise + self.t_dec

    def at(self, t: float) -> tuple[float, float, float]:
        """(x, y, speed) at absolute time t within the leg."""
        tau = min(max(t - self.t0, 0.0), self.duration)
        if tau <= self.t_acc:
            s = self.v0 * tau + ACCEL * tau * tau / 2
            v = self.v0 + ACCEL * tau
        else:
            s = self.v0 * self.t_acc + ACCEL * self.t_acc**2 / 2
            tau -= self.t_acc
            if tau <= self.t_cruise:
                s += self.vp * tau
                v = self.vp
            else:
                s += self.vp * self.t_cruise
                tau -= self.t_cruise
                s += self.vp * tau - BRAKE * tau * tau / 2
                v = self.vp - BRAKE * tau
        return self.x0 + self.ux * s, self.y0 + self.uy * s, v


def _stop(t0: float, x: float, y: float, seconds: float) -> _Leg:
    return _Leg(t0, x, y, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, seconds, 0.0)


def _run(
    t0: float,
    x: float,
    y: float,
    ux: float,
    uy: float,
    length: float,
    v0: float,
    cruise: float,
    v1: float,
) -> _Leg:
    """A leg of `length` metres from speed v0 to v1, cruising at most at `cruise`."""
    peak2 = (2 * ACCEL * BRAKE * length + BRAKE * v0 * v0 + ACCEL * v1 * v1) / (ACCEL + BRAKE)
    vp = max(min(cruise, math.sqrt(peak2)), v0, v1)
    d_acc = (vp * vp - v0 * v0) / (2 * ACCEL)
    d_dec = (vp * vp - v1 * v1) / (2 * BRAKE)
    t_cruise = max(0.0, length - d_acc - d_dec) / vp if vp > 0 else 0.0
    return _Leg(t0, x, y, ux, uy, v0, vp, v1, (vp - v0) / ACCEL, t_cruise, (vp - v1) / BRAKE)


class _Driver:
    """One subject's itinerary, extended leg by leg as later times are asked for."""

    def __init__(self, rng: random.Random, moving_share: float, speed: tuple[float, float]) -> None:
        self.rng = rng
        self.moving_share = moving_share
        self.speed = speed
        x_min, y_min, x_max, y_max = GRID_BOX
        self.nx = int((x_max - x_min) // BLOCK)
        self.ny = int((y_max - y_min) // BLOCK)
        self.ix = rng.randint(0, self.nx)
        self.iy = rng.randint(0, self.ny)
        self.heading = self._open_heading(rng.choice(((1, 0), (-1, 0), (0, 1), (0, -1))))
        self.legs: list[_Leg] = []
        self.starts: list[float] = []
        self.end = 0.0
        self.v = 0.0
        self._hint = 0
        self.drive_left = math.inf
        if moving_share < 1.0:
            # Start somewhere in the drive/park cycle so the fleet does not move in lockstep.
            if rng.random() >= moving_share:
                self._append(_stop(0.0, *self._xy(), self._park_seconds() * rng.random()))
            self.drive_left = self._drive_seconds() * (rng.random() if not self.legs else 1.0)

    def _drive_seconds(self) -> float:
        return self.rng.uniform(90.0, 630.0)

    def _park_seconds(self) -> float:
        if self.moving_share <= 0.0:
            return math.inf
        mean = 360.0 * (1.0 - self.moving_share) / self.moving_share
        return mean * self.rng.uniform(0.2, 1.8)

    def _xy(self) -> tuple[float, float]:
        return GRID_BOX[0] + self.ix * BLOCK, GRID_BOX[1] + self.iy * BLOCK

    def _room(self, heading: tuple[int, int]) -> int:
        """Blocks the grid has ahead in this direction."""
        dx, dy = heading
        if dx:
            return self.nx - self.ix if dx > 0 else self.ix
        return self.ny - self.iy if dy > 0 else self.iy

    def _open_heading(self, preferred: tuple[int, int]) -> tuple[int, int]:
        if self._room(preferred) > 0:
            return preferred
        options = [h for h in ((1, 0), (-1, 0), (0, 1), (0, -1)) if self._room(h) > 0]
        return self.rng.choice(options)

    def _append(self, leg: _Leg) -> None:
        self.legs.append(leg)
        self.starts.append(leg.t0)
        self.end = leg.t0 + leg.duration

    def _extend(self) -> None:
        rng = self.rng
        if self.drive_left <= 0.0:
            self._append(_stop(self.end, *self._xy(), self._park_seconds()))
            self.v = 0.0
            self.drive_left = self._drive_seconds()
            return
        blocks = min(self._room(self.heading), rng.choice(STRAIGHTS))
        cruise = rng.uniform(*self.speed)
        # Longer straights are the bigger roads: let them run faster.
        cruise = min(self.speed[1], cruise * (1.0 + 0.05 * blocks))
        self.straight(blocks, cruise)

    def straight(
        self, blocks: int, cruise: float, light: bool | None = None, wait: float | None = None
    ) -> None:
        """Drive `blocks` blocks ahead cruising at most at `cruise`, stop at a light at their
        end or park there as the drive's time says, and turn. `light` and `wait` are drawn
        (in that order, after the straight's own draws) unless given."""
        rng = self.rng
        x, y = self._xy()
        ux, uy = self.heading
        guess = blocks * BLOCK / cruise + cruise / ACCEL
        parks = guess >= self.drive_left
        if self.moving_share >= 1.0 or parks:
            light = False
        elif light is None:
            light = rng.random() < LIGHT_ODDS
        v1 = 0.0 if parks or light else min(TURN_SPEED, cruise)
        leg = _run(self.end, x, y, ux, uy, blocks * BLOCK, self.v, cruise, v1)
        self._append(leg)
        self.drive_left -= leg.duration
        self.ix += ux * blocks
        self.iy += uy * blocks
        self.v = v1
        if light:
            wait = rng.uniform(5.0, 40.0) if wait is None else wait
            self._append(_stop(self.end, *self._xy(), wait))
            self.drive_left -= wait
        left, right = (-uy, ux), (uy, -ux)
        turn = left if rng.random() < 0.5 else right
        self.heading = self._open_heading(turn if self._room(turn) > 0 else (ux, uy))

    def at(self, t: float) -> tuple[float, float, float]:
        """(x, y, speed) at time t."""
        while self.end <= t:
            self._extend()
        i = self._hint
        if not (self.starts[i] <= t and (i + 1 == len(self.starts) or t < self.starts[i + 1])):
            i = max(0, bisect_right(self.starts, t) - 1)
            self._hint = i
        return self.legs[i].at(t)


class Script(Protocol):
    """One subject's movement: where it is and how fast it goes at time t."""

    def at(self, t: float) -> tuple[float, float, float]:
        """(x, y, speed over the ground in m/s) at time t >= 0 seconds."""
        ...


class Scripted:
    """Subjects each moved by a `Script`: where they are and how fast they go at any time."""

    subjects: list[str]
    _scripts: Sequence[Script]

    def positions(self, t: float) -> list[Position]:
        """Every subject's (subject, x, y, z) at time t >= 0 seconds."""
        found = []
        for subject, script in zip(self.subjects, self._scripts, strict=True):
            x, y, _ = script.at(t)
            found.append((subject, x, y, ground(x, y)))
        return found

    def speeds(self, t: float) -> list[tuple[str, float]]:
        """Every subject's speed over the ground (m/s) at time t."""
        return [(s, sc.at(t)[2]) for s, sc in zip(self.subjects, self._scripts, strict=True)]


class Fleet(Scripted):
    """Subjects that drive and park on a street grid inside the GTA V map box.

    Deterministic for a seed: positions are a pure function of (seed, t), whatever order
    times are asked in.

    Driving is straight runs of one to eight blocks with braking for a turn at the end,
    accelerating out of it, and (when `moving_share` < 1) stops at lights and parking spells of
    variable length, sized so that about `moving_share` of the fleet is driving at any moment.
    """

    def __init__(
        self,
        count: int,
        *,
        seed: int,
        moving_share: float = 0.5,
        speed: tuple[float, float] = (8.0, 25.0),
    ) -> None:
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        if not 0.0 <= moving_share <= 1.0:
            raise ValueError(f"moving_share must be within 0..1, got {moving_share}")
        if not 0.0 < speed[0] <= speed[1]:
            raise ValueError(f"speed must be (low, high) with 0 < low <= high, got {speed}")
        self.seed = seed
        self.subjects = [f"player:{i}" for i in range(1, count + 1)]
        self._scripts = [
            _Driver(random.Random(f"fleet:{seed}:{i}"), moving_share, speed)
            for i in range(1, count + 1)
        ]
