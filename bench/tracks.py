"""Recorded movement for the benchmark and the tests: GPX and CSV tracks, replayed by a fleet.

`load_gpx` and `load_csv` read a track as (t, x, y) in game metres; `TraceFleet` replays one
track for several subjects, each from a different offset, as `bridge.standin.routes.Fleet` drives
its street grid: a pure function of (track, seed, t).
"""

from __future__ import annotations

import csv
import math
import random
import xml.etree.ElementTree as ET
from bisect import bisect_right
from collections.abc import Sequence
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Literal

from bridge.standin.routes import MAP_BOX, Position, ground

TimedPath = list[tuple[float, float, float]]
"""(t seconds from start, x, y) in game metres, t increasing."""

EARTH_RADIUS = 6_371_000.0


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


def _into_map_box(track: TimedPath) -> TimedPath:
    """Shift a track so its bounding box is centred in the GTA map box."""
    xs = [p[1] for p in track]
    ys = [p[2] for p in track]
    x_min, y_min, x_max, y_max = MAP_BOX
    dx = (x_min + x_max) / 2 - (min(xs) + max(xs)) / 2
    dy = (y_min + y_max) / 2 - (min(ys) + max(ys)) / 2
    return [(t, x + dx, y + dy) for t, x, y in track]


def _increasing(track: TimedPath) -> TimedPath:
    """Drop points whose time does not advance (duplicates in recorded logs)."""
    kept: TimedPath = []
    for point in track:
        if not kept or point[0] > kept[-1][0]:
            kept.append(point)
    return kept


def load_gpx(path: str | Path) -> TimedPath:
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


def load_csv(path: str | Path) -> TimedPath:
    """A `t,x,y` CSV (header optional, `#` comments allowed) as a track in game metres."""
    track: TimedPath = []
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
