"""A subject's habit of turning, learned from its own fixes (`bridge.habits`), and the lead it
sizes (`bridge.placement.lead_seconds`). Values in, values out: no planner, no clock."""

from __future__ import annotations

import math

import pytest

from bridge import habits, placement
from bridge.planner import Settings
from bridge.scheduler import Candidate
from bridge.tracker import Call, Fix, Tracker

KNOBS = Settings(lead=True, lead_share=0.35, lead_cap=15.0)


def square(habit: habits.Habit, *, side: float, speed: float, laps: int = 1) -> float:
    """Drive `habit` round squares of `side` metres at `speed`, a fix a second; the end time."""
    t, x, y = 0.0, 0.0, 0.0
    for _ in range(laps):
        for ux, uy in ((1, 0), (0, 1), (-1, 0), (0, -1)):
            for _ in range(round(side / speed)):
                habit.note(Fix(x, y, 0.0, t, vx=ux * speed, vy=uy * speed, reported=True))
                x, y, t = x + ux * speed, y + uy * speed, t + 1.0
    return t


def test_right_angle_turns_end_straight_runs_and_their_mean_is_the_habit() -> None:
    habit = habits.Habit()
    square(habit, side=40.0, speed=5.0)
    # Three corners so far (the fourth side is still being run): three runs of 40 m.
    assert list(habit.runs) == [40.0, 40.0, 40.0]
    assert habit.run == 40.0


def test_no_habit_before_a_few_runs_and_only_the_latest_are_kept() -> None:
    habit = habits.Habit()
    habit.note(Fix(0.0, 0.0, 0.0, 0.0, vx=5.0, reported=True))
    habit.note(Fix(100.0, 0.0, 0.0, 20.0, vy=5.0, reported=True))
    assert list(habit.runs) == [100.0] and habit.run is None
    square(habit, side=200.0, speed=10.0, laps=3)
    assert len(habit.runs) == habits.RUNS


def test_a_road_that_bends_slowly_is_one_run_and_a_stand_does_not_break_it() -> None:
    habit = habits.Habit()
    heading, x, y = 0.0, 0.0, 0.0
    for t in range(60):  # 3 degrees a second: 180 degrees in a minute, never a corner
        habit.note(Fix(x, y, 0.0, float(t), vx=10 * math.cos(heading), vy=10 * math.sin(heading)))
        x, y = x + 10 * math.cos(heading), y + 10 * math.sin(heading)
        heading += math.radians(3.0)
    habit.note(Fix(x, y, 0.0, 61.0))  # stands still, facing nowhere
    habit.note(Fix(x, y, 0.0, 90.0, vx=-10.0, vy=0.0))  # sets off the way it faced
    assert list(habit.runs) == []
    # A corner taken over a few seconds (three fixes of 30 degrees) is a turn.
    for i, t in enumerate((91.0, 92.0, 93.0), start=1):
        angle = math.pi - math.radians(30.0 * i)
        habit.note(Fix(x, y, 0.0, t, vx=10 * math.cos(angle), vy=10 * math.sin(angle)))
    assert len(habit.runs) == 1


def test_persistence_is_half_a_straight_hold_and_short_for_a_subject_that_turns_often() -> None:
    assert habits.persistence(1e9, 10.0, 60.0) == pytest.approx(30.0, rel=1e-3)
    # Turns every 40 m at 5 m/s (8 s): the expected position runs out near 8 s of velocity.
    d = 8.0
    assert habits.persistence(40.0, 5.0, 60.0) == pytest.approx(
        d * (1 - d / 60.0 * (1 - math.exp(-60.0 / d)))
    )
    assert habits.persistence(40.0, 5.0, 60.0) < 7.0
    assert habits.persistence(40.0, 0.0, 60.0) == 0.0


def test_the_tracker_hands_each_fix_the_habit_of_the_one_before() -> None:
    tracker = Tracker()
    tracker.track(1, 7, "runner", 0.0)
    t, x, y = 0.0, 0.0, 0.0
    for _ in range(2):
        for ux, uy in ((1, 0), (0, 1), (-1, 0), (0, -1)):
            for _ in range(8):
                tracker.observe(1, "runner", x, y, 0.0, t, vx=ux * 5.0, vy=uy * 5.0)
                x, y, t = x + ux * 5.0, y + uy * 5.0, t + 1.0
    fix = tracker.fixes[(1, "runner")]
    assert fix.habit.run == 40.0
    # Forgotten with the subject: a new follower learns afresh.
    tracker.untrack(1, 7)
    tracker.track(1, 8, "runner", t)
    tracker.observe(1, "runner", x, y, 0.0, t, vx=5.0, vy=0.0)
    assert tracker.fixes[(1, "runner")].habit.run is None


def chosen(fix: Fix, wait: float) -> Candidate:
    call = Call(1, 7, "runner", None, 0.0, meta={"x": "0", "y": "0", "z": "0"})
    return Candidate(call, fix, 100.0, 10.0, 0.0, wait=wait)


def test_a_subject_that_turns_every_few_seconds_is_led_less_than_a_car_on_long_roads() -> None:
    runner = Fix(0.0, 0.0, 0.0, t=100.0, vx=5.0, reported=True)
    car = Fix(0.0, 0.0, 0.0, t=100.0, vx=5.0, reported=True)
    square(runner.habit, side=40.0, speed=5.0, laps=2)
    square(car.habit, side=2000.0, speed=20.0, laps=1)
    # Unlearned, and on long roads: a share of the wait, capped, as before.
    assert placement.lead_seconds(chosen(Fix(0.0, 0.0, 0.0, 100.0, vx=5.0, reported=True),
                                         60.0), 100.0, KNOBS) == 15.0  # fmt: skip
    assert placement.lead_seconds(chosen(car, 60.0), 100.0, KNOBS) == 15.0
    # Turns every 40 m at 5 m/s: no further than it is expected to go on straight.
    led = placement.lead_seconds(chosen(runner, 60.0), 100.0, KNOBS)
    assert led == pytest.approx(habits.persistence(40.0, 5.0, 60.0)) and led < 7.0
    at = placement.place(chosen(runner, 60.0), 100.0, KNOBS, None)
    assert (at.x, at.y) == pytest.approx((5.0 * led, 0.0))
