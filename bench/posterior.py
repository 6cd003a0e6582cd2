"""The best pin a daemon could put on a street-grid fleet's mover if it knew the movement's own
law: a bound on what any model of the past can buy there, past which the gap is foresight.

`bridge.standin.routes.Fleet` moves each subject by drawing, at every intersection it turns
at, how many blocks the next straight runs (from a fixed table), how fast it goes, whether it
stops at a light and which way it turns next. A pin pushed to a mover is best put at the
geometric median of where the subject may be over the seconds the pin is held, each future
weighed by its chance given all that has been seen. `posterior_pins` draws those futures from
the fleet's own code: the straight the subject is on is every length in the table (and with or
without a light at its end) that matches how it has moved along it so far; every later draw is
made afresh, as the fleet makes it. It is given more than a daemon can know: the grid, the
table, the cruising speed of the straight it is on, and how long it will drive before it parks.
So its map is at least as good as any model of the past could make on the same schedule, up to
the drawing's noise; a standing subject is pinned where it stands, as ours is.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

from bench.clairvoyant import PinRule, _medians, pin_now
from bench.sim import Truth
from bridge.standin.routes import LIGHT_ODDS, STRAIGHTS, Fleet, _Driver, _Leg

FUTURES = 48
"""Futures drawn per pin."""
MATCH = 1.0
"""Metres within which a drawn straight must put the subject where it truly is."""


@dataclass(frozen=True)
class LegStart:
    """A driver's state as a straight begins: what the fleet draws the straight from."""

    leg: int
    ix: int
    iy: int
    heading: tuple[int, int]
    v: float
    drive_left: float


def _starts(
    seed: int, index: int, moving_share: float, speed: tuple[float, float], until: float
) -> list[LegStart]:
    """Every straight's starting state of one fleet driver up to `until` seconds, by running
    the fleet's own code from its seed and noting the state before each leg is drawn."""
    driver = _Driver(random.Random(f"fleet:{seed}:{index}"), moving_share, speed)
    found = []
    while driver.end <= until:
        before = (
            len(driver.legs),
            driver.ix,
            driver.iy,
            driver.heading,
            driver.v,
            driver.drive_left,
        )
        driver._extend()
        if before[5] > 0.0:  # a straight, not a park
            found.append(LegStart(*before))
    return found


def _clone(start: LegStart, template: _Driver, rng: random.Random) -> _Driver:
    """A driver at `start`, drawing everything after it from `rng`."""
    driver = object.__new__(_Driver)
    driver.rng = rng
    driver.moving_share = template.moving_share
    driver.speed = template.speed
    driver.nx, driver.ny = template.nx, template.ny
    driver.ix, driver.iy, driver.heading = start.ix, start.iy, start.heading
    driver.legs, driver.starts = [], []
    driver.end = template.legs[start.leg].t0
    driver.v = start.v
    driver._hint = 0
    driver.drive_left = start.drive_left
    return driver


Fit = tuple[int, bool, float]
"""(blocks, a light at its end or not, weight): one way the straight being driven may go on."""


def fits(
    start: LegStart, driver: _Driver, at: tuple[float, float], now: float, cruise: float
) -> list[Fit]:
    """The straights the fleet could have drawn at `start` (every length in its table, with a
    light at its end or not), weighed by their odds, that put the subject at `at` at `now`:
    what its movement along this straight so far leaves open."""
    lights = (
        ((False, 1.0 - LIGHT_ODDS), (True, LIGHT_ODDS))
        if driver.moving_share < 1
        else ((False, 1.0),)
    )
    room = _clone(start, driver, random.Random(0))._room(start.heading)
    found = []
    for blocks in sorted(set(STRAIGHTS)):
        for light, odds in lights:
            trial = _clone(start, driver, random.Random(0))
            trial.straight(min(room, blocks), cruise, light, 20.0)
            x, y, _ = trial.legs[0].at(now)
            if math.hypot(x - at[0], y - at[1]) <= MATCH:
                found.append((min(room, blocks), light, STRAIGHTS.count(blocks) * odds))
    return found


def posterior_pins(fleet: Fleet, truth: Truth) -> PinRule:
    """A pin rule for `fleet`'s subjects (see the module's text)."""
    drivers = [d for d in fleet._scripts if isinstance(d, _Driver)]
    assert len(drivers) == len(fleet.subjects)
    starts = [
        _starts(fleet.seed, n + 1, d.moving_share, d.speed, truth.seconds)
        for n, d in enumerate(drivers)
    ]

    def rule(truth: Truth, i: int, begin: int, end: int) -> tuple[float, float]:
        driver = drivers[i]
        now = float(begin - 1)
        driver.at(float(end))  # its legs drawn as far as the pin is held
        k = max(0, bisect_right(driver.starts, now) - 1)
        leg: _Leg = driver.legs[k]
        if leg.ux == 0.0 and leg.uy == 0.0:
            return pin_now(truth, i, begin, end)
        start = next((s for s in starts[i] if s.leg == k), None)
        if start is None:
            return pin_now(truth, i, begin, end)
        x, y, _ = truth.xyz[begin - 1][i]
        cruise = leg.vp
        rng = random.Random(f"posterior:{i}:{begin}")
        open_ = fits(start, driver, (x, y), now, cruise)
        if not open_:
            return pin_now(truth, i, begin, end)
        weights = [w for _, _, w in open_]
        points = []
        for _ in range(FUTURES):
            length, light, _ = rng.choices(open_, weights)[0]
            future = _clone(start, driver, random.Random(rng.random()))
            future.straight(length, cruise, light, future.rng.uniform(5.0, 40.0))
            for second in range(begin, end):
                fx, fy, _ = future.at(float(second))
                points.append((fx, fy))
        pin, _ = _medians(np.array(points, dtype=float), np.array([len(points)], dtype=np.int64))
        return float(pin[0][0]), float(pin[0][1])

    return rule
