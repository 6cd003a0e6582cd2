"""Scripted movement for the replay benchmark's harder workloads: where stops and starts matter.

Each subject follows a seeded script on a street grid: runs at a speed, braking for turns and
stops at a set deceleration, standing still for spells, setting off again. Positions are a pure
function of (seed, t). The scripts are the cases the plain fleet is kind to: pursuits that end
in a hard stop, stop-and-go traffic stops, foot chases, and a car that parks for a minute.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass

from bridge.standin import routes
from bridge.standin.routes import GRID_BOX, Position, ground


@dataclass(frozen=True)
class Style:
    """How one kind of subject moves."""

    block: float
    """Metres between intersections."""
    speed: tuple[float, float]
    """Cruising speed range, m/s."""
    accel: float
    brake: float
    turn_speed: float
    """Speed it slows to for a turn."""
    blocks: tuple[int, ...]
    """Blocks run straight before a turn, drawn from these."""
    go: tuple[float, float]
    """Seconds of movement between two stops."""
    stay: tuple[float, float]
    """Seconds a stop lasts."""
    lights: float = 0.0
    """Chance of a short stop (5-30 s) at the end of a run."""


PURSUIT = Style(200.0, (28.0, 42.0), 4.5, 8.0, 12.0, (1, 2, 3, 4, 6), (60.0, 240.0), (60.0, 300.0))
TRAFFIC = Style(200.0, (12.0, 24.0), 2.5, 4.0, 6.0, (1, 2, 3, 5), (40.0, 150.0), (30.0, 180.0), 0.1)
FOOT = Style(40.0, (3.5, 7.0), 3.0, 5.0, 2.0, (1, 1, 2, 3), (20.0, 90.0), (5.0, 60.0))
PARK_A_MINUTE = Style(200.0, (10.0, 24.0), 2.5, 4.0, 6.0, (1, 2, 3, 4), (60.0, 240.0), (55.0, 65.0))


@dataclass(frozen=True, slots=True)
class _Piece:
    """Constant acceleration along a straight line from (x0, y0) in direction (ux, uy)."""

    t0: float
    x0: float
    y0: float
    ux: float
    uy: float
    v0: float
    a: float
    duration: float

    def at(self, t: float) -> tuple[float, float, float]:
        tau = min(max(t - self.t0, 0.0), self.duration)
        s = self.v0 * tau + self.a * tau * tau / 2
        return self.x0 + self.ux * s, self.y0 + self.uy * s, max(0.0, self.v0 + self.a * tau)


class _Script:
    """One subject's pieces, extended as later times are asked for."""

    def __init__(self, rng: random.Random, style: Style) -> None:
        self.rng, self.style = rng, style
        x_min, y_min, x_max, y_max = GRID_BOX
        self.nx = int((x_max - x_min) // style.block)
        self.ny = int((y_max - y_min) // style.block)
        self.ix, self.iy = rng.randint(0, self.nx), rng.randint(0, self.ny)
        self.heading = rng.choice(((1, 0), (-1, 0), (0, 1), (0, -1)))
        self.pieces: list[_Piece] = []
        self.starts: list[float] = []
        self.end = 0.0
        self.x, self.y = self._xy()
        self.v = 0.0
        if rng.random() < 0.5:  # start in a stop, so the subjects do not move in lockstep
            self._piece(0.0, 0.0, rng.uniform(*style.stay) * rng.random())
        self.go_left = rng.uniform(*style.go)

    def _xy(self) -> tuple[float, float]:
        return GRID_BOX[0] + self.ix * self.style.block, GRID_BOX[1] + self.iy * self.style.block

    def _room(self, heading: tuple[int, int]) -> int:
        dx, dy = heading
        if dx:
            return self.nx - self.ix if dx > 0 else self.ix
        return self.ny - self.iy if dy > 0 else self.iy

    def _piece(self, v0: float, a: float, duration: float) -> None:
        ux, uy = self.heading
        piece = _Piece(self.end, self.x, self.y, ux, uy, v0, a, duration)
        self.pieces.append(piece)
        self.starts.append(self.end)
        self.end += duration
        self.x, self.y, _ = piece.at(self.end)

    def _run(self, length: float, cruise: float, v1: float) -> None:
        """`length` metres from the current speed to v1, cruising at most at `cruise`."""
        st, v0 = self.style, self.v
        peak2 = (2 * st.accel * st.brake * length + st.brake * v0 * v0 + st.accel * v1 * v1) / (
            st.accel + st.brake
        )
        vp = max(min(cruise, math.sqrt(peak2)), v0, v1)
        d_acc = (vp * vp - v0 * v0) / (2 * st.accel)
        d_dec = (vp * vp - v1 * v1) / (2 * st.brake)
        if vp > v0:
            self._piece(v0, st.accel, (vp - v0) / st.accel)
        cruise_len = max(0.0, length - d_acc - d_dec)
        if cruise_len > 0 and vp > 0:
            self._piece(vp, 0.0, cruise_len / vp)
        if vp > v1:
            self._piece(vp, -st.brake, (vp - v1) / st.brake)
        self.v = v1

    def _extend(self) -> None:
        rng, st = self.rng, self.style
        if self._room(self.heading) == 0:
            options = [h for h in ((1, 0), (-1, 0), (0, 1), (0, -1)) if self._room(h) > 0]
            self.heading = rng.choice(options)
        blocks = min(self._room(self.heading), rng.choice(st.blocks))
        cruise = rng.uniform(*st.speed)
        start = self.end
        stops = self.go_left <= blocks * st.block / cruise
        light = not stops and rng.random() < st.lights
        v1 = 0.0 if stops or light else min(st.turn_speed, cruise)
        self._run(blocks * st.block, cruise, v1)
        dx, dy = self.heading
        self.ix += dx * blocks
        self.iy += dy * blocks
        self.x, self.y = self._xy()  # exactly on the intersection, whatever the rounding
        self.go_left -= self.end - start
        if stops:
            self._piece(0.0, 0.0, rng.uniform(*st.stay))
            self.go_left = rng.uniform(*st.go)
        elif light:
            self._piece(0.0, 0.0, rng.uniform(5.0, 30.0))
        left, right = (-dy, dx), (dy, -dx)
        turn = left if rng.random() < 0.5 else right
        self.heading = turn if self._room(turn) > 0 else self.heading

    def at(self, t: float) -> tuple[float, float, float]:
        while self.end <= t:
            self._extend()
        i = max(0, bisect_right(self.starts, t) - 1)
        return self.pieces[i].at(t)


class Scripted(routes.Scripted):
    """`count` subjects moving in `style`, deterministic for a seed (a `bench.sim.MovingFleet`)."""

    def __init__(self, count: int, style: Style, *, seed: int) -> None:
        self.subjects = [f"player:{i}" for i in range(1, count + 1)]
        self._scripts = [
            _Script(random.Random(f"scripted:{seed}:{i}"), style) for i in range(1, count + 1)
        ]


class Still:
    """`count` subjects that never move: what the budget banks when nothing needs a push."""

    def __init__(self, count: int, *, seed: int) -> None:
        rng = random.Random(f"still:{seed}")
        self.subjects = [f"player:{i}" for i in range(1, count + 1)]
        self._at = [(rng.uniform(-3000, 3400), rng.uniform(-3000, 7000)) for _ in self.subjects]

    def positions(self, t: float) -> list[Position]:
        """Every subject's (subject, x, y, z): the same at every t."""
        return [(s, x, y, ground(x, y)) for s, (x, y) in zip(self.subjects, self._at, strict=True)]

    def speeds(self, t: float) -> list[tuple[str, float]]:
        """Every subject's speed: zero."""
        return [(s, 0.0) for s in self.subjects]
