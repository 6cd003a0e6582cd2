"""Where other subjects went from where a subject is now: the roads as the followed subjects
drove them.

Each followed subject's path is kept as its fixes put it, a point every two seconds (the
position its last fix predicts, `tracker.Fix.at`), for the last `KEEP` seconds, per game
server, with a coarse grid of cells to find who passed near a point (about 300 kB a
subject). When a mover is about to be pushed, `Trails.ahead` finds the passes other subjects
made near where it is, going its way, long enough ago that where each went over the pin's
expected hold is known, and returns those futures, each moved to start where the mover is.
`median` is where the pin goes: the point nearest, summed over time, to all of them. On a
route many drive (a bus line, the road to the hospital, the highway out of the city) the pin
then follows the road's turns and stops; where too few have passed, nothing is returned and
the lead rules stand.

Pure state; time is an argument.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable
from itertools import islice
from typing import Protocol

from bridge.habits import Sighting
from bridge.motion import STOPPED

KEEP = 1800.0
"""Seconds of each subject's path kept."""
SPACING = 2.0
"""Seconds between two points of a path."""
SWEEP = 60.0
"""Seconds between two sweeps of the points older than `KEEP`."""
CELL = 40.0
"""Metres per side of the grid's cells."""
NEAR = 40.0
"""Metres from the mover within which another subject's point counts as a pass."""
ALIGNED = 0.85
"""Least cosine of the angle between the mover's direction and the passing subject's."""
PASSES = 3
"""Latest passes taken from each other subject (a route driven again and again)."""
AGREED = 3
"""Passes there must be before their futures are taken: one or two may be a coincidence (cars
that crossed the same street and went their own ways; on the benchmark's grids two passes cost
`all-moving-10` 0.4 %, three nothing)."""
APART = 5.0
"""Seconds between two points of a subject near the mover that start another pass."""
GAP = 120.0
"""Seconds between two fixes past which the path between them is not filled in: unknown."""
ITERATIONS = 40
"""Weiszfeld steps of `median`."""

Point = tuple[float, float, float, float, float]
"""(t, x, y, vx, vy): where a subject was at a whole second, and how it moved."""


class Fixed(Sighting, Protocol):
    """A fix as the trails read it (`bridge.tracker.Fix`): a sighting, and where it puts its
    subject at a later time."""

    def at(self, now: float) -> tuple[float, float]: ...


Key = tuple[int, str]
"""(game server, subject)."""
Cell = tuple[int, int, int]
"""(game server, column, row) of the grid."""


class Trails:
    """The followed subjects' paths of the last `KEEP` seconds, per game server."""

    def __init__(self) -> None:
        self._paths: dict[Key, list[Point]] = {}
        self._cells: dict[Cell, list[tuple[str, Point]]] = {}
        """The points on the move in each cell, by subject (a standing point is part of its
        path, never a pass)."""
        self._swept = -math.inf

    def __len__(self) -> int:
        """Points kept, over every subject."""
        return sum(len(path) for path in self._paths.values())

    def note(self, server_id: int, subject: str, before: Fixed | None, fix: Fixed) -> None:
        """Add the path from the subject's fix `before` to its new `fix`: a point every
        `SPACING` seconds from the one, where it puts the subject (none across a silence over
        `GAP`); every `SWEEP` seconds, drop the points older than `KEEP`."""
        if before is not None and fix.t - before.t <= GAP:
            path = self._paths.setdefault((server_id, subject), [])
            moving = math.hypot(before.vx, before.vy) >= STOPPED
            at = SPACING * math.ceil(before.t / SPACING)
            if path and at <= path[-1][0]:
                at = path[-1][0] + SPACING
            while at < fix.t:
                x, y = before.at(at)
                point = (at, x, y, before.vx, before.vy)
                path.append(point)
                if moving:
                    cell = (server_id, math.floor(x / CELL), math.floor(y / CELL))
                    self._cells.setdefault(cell, []).append((subject, point))
                at += SPACING
        if fix.t - self._swept >= SWEEP:
            self._forget(fix.t - KEEP)
            self._swept = fix.t

    def _forget(self, before: float) -> None:
        """Drop the points older than `before`."""
        for cell, points in list(self._cells.items()):
            kept = [entry for entry in points if entry[1][0] >= before]
            if not kept:
                del self._cells[cell]
            elif len(kept) < len(points):
                self._cells[cell] = kept
        for key, path in list(self._paths.items()):
            if not path or path[-1][0] < before:
                del self._paths[key]
            elif path[0][0] < before:
                del path[: bisect_left(path, before, key=_time)]

    def ahead(
        self,
        server_id: int,
        subject: str,
        x: float,
        y: float,
        vx: float,
        vy: float,
        hold: float,
    ) -> list[tuple[float, float]]:
        """Where other subjects went over `hold` seconds from their passes near (x, y) going
        the way (vx, vy) points, each moved to start at (x, y), a point every `SPACING` s; empty
        when fewer than `AGREED` passed there that way long enough ago to know."""
        speed = math.hypot(vx, vy)
        if speed < STOPPED or hold < SPACING:
            return []
        ux, uy = vx / speed, vy / speed
        near: defaultdict[str, list[Point]] = defaultdict(list)
        cx, cy = math.floor(x / CELL), math.floor(y / CELL)
        reach = math.ceil(NEAR / CELL)
        for i in range(cx - reach, cx + reach + 1):
            for j in range(cy - reach, cy + reach + 1):
                for other, point in self._cells.get((server_id, i, j), ()):
                    if other != subject and _passes(point, x, y, ux, uy):
                        near[other].append(point)
        futures: list[tuple[float, float]] = []
        passes = 0
        for other, points in near.items():
            path = self._paths.get((server_id, other))
            if path is None:
                continue
            known = path[-1][0]
            for start in _latest_passes(points, x, y):
                if start[0] + hold <= known:
                    futures.extend(_after(path, start, hold, x - start[1], y - start[2]))
                    passes += 1
        if passes < AGREED:
            return []
        return futures


def _passes(point: Point, x: float, y: float, ux: float, uy: float) -> bool:
    """Whether the point is near (x, y) and moving the way (ux, uy) points."""
    _, px, py, pvx, pvy = point
    if math.hypot(px - x, py - y) > NEAR:
        return False
    speed = math.hypot(pvx, pvy)
    return speed >= STOPPED and pvx * ux + pvy * uy >= ALIGNED * speed


def _latest_passes(points: list[Point], x: float, y: float) -> list[Point]:
    """The point nearest (x, y) of each of the latest `PASSES` passes among one subject's
    points near it (a pass ends where the next point near is over `APART` seconds later)."""
    points.sort()
    passes: list[list[Point]] = []
    for k, point in enumerate(points):
        if k == 0 or point[0] - points[k - 1][0] > APART:
            passes.append([])
        passes[-1].append(point)
    return [min(run, key=lambda p: math.hypot(p[1] - x, p[2] - y)) for run in passes[-PASSES:]]


def _after(
    path: list[Point], start: Point, hold: float, dx: float, dy: float
) -> Iterable[tuple[float, float]]:
    """The path's points over `hold` seconds after `start`, moved by (dx, dy)."""
    end = start[0] + hold
    for t, px, py, _, _ in islice(path, bisect_right(path, start[0], key=_time), None):
        if t > end:
            break
        yield px + dx, py + dy


def _time(point: Point) -> float:
    return point[0]


def median(points: list[tuple[float, float]]) -> tuple[float, float]:
    """The point with the least summed distance to `points` (Weiszfeld's iteration from their
    mean)."""
    n = len(points)
    x = sum(p[0] for p in points) / n
    y = sum(p[1] for p in points) / n
    for _ in range(ITERATIONS):
        wx = wy = w = 0.0
        for px, py in points:
            d = max(math.hypot(px - x, py - y), 1e-3)
            wx += px / d
            wy += py / d
            w += 1.0 / d
        x, y = wx / w, wy / w
    return x, y
