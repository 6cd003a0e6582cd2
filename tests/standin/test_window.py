"""The CAD's window rule, modelled once: the stand-in and the benchmark's simulated CAD share it."""

from __future__ import annotations

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `bench` lives beside `bridge`

from bench.sim import SimCad
from bridge.outcomes import RateLimited
from bridge.standin.cad import CadStandIn
from bridge.standin.window import SlidingLog, counted_at, most_in_window


def test_the_window_is_closed_a_request_exactly_a_window_later_still_counts() -> None:
    log = SlidingLog(2, 60.0)
    for at in (0.0, 30.0):
        assert log.admits(at)
        log.record(at)
    assert not log.admits(60.0)
    assert log.wait(30.0) == 30.0  # until the first leaves
    assert log.admits(60.001)
    assert counted_at([0.0, 30.0], 60.0, 60.0) == 2
    assert counted_at([0.0, 30.0], 60.001, 60.0) == 1


def test_the_stand_in_and_the_simulated_cad_admit_the_same_requests() -> None:
    standin = CadStandIn(api_key="k", window=60.0, limits={"update_call": 10})
    rule = standin._logs["update_call"]
    sim = SimCad(limit=10, window=60.0)
    sim.calls[1] = {"x": "0"}
    assert type(rule) is type(sim._log) is SlidingLog
    rng = random.Random(3)
    at = 0.0
    for _ in range(2000):
        at += rng.choice([0.0, 1.0, 6.0, rng.uniform(0.0, 12.0)])
        admitted = rule.admits(at)
        if admitted:
            rule.record(at)
        answered = sim.update_call(1, {"x": "1"}, at)
        assert admitted == (not isinstance(answered, RateLimited)), at


def test_the_fullest_window_counts_both_ends_and_any_order() -> None:
    assert most_in_window([], 60.0) == 0
    assert most_in_window([60.0, 0.0, 30.0], 60.0) == 3  # 0 and 60 share a closed window
    assert most_in_window([60.001, 0.0, 30.0], 60.0) == 2
    assert most_in_window([5.0, 5.0, 5.0, 100.0], 60.0) == 3
