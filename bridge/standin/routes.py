"""Deterministic movement for stand-ins and the benchmark: a street-grid fleet, or a replayed track.

Everything here is a pure function of its inputs (a seed, a track) and the time asked for, so the
simulated game server and the replay benchmark see the same movement on every run. Itineraries
are built lazily, one leg at a time, and looked up by bisection, so asking for every subject's
position every simulated second stays cheap.
"""

from __future__ import annotations

import csv
import math
import random
import xml.etree.ElementTree as ET
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Literal

Position = tuple[str, float, float, float]
"""(subject, x, y, z) in game metres."""

Track = list[tuple[float, float, float]]
"""(t seconds from start, x, y) in game metres, t increasing."""

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
EARTH_RADIUS = 6_371_000.0


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
        blocks = min(self._room(self.heading), rng.choice((1, 1, 2, 2, 3, 4, 6, 8)))
        cruise = rng.uniform(*self.speed)
        # Longer straights are the bigger roads: let them run faster.
        cruise = min(self.speed[1], cruise * (1.0 + 0.05 * blocks))
        x, y = self._xy()
        ux, uy = self.heading
        guess = blocks * BLOCK / cruise + cruise / ACCEL
        parks = guess >= self.drive_left
        light = self.moving_share < 1.0 and not parks and rng.random() < 0.12
        v1 = 0.0 if parks or light else min(TURN_SPEED, cruise)
        leg = _run(self.end, x, y, ux, uy, blocks * BLOCK, self.v, cruise, v1)
        self._append(leg)
        self.drive_left -= leg.duration
        self.ix += ux * blocks
        self.iy += uy * blocks
        self.v = v1
        if light:
            wait = rng.uniform(5.0, 40.0)
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


class Fleet:
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
        self._drivers = [
            _Driver(random.Random(f"fleet:{seed}:{i}"), moving_share, speed)
            for i in range(1, count + 1)
        ]

    def positions(self, t: float) -> list[Position]:
        """Every subject's (subject, x, y, z) at time t >= 0 seconds."""
        found = []
        for subject, driver in zip(self.subjects, self._drivers, strict=True):
            x, y, _ = driver.at(t)
            found.append((subject, x, y, ground(x, y)))
        return found

    def speeds(self, t: float) -> list[tuple[str, float]]:
        """Every subject's speed over the ground (m/s) at time t."""
        return [(s, d.at(t)[2]) for s, d in zip(self.subjects, self._drivers, strict=True)]


AtEnd = Literal["bounce", "loop", "hold"]


class TraceFleet:
    """Subjects that replay one recorded track, each starting at a different offset into it.

    At the track's end a subject drives it back (`bounce`, the default: no teleport), jumps to
    its start (`loop`) or stays put (`hold`).
    """

    def __init__(
        self,
        track: Sequence[tuple[float, float, float]],
        count: int,
        *,
        seed: int = 0,
        at_end: AtEnd = "bounce",
    ) -> None:
        if len(track) < 2:
            raise ValueError("a track needs at least two points")
        self.times = [p[0] - track[0][0] for p in track]
        if any(b <= a for a, b in pairwise(self.times)):
            raise ValueError("track times must increase")
        self.xs = [p[1] for p in track]
        self.ys = [p[2] for p in track]
        self.duration = self.times[-1]
        self.at_end = at_end
        self.subjects = [f"player:{i}" for i in range(1, count + 1)]
        rng = random.Random(f"trace:{seed}")
        # Evenly spread starts, jittered, so subjects stop and move at different moments.
        spacing = self.duration / max(1, count)
        self.offsets = [(i + rng.random() * 0.5) * spacing for i in range(count)]

    def _local(self, t: float) -> tuple[float, float]:
        """(time into the track, direction: +1 forward, -1 driving it back, 0 held)."""
        d = self.duration
        if self.at_end == "hold":
            return (t, 1.0) if t < d else (d, 0.0)
        if self.at_end == "loop":
            return t % d, 1.0
        phase = t % (2 * d)
        return (phase, 1.0) if phase <= d else (2 * d - phase, -1.0)

    def _at(self, t: float) -> tuple[float, float, float]:
        tau, direction = self._local(t)
        i = min(max(bisect_right(self.times, tau) - 1, 0), len(self.times) - 2)
        t0, t1 = self.times[i], self.times[i + 1]
        f = (tau - t0) / (t1 - t0)
        dx, dy = self.xs[i + 1] - self.xs[i], self.ys[i + 1] - self.ys[i]
        speed = math.hypot(dx, dy) / (t1 - t0) * abs(direction)
        return self.xs[i] + f * dx, self.ys[i] + f * dy, speed

    def positions(self, t: float) -> list[Position]:
        """Every subject's (subject, x, y, z) at time t >= 0 seconds."""
        found = []
        for subject, offset in zip(self.subjects, self.offsets, strict=True):
            x, y, _ = self._at(t + offset)
            found.append((subject, x, y, ground(x, y)))
        return found

    def speeds(self, t: float) -> list[tuple[str, float]]:
        """Every subject's speed over the ground (m/s) at time t."""
        return [(s, self._at(t + o)[2]) for s, o in zip(self.subjects, self.offsets, strict=True)]


def _into_map_box(track: Track) -> Track:
    """Shift a track so its bounding box is centred in the GTA map box."""
    xs = [p[1] for p in track]
    ys = [p[2] for p in track]
    x_min, y_min, x_max, y_max = MAP_BOX
    dx = (x_min + x_max) / 2 - (min(xs) + max(xs)) / 2
    dy = (y_min + y_max) / 2 - (min(ys) + max(ys)) / 2
    return [(t, x + dx, y + dy) for t, x, y in track]


def _increasing(track: Track) -> Track:
    """Drop points whose time does not advance (duplicates in recorded logs)."""
    kept: Track = []
    for point in track:
        if not kept or point[0] > kept[-1][0]:
            kept.append(point)
    return kept


def load_gpx(path: str | Path) -> Track:
    """A GPX track as (t seconds from start, x, y) metres, placed inside the GTA map box.

    Latitude/longitude are projected equirectangularly around the first point (plenty for a
    city-sized track); every track segment of the file is read in order.
    """
    root = ET.parse(path).getroot()
    raw: list[tuple[float, float, float]] = []
    for element in root.iter():
        if not element.tag.endswith("trkpt"):
            continue
        stamp = next((c.text for c in element if c.tag.endswith("time")), None)
        if stamp is None:
            raise ValueError(f"{path}: track point without <time>")
        when = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00")).timestamp()
        raw.append((when, float(element.attrib["lat"]), float(element.attrib["lon"])))
    if len(raw) < 2:
        raise ValueError(f"{path}: expected a track of at least two timed points")
    t0, lat0, lon0 = raw[0]
    scale = math.cos(math.radians(lat0))
    track = [
        (
            when - t0,
            EARTH_RADIUS * math.radians(lon - lon0) * scale,
            EARTH_RADIUS * math.radians(lat - lat0),
        )
        for when, lat, lon in raw
    ]
    return _into_map_box(_increasing(track))


def load_csv(path: str | Path) -> Track:
    """A `t,x,y` CSV (header optional, `#` comments allowed) as a track in game metres."""
    track: Track = []
    header_seen = False
    with open(path, newline="") as file:
        for number, row in enumerate(csv.reader(file), start=1):
            if not row or not "".join(row).strip() or row[0].lstrip().startswith("#"):
                continue
            try:
                t, x, y = (float(cell) for cell in row[:3])
            except ValueError:
                if not track and not header_seen:
                    header_seen = True
                    continue
                raise ValueError(f"{path}:{number}: expected t,x,y numbers, got {row!r}") from None
            track.append((t, x, y))
    if len(track) < 2:
        raise ValueError(f"{path}: expected at least two t,x,y rows")
    start = track[0][0]
    return _increasing([(t - start, x, y) for t, x, y in sorted(track)])
