"""Where others went from where a mover is (`bridge.trails`), and the pin it gives a push."""

from __future__ import annotations

import math

import pytest

from bridge import placement, trails
from bridge.planner import Settings
from bridge.scheduler import Candidate
from bridge.tracker import Tracker


def drive_the_corner(tracker: Tracker, subject: str, start: float) -> float:
    """A subject drives east at 10 m/s from (0, 0) to the corner at (200, 0), turns north
    there and drives on to (200, 300): its fixes as the resource sends them (one at each change
    of track, one at the end). Returns when it arrived."""
    tracker.observe(1, subject, 0.0, 0.0, 0.0, start, vx=10.0, vy=0.0)
    tracker.observe(1, subject, 200.0, 0.0, 0.0, start + 20.0, vx=0.0, vy=10.0)
    tracker.observe(1, subject, 200.0, 300.0, 0.0, start + 50.0, vx=0.0, vy=0.0)
    return start + 50.0


def followed(tracker: Tracker, *subjects: str) -> None:
    for n, subject in enumerate(subjects, start=1):
        tracker.track(1, n, subject, 0.0, meta={"x": "0", "y": "0", "z": "0"})


def test_a_path_is_kept_a_point_every_two_seconds_and_forgotten_after_keep() -> None:
    assert trails.SPACING == 2.0
    tracker = Tracker()
    followed(tracker, "bus:1")
    drive_the_corner(tracker, "bus:1", 100.0)
    # Seconds 100-148: 10 points going east from the first fix, 15 going north from the second.
    assert len(tracker.trails) == 25
    # A silence over GAP leaves the path between unknown.
    tracker.observe(1, "bus:1", 900.0, 300.0, 0.0, 150.0 + trails.GAP + 1.0, vx=5.0, vy=0.0)
    assert len(tracker.trails) == 25
    # Points older than KEEP are dropped at the next sweep as later ones come.
    later = 150.0 + trails.KEEP + trails.SWEEP + 10.0
    tracker.observe(1, "bus:1", 900.0, 300.0, 0.0, later - 10.0, vx=5.0, vy=0.0)
    tracker.observe(1, "bus:1", 950.0, 300.0, 0.0, later, vx=5.0, vy=0.0)
    assert len(tracker.trails) == 5


def test_three_who_turned_at_the_corner_ahead_put_a_mover_s_pin_round_it() -> None:
    tracker = Tracker()
    followed(tracker, "bus:1", "bus:2", "bus:3", "bus:4")
    for n in (1, 2, 3):
        drive_the_corner(tracker, f"bus:{n}", 100.0 * n)
    # bus:4 is at (100, 0) going east at 10 m/s: 10 s from the corner the others turned at.
    now = 1000.0
    tracker.observe(1, "bus:4", 100.0, 0.0, 0.0, now, vx=10.0, vy=0.0)
    futures = tracker.trails.ahead(1, "bus:4", 100.0, 0.0, 10.0, 0.0, 30.0)
    assert len(futures) == 3 * 15  # a point every 2 s of the 30
    assert futures[:2] == [(120.0, 0.0), (140.0, 0.0)]
    assert futures[14] == pytest.approx((200.0, 200.0))
    # Ten seconds on the straight, twenty round the corner: the pin is inside the corner.
    x, y = trails.median(futures)
    assert 180.0 < x <= 200.0
    assert 20.0 < y < 200.0
    # Through placement: the pin goes round the corner, not on along the straight.
    fix = tracker.fixes[(1, "bus:4")]
    chosen = Candidate(tracker.calls[(1, "dispatch", 4)], fix, 100.0, 30.0, 0.0, wait=30.0)
    at = placement.place(chosen, now, Settings(), None, tracker.trails)
    assert (at.x, at.y) == pytest.approx((x, y))
    assert float(str(at.meta["x"])) == pytest.approx(x, abs=0.01)
    # The lead rules where the trails are off: on along the straight, 10.5 s (0.35 of 30 s).
    alone = placement.place(chosen, now, Settings(trails=False), None, tracker.trails)
    assert (alone.x, alone.y) == pytest.approx((205.0, 0.0))


def test_too_few_passes_the_other_way_its_own_or_too_recent_ones_give_nothing() -> None:
    tracker = Tracker()
    followed(tracker, "bus:1", "bus:2", "bus:3", "bus:4")
    for n in (1, 2):
        drive_the_corner(tracker, f"bus:{n}", 100.0 * n)
    assert trails.AGREED == 3
    assert tracker.trails.ahead(1, "bus:4", 100.0, 0.0, 10.0, 0.0, 30.0) == []  # two passes
    # The mover's own pass is not another's.
    drive_the_corner(tracker, "bus:4", 300.0)
    assert tracker.trails.ahead(1, "bus:4", 100.0, 0.0, 10.0, 0.0, 30.0) == []
    # A third pass makes bus:4's count; for another mover going their way bus:4's counts too,
    # not for one going the other way or standing still, nor for a hold past where they went.
    drive_the_corner(tracker, "bus:3", 400.0)
    assert len(tracker.trails.ahead(1, "bus:4", 100.0, 0.0, 10.0, 0.0, 30.0)) == 3 * 15
    assert len(tracker.trails.ahead(1, "bus:9", 100.0, 0.0, 10.0, 0.0, 30.0)) == 4 * 15
    assert tracker.trails.ahead(1, "bus:9", 100.0, 0.0, -10.0, 0.0, 30.0) == []
    assert tracker.trails.ahead(1, "bus:9", 100.0, 0.0, 0.0, 0.0, 30.0) == []
    assert tracker.trails.ahead(1, "bus:9", 100.0, 0.0, 10.0, 0.0, 45.0) == []  # 40 s known
    # Far from where they drove, or on another game server: nothing.
    assert tracker.trails.ahead(1, "bus:9", 100.0, 500.0, 10.0, 0.0, 30.0) == []
    assert tracker.trails.ahead(2, "bus:9", 100.0, 0.0, 10.0, 0.0, 30.0) == []


def test_the_median_is_the_point_nearest_all_summed() -> None:
    # Three at one spot and one far off: the median stays with the three (the mean would not).
    x, y = trails.median([(0.0, 0.0), (0.0, 0.0), (0.0, 0.0), (300.0, 0.0)])
    assert math.hypot(x, y) < 1.0
    assert trails.median([(0.0, 0.0), (10.0, 0.0)]) == pytest.approx((5.0, 0.0))


def test_where_others_stood_on_their_way_the_pin_waits_for_the_mover() -> None:
    tracker = Tracker()
    followed(tracker, "bus:1", "bus:2", "bus:3")
    for n in (1, 2, 3):
        start = 100.0 * n
        tracker.observe(1, f"bus:{n}", 0.0, 0.0, 0.0, start, vx=10.0, vy=0.0)
        tracker.observe(1, f"bus:{n}", 200.0, 0.0, 0.0, start + 20.0, vx=0.0, vy=0.0)  # a stop
        tracker.observe(1, f"bus:{n}", 200.0, 0.0, 0.0, start + 60.0, vx=10.0, vy=0.0)
        tracker.observe(1, f"bus:{n}", 500.0, 0.0, 0.0, start + 90.0, vx=10.0, vy=0.0)
    # A mover at (100, 0) going east, pushed for 40 s: the others drove 10 s to the stop and
    # stood there the rest, so the pin is at the stop, not 14 s on along the road.
    x, y = trails.median(tracker.trails.ahead(1, "bus:9", 100.0, 0.0, 10.0, 0.0, 40.0))
    assert (x, y) == pytest.approx((200.0, 0.0), abs=2.0)
    # Where they stood is no pass: at the stop a mover going east meets each bus twice, coming
    # and going, two passes apart (were the standing seconds a pass, each bus's would be one).
    assert len(tracker.trails.ahead(1, "bus:9", 200.0, 0.0, 10.0, 0.0, 20.0)) == 2 * 3 * 10
