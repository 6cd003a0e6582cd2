"""A subject's habit of turning, learned from its own fixes (`bridge.habits`), and the lead it
sizes (`bridge.placement.lead_seconds`). Values in, values out: no planner, no clock."""

from __future__ import annotations

import math

import pytest

from bridge import habits, placement
from bridge.budget import Budget
from bridge.planner import Planner, Settings
from bridge.scheduler import Candidate, PacedAccumulator
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
    # Turns every 40 m at 5 m/s (8 s): the pin's life on the straight is about 8 s.
    d = 8.0
    assert habits.persistence(40.0, 5.0, 60.0) == pytest.approx(d - 60.0 / math.expm1(60.0 / d))
    assert habits.persistence(40.0, 5.0, 60.0) < 8.0
    assert habits.persistence(40.0, 0.0, 60.0) == 0.0
    assert habits.persistence(1e-9, 5.0, 60.0) == pytest.approx(0.0, abs=1e-6)


def test_persistence_leads_a_car_up_to_its_corner_not_short_of_it() -> None:
    # A car 400 m (20 s) from its expected corner over a 60 s wait: until it turns the pin is
    # judged on the straight (after the turn the resource sends it and it is pushed again), so
    # the lead is most of the way to the corner, not the average with where it may be after.
    led = habits.persistence(400.0, 20.0, 60.0)
    assert led == pytest.approx(20.0 - 60.0 / math.expm1(3.0))
    assert 16.0 < led < 20.0


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
    assert led == pytest.approx(habits.persistence(40.0, 5.0, 60.0)) and led < 8.0
    at = placement.place(chosen(runner, 60.0), 100.0, KNOBS, None)
    assert (at.x, at.y) == pytest.approx((5.0 * led, 0.0))


def test_the_straight_run_left_is_what_the_runs_that_went_further_went_on() -> None:
    habit = habits.Habit()
    for run in (40.0, 40.0, 120.0):
        habit.runs.append(run)
    habit.start = (0.0, 0.0)
    assert habit.straight_ahead(0.0, 0.0) == pytest.approx(200.0 / 3)
    # 50 m gone: only the 120 m run went further, by 70 m more.
    assert habit.straight_ahead(50.0, 0.0) == pytest.approx(70.0)
    # Further than any: as far as the mean run again.
    assert habit.straight_ahead(500.0, 0.0) == pytest.approx(200.0 / 3)


def stop_and_go(habit: habits.Habit, stands: list[float]) -> float:
    """Drive east, stand each of `stands` seconds, drive on; the time the last stand began."""
    t = x = 0.0
    for stand in stands:
        for _ in range(5):
            habit.note(Fix(x, 0.0, 0.0, t, vx=10.0, reported=True))
            x, t = x + 10.0, t + 1.0
        habit.note(Fix(x, 0.0, 0.0, t, reported=True))  # stops
        t += stand
    habit.note(Fix(x, 0.0, 0.0, t, vx=10.0, reported=True))  # sets off after the last
    return t


def test_stands_are_timed_from_the_stop_to_setting_off_and_what_is_left_of_one_follows() -> None:
    habit = habits.Habit()
    stop_and_go(habit, [10.0, 300.0, 20.0])
    assert list(habit.stands) == [10.0, 300.0, 20.0]
    assert habit.stand_left(1000.0) is None  # on the move
    habit.note(Fix(2000.0, 0.0, 0.0, 1000.0, reported=True))  # stops again at 1000 s
    assert habit.stand_left(1000.0) == pytest.approx(110.0)  # (10 + 300 + 20) / 3
    # 15 s in, the 10 s stand is ruled out: a 5 s or a 285 s one is left.
    assert habit.stand_left(1015.0) == pytest.approx(145.0)
    # Longer than every one remembered: as long again as it has stood.
    assert habit.stand_left(1400.0) == pytest.approx(400.0)


def test_a_standing_call_is_ranked_by_what_a_push_saves_over_the_rest_of_its_stand() -> None:
    parks, pauses = habits.Habit(), habits.Habit()
    at = stop_and_go(parks, [300.0, 240.0]) + 1.0
    stop_and_go(pauses, [5.0, 5.0])
    parks.note(Fix(0.0, 0.0, 0.0, at, reported=True))
    pauses.note(Fix(0.0, 0.0, 0.0, at, reported=True))
    # 100 m off, stood 3 s: a parker is expected to stand 267 s more, a pauser 2 s more, and
    # each is still near a pin pushed now for the first `SETTING_OFF` seconds on the move.
    now = at + 3.0
    off = habits.SETTING_OFF
    assert habits.ranked(500.0, 100.0, parks, 0.0, now) == pytest.approx(100.0 * (267.0 + off))
    assert habits.ranked(500.0, 100.0, pauses, 0.0, now) == pytest.approx(100.0 * (2.0 + off))
    assert habits.ranked(5000.0, 100.0, pauses, 0.0, now) == 5000.0  # its area is worth more
    # On the move, or before the habit is learned: the error area as it was.
    assert habits.ranked(500.0, 100.0, parks, 10.0, now) == 500.0
    assert habits.ranked(500.0, 100.0, habits.Habit(), 0.0, now) == 500.0


def test_the_planner_ranks_a_parking_subject_s_call_by_its_habit_of_standing() -> None:
    planner = Planner(
        policy=PacedAccumulator(10.0, 180.0), update_budget=Budget(10, 60.0), get_budget=None
    )
    tracker = planner.tracker
    meta = {"x": "0", "y": "0", "z": "0"}
    parker = tracker.track(1, 1, "parker", 0.0, meta=dict(meta))
    driver = tracker.track(1, 2, "driver", 0.0, meta=dict(meta))
    # The parker drove and parked twice, for 300 s and 240 s.
    t = x = 0.0
    for stand in (300.0, 240.0):
        for _ in range(5):
            tracker.observe(1, "parker", x, 0.0, 0.0, t, vx=10.0, vy=0.0)
            x, t = x + 10.0, t + 1.0
        tracker.observe(1, "parker", x, 0.0, 0.0, t, vx=0.0, vy=0.0)
        t += stand
    # Both pushed at t; the parker drives 200 m and parks, the driver drives on faster.
    tracker.drawn_moved(parker, x, 0.0, t)
    tracker.drawn_moved(driver, 0.0, 5_000.0, t)
    for second in range(21):
        tracker.observe(1, "parker", x + 10.0 * second, 0.0, 0.0, t + second, vx=10.0, vy=0.0)
        tracker.observe(1, "driver", 12.0 * second, 5_000.0, 0.0, t + second, vx=12.0, vy=0.0)
    tracker.observe(1, "parker", x + 200.0, 0.0, 0.0, t + 20.0, vx=0.0, vy=0.0)
    now = t + 22.0
    tracker.observe(1, "driver", 12.0 * 22, 5_000.0, 0.0, now, vx=12.0, vy=0.0)
    area = tracker.accrued(parker, now)[0]
    found = {c.call.subject: c for c in planner.candidates(now)}
    # 200 m off, expected to stand (298 + 238) / 2 s more (and near a pin for a while once it
    # sets off): far above its error area since the push, and above the driver's, which is
    # larger than the parker's area.
    assert found["parker"].acc == pytest.approx(200.0 * (268.0 + habits.SETTING_OFF))
    assert found["driver"].acc == pytest.approx(tracker.accrued(driver, now)[0])
    assert found["driver"].acc > area
    assert planner.policy.choose(list(found.values()), now) is found["parker"]
