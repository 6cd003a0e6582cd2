"""Where other subjects went from where a subject is now: the roads as the followed subjects
drove them.

Each followed subject's path is kept as its fixes put it, one point a second (the position its
last fix predicts, `tracker.Fix.at`), for the last `KEEP` seconds, per game server, with a
coarse grid of cells to find who passed near a point. When a mover is about to be pushed,
`Trails.ahead` finds the passes other subjects made near where it is, going its way, long
enough ago that where each went over the pin's expected hold is known, and returns those
futures, each moved to start where the mover is. `median` is where the pin goes: the point
nearest, summed over time, to all of them. On a route many drive (a bus line, the road to the
hospital, the highway out of the city) the pin then follows the road's turns and stops; where
nobody has passed, nothing is returned and the lead rules stand.

Pure state; time is an argument.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

from bridge.habits import Sighting
from bridge.motion import STOPPED

KEEP = 1800.0
"""Seconds of each subject's path kept."""
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


@dataclass(slots=True)
class _Path:
    """One subject's points, oldest first."""

    points: list[Point] = field(default_factory=list)
    times: list[float] = field(default_factory=list)


Key = tuple[int, str]
"""(game server, subject)."""


class Trails:
    """The followed subjects' paths of the last `KEEP` seconds, per game server."""

    def __init__(self) -> None:
        self._paths: dict[Key, _Path] = {}
        self._cells: defaultdict[tuple[int, int, int], deque[tuple[str, Point]]] = defaultdict(
            deque
        )
        self._order: deque[tuple[float, tuple[int, int, int] | None]] = deque()
        """Every point's time and cell (None: standing, not indexed), in the order added."""

    def __len__(self) -> int:
        """Points kept, over every subject."""
        return len(self._order)

    def note(self, server_id: int, subject: str, before: Fixed | None, fix: Fixed) -> None:
        """Add the path from the subject's fix `before` to its new `fix`: a point at each whole
        second from the one, where it puts the subject (none across a silence over `GAP`)."""
        if before is None or fix.t - before.t > GAP:
            return
        path = self._paths.setdefault((server_id, subject), _Path())
        moving = math.hypot(before.vx, before.vy) >= STOPPED
        second = math.ceil(before.t)
        if path.times and second <= path.times[-1]:
            second = int(path.times[-1]) + 1
        while second < fix.t:
            x, y = before.at(second)
            point = (float(second), x, y, before.vx, before.vy)
            path.points.append(point)
            path.times.append(float(second))
            cell = None
            if moving:  # a standing point is part of the path, never a pass
                cell = (server_id, math.floor(x / CELL), math.floor(y / CELL))
                self._cells[cell].append((subject, point))
            self._order.append((float(second), cell))
            second += 1
        self._forget(fix.t - KEEP)

    def _forget(self, before: float) -> None:
        """Drop the points older than `before`."""
        while self._order and self._order[0][0] < before:
            _, cell = self._order.popleft()
            if cell is None:
                continue
            points = self._cells[cell]
            points.popleft()
            if not points:
                del self._cells[cell]
        for key in [k for k, p in self._paths.items() if not p.times or p.times[-1] < before]:
            del self._paths[key]
        for path in self._paths.values():
            if path.times[0] < before - KEEP:  # trim in bulk, not at every point
                cut = bisect_left(path.times, before)
                del path.points[:cut], path.times[:cut]

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
        the way (vx, vy) points, each moved to start at (x, y), one point a second; empty
        when fewer than `AGREED` passed there that way long enough ago to know."""
        speed = math.hypot(vx, vy)
        if speed < STOPPED or hold < 1.0:
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
            known = path.times[-1]
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
    path: _Path, start: Point, hold: float, dx: float, dy: float
) -> Iterable[tuple[float, float]]:
    """The path's points over `hold` seconds after `start`, moved by (dx, dy)."""
    k = bisect_left(path.times, start[0])
    end = start[0] + hold
    for t, px, py, _, _ in path.points[k + 1 :]:
        if t > end:
            break
        yield px + dx, py + dy


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
