"""The clairvoyant yardstick: near the exact best schedule on small cases, and within the rules."""

from __future__ import annotations

import itertools
import math
import random
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` lives beside `bridge`

from bench.clairvoyant import (
    CallCosts,
    clairvoyant,
    measure,
    pin_along,
    pin_blind_turns,
    pin_dead_reckoned,
    pin_habit_futures,
    pin_median,
    pin_now,
    redraw,
    repin,
    slot_times,
    solve,
    spacing,
)
from bench.sim import Truth
from bench.workloads import WORKLOADS


def wander(rng: random.Random, seconds: int) -> list[tuple[float, float]]:
    """A subject that drives, turns and stops at random, one position a second."""
    x, y, heading, speed = rng.uniform(-50, 50), rng.uniform(-50, 50), 0.0, 0.0
    path = []
    for _ in range(seconds):
        path.append((x, y))
        if rng.random() < 0.15:
            speed = rng.choice([0.0, 0.0, 5.0, 12.0, 25.0])
        if rng.random() < 0.2:
            heading += rng.choice([-math.pi / 2, math.pi / 2])
        x, y = x + speed * math.cos(heading), y + speed * math.sin(heading)
    return path


def small_case(seed: int, calls: int = 3, seconds: int = 40) -> tuple[list[CallCosts], list[float]]:
    rng = random.Random(f"clairvoyant:{seed}")
    slots = slot_times(seconds, spacing())
    first = np.array([math.floor(t) + 1 for t in slots], dtype=np.int64)
    costs = [CallCosts.of(np.array(wander(rng, seconds)), first) for _ in range(calls)]
    return costs, slots


def brute_force(costs: list[CallCosts], slots: int) -> float:
    """The least total over every schedule: each slot unspent or given to one call."""
    best = math.inf
    for owners in itertools.product(range(-1, len(costs)), repeat=slots):
        total = sum(
            cost.cost([s for s, o in enumerate(owners) if o == i]) for i, cost in enumerate(costs)
        )
        best = min(best, total)
    return best


@pytest.mark.parametrize("seed", range(4))
def test_the_schedule_is_within_a_few_percent_of_the_exact_best(seed: int) -> None:
    costs, slots = small_case(seed)
    assert len(slots) == 7
    exact = brute_force(costs, len(slots))
    found = solve(costs, slots)
    assert found.bound <= exact + 1e-6  # a true lower bound
    assert exact - 1e-6 <= found.total <= 1.03 * exact
    assert sum(map(len, found.chosen)) <= len(slots)
    assert len({s for plan in found.chosen for s in plan}) == sum(map(len, found.chosen))


def test_a_pin_is_the_geometric_median_of_the_seconds_it_is_held() -> None:
    # Parked at (0, 0) for 8 seconds, then driving off at 100 m/s; a pin pushed at slot 0 is
    # held over seconds 1-10: 7 parked, 3 driving. The median stays at the spot (600 m in
    # all), where the mean (60 m down the road) would sum 840 m.
    xy = np.array([(0.0, 0.0)] * 8 + [(100.0 * k, 0.0) for k in range(1, 5)])
    costs = CallCosts.of(xy, np.array([1, 11], dtype=np.int64))
    pin = costs.pins([0, 1])[0]
    assert math.hypot(*pin) < 1.0
    assert costs.hold[0, 0] == pytest.approx(600.0, abs=1.0)


@pytest.fixture(scope="module")
def truth() -> Truth:
    return Truth.sample(WORKLOADS["mixed-10"]().movement(), 300)


def test_the_replayed_schedule_keeps_the_window_and_measures_what_it_planned(
    truth: Truth,
) -> None:
    schedule = clairvoyant(truth, rounds=20)
    run = measure(truth, schedule)
    assert run.refusals == 0
    assert run.most_in_window <= 10
    assert run.requests == sum(map(len, schedule.chosen))
    assert run.mean_error == pytest.approx(schedule.total / (truth.seconds * 10), rel=1e-6)
    assert schedule.gap < 0.05
    pushes = sorted(schedule.slots[s] for plan in schedule.chosen for s in plan)
    assert all(b - a >= 0.85 * spacing() for a, b in itertools.pairwise(pushes))


def test_nothing_moving_costs_nothing() -> None:
    still = Truth.sample(WORKLOADS["still-10"]().movement(), 120)
    schedule = clairvoyant(still, rounds=5)
    assert schedule.chosen == [[] for _ in still.subjects]
    assert measure(still, schedule).mean_error == 0.0


def test_repinning_the_schedule_by_the_median_rule_gives_the_clairvoyant_back(
    truth: Truth,
) -> None:
    schedule = clairvoyant(truth, rounds=10)
    best = measure(truth, schedule)
    again = redraw(truth, repin(truth, best.pushes, pin_median))
    assert again.mean_error == pytest.approx(best.mean_error, rel=1e-3)
    # Knowing only now (no lead) draws a worse map from the same pushes.
    assert redraw(truth, repin(truth, best.pushes, pin_now)).mean_error > 1.2 * best.mean_error


def test_the_pin_rules_agree_on_a_straight_steady_mover() -> None:
    class Straight:
        def __init__(self) -> None:
            self.subjects = ["player:1"]

        def positions(self, t: float) -> list[tuple[str, float, float, float]]:
            return [("player:1", 10.0 * t, 0.0, 0.0)]

        def speeds(self, t: float) -> list[tuple[str, float]]:
            return [("player:1", 10.0)]

    line = Truth.sample(Straight(), 60)
    # Pushed at 10.3 s, seen over seconds 11-30: the median is at 20.5 s, 205 m.
    for rule in (pin_dead_reckoned, pin_along, pin_median, pin_blind_turns):
        x, y = rule(line, 0, 11, 31)
        assert (x, y) == pytest.approx((205.0, 0.0), abs=0.5), rule.__name__
    assert pin_now(line, 0, 11, 31) == pytest.approx((100.0, 0.0))


class Staircase:
    """One subject at 10 m/s going east and north by turns, 100 m each way."""

    def __init__(self) -> None:
        self.subjects = ["player:1"]

    def positions(self, t: float) -> list[tuple[str, float, float, float]]:
        leg, into = divmod(t, 10.0)
        east, north = (leg + 1) // 2, leg // 2
        if leg % 2 == 0:
            return [("player:1", 100.0 * east + 10.0 * into, 100.0 * north, 0.0)]
        return [("player:1", 100.0 * east, 100.0 * north + 10.0 * into, 0.0)]

    def speeds(self, t: float) -> list[tuple[str, float]]:
        return [("player:1", 10.0)]


def test_a_pin_blind_to_which_way_turns_go_stays_on_the_line_the_subject_comes_in_on() -> None:
    stairs = Truth.sample(Staircase(), 120)
    # Pushed at 43 s on the way east at (230, 200), held 30 s: east to the turn at (300, 200)
    # in 7 s, then north, then east again. Knowing the way, the pin leaves the line; blind to
    # it, it stays on it (north and south alike), near where the turn is.
    x, y = pin_median(stairs, 0, 44, 74)
    assert y > 210.0
    x, y = pin_blind_turns(stairs, 0, 44, 74)
    assert y == pytest.approx(200.0, abs=1.0)
    assert 260.0 < x <= 300.5


def test_futures_drawn_from_the_subject_s_own_runs_put_the_pin_short_of_its_next_turn() -> None:
    stairs = Truth.sample(Staircase(), 120)
    # By 83 s it has shown seven 100 m runs and gone 30 m of this one: drawn futures turn at
    # (500, 400), either way, and the pin sits on the line ahead, short of that turn.
    x, y = pin_habit_futures(stairs, 0, 84, 114)
    assert y == pytest.approx(400.0, abs=5.0)
    assert 430.0 < x <= 500.5
    # With fewer than four turns seen it leads as dead reckoning does.
    assert pin_habit_futures(stairs, 0, 21, 41) == pin_dead_reckoned(stairs, 0, 21, 41)
