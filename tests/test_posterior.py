"""The bound on what a model of a fleet's past can buy a pin (`bench.posterior`)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clairvoyant import pin_now, redraw, repin
from bench.posterior import _starts, fits, posterior_pins
from bench.sim import Truth
from bridge.standin.routes import BLOCK, Fleet, _Driver, _Leg


def test_what_a_subject_has_driven_of_its_straight_leaves_its_true_length_open() -> None:
    fleet = Fleet(6, seed=30, moving_share=0.5)
    seen = narrowed = 0
    for n, driver in enumerate(fleet._scripts):
        assert isinstance(driver, _Driver)
        driver.at(900.0)
        for start in _starts(fleet.seed, n + 1, driver.moving_share, driver.speed, 900.0):
            leg = driver.legs[start.leg]
            if leg.duration < 4.0 or leg.t0 + leg.duration > 900.0:
                continue
            blocks = round(_length(leg) / BLOCK)
            for share in (0.25, 0.5, 0.95):
                now = leg.t0 + share * leg.duration
                x, y, _ = leg.at(now)
                open_ = fits(start, driver, (x, y), now, leg.vp)
                assert blocks in {b for b, _, _ in open_}, (n, start.leg, share)
                seen += 1
                narrowed += len({b for b, _, _ in open_}) == 1
    # Enough straights looked at, and near their ends most are down to the one length.
    assert seen > 100
    assert narrowed > seen // 6


def _length(leg: _Leg) -> float:
    x0, y0, _ = leg.at(leg.t0)
    x1, y1, _ = leg.at(leg.t0 + leg.duration)
    return math.hypot(x1 - x0, y1 - y0)


def test_the_posterior_pin_stands_where_its_subject_stands_and_beats_pinning_now() -> None:
    fleet = Fleet(8, seed=10, moving_share=0.5)
    truth = Truth.sample(Fleet(8, seed=10, moving_share=0.5), 900)
    rule = posterior_pins(fleet, truth)
    standing = next(
        (i, t)
        for t in range(100, 900)
        for i in range(8)
        if truth.speed[t - 1][i] == 0.0 and truth.speed[t][i] == 0.0
    )
    i, t = standing
    assert rule(truth, i, t, t + 30) == pin_now(truth, i, t, t + 30)
    # Every call pushed every 80 s, one every 10 s in turn: the posterior's map is the better.
    pushes = [(float(at), (at // 10) % 8, 0.0, 0.0) for at in range(30, 890, 10)]
    mine = redraw(truth, repin(truth, pushes, rule)).mean_error
    now = redraw(truth, repin(truth, pushes, pin_now)).mean_error
    assert mine < 0.9 * now
