"""Tracked calls and subjects: pure state, time passed in."""

from __future__ import annotations

import math

import pytest

from bridge.tracker import UNKNOWN_ERROR, SyncItem, Tracker

META = {"x": "0", "y": "0", "postal": "221"}


def test_track_follows_a_subject_with_a_call() -> None:
    tracker = Tracker()
    call = tracker.track(1, 7, "veh:1", 5.0, radius=80.0)
    assert tracker.get(1, 7) is call
    assert len(tracker) == 1
    assert list(tracker) == [call]
    assert call.key == (1, "dispatch", 7)
    assert call.subject == "veh:1"
    assert call.radius == 80.0
    assert call.since == 5.0
    assert call.meta is None
    assert call.drawn is None


def test_track_with_meta_learns_where_the_call_is_drawn() -> None:
    tracker = Tracker()
    call = tracker.track(1, 7, "veh:1", 5.0, meta={"x": "430.5", "y": "-982.1", "uuid": "u"})
    assert call.meta == {"x": "430.5", "y": "-982.1", "uuid": "u"}
    assert call.meta_at == 5.0
    assert call.drawn == (430.5, -982.1)


def test_learned_meta_is_a_copy() -> None:
    tracker = Tracker()
    meta = dict(META)
    call = tracker.track(1, 7, "veh:1", 0.0, meta=meta)
    meta["postal"] = "999"
    assert call.meta is not None
    assert call.meta["postal"] == "221"


def test_call_ids_are_per_server() -> None:
    tracker = Tracker()
    a = tracker.track(1, 7, "veh:1", 0.0)
    b = tracker.track(2, 7, "veh:1", 0.0)
    assert a is not b
    assert tracker.get(1, 7) is a
    assert tracker.get(2, 7) is b
    assert tracker.get(3, 7) is None


def test_retrack_keeps_known_meta_and_the_same_call() -> None:
    tracker = Tracker()
    call = tracker.track(1, 7, "veh:1", 0.0, meta=META)
    again = tracker.track(1, 7, "veh:1", 10.0, radius=20.0)
    assert again is call
    assert call.meta == META
    assert call.drawn == (0.0, 0.0)
    assert call.since == 0.0
    assert call.radius == 20.0


def test_retrack_with_new_meta_replaces_it() -> None:
    tracker = Tracker()
    call = tracker.track(1, 7, "veh:1", 0.0, meta=META)
    tracker.track(1, 7, "veh:1", 10.0, meta={"x": "5", "y": "6"})
    assert call.meta == {"x": "5", "y": "6"}
    assert call.drawn == (5.0, 6.0)


def test_retrack_with_another_subject_follows_the_new_one() -> None:
    tracker = Tracker()
    call = tracker.track(1, 7, "veh:1", 0.0, meta=META)
    tracker.observe(1, "veh:1", 50.0, 0.0, 0.0, 1.0)
    tracker.observe(1, "veh:1", 60.0, 0.0, 0.0, 2.0)
    tracker.track(1, 7, "ped:2", 3.0)
    assert call.subject == "ped:2"
    assert call.meta == META
    assert call.since == 3.0
    assert call.acc == 0.0
    assert tracker.fix_of(call) is None
    assert (1, "veh:1") not in tracker.fixes  # nobody follows veh:1 any more
    tracker.observe(1, "veh:1", 70.0, 0.0, 0.0, 4.0)
    assert (1, "veh:1") not in tracker.fixes
    tracker.observe(1, "ped:2", 1.0, 2.0, 3.0, 4.0)
    fix = tracker.fix_of(call)
    assert fix is not None
    assert (fix.x, fix.y, fix.z, fix.t) == (1.0, 2.0, 3.0, 4.0)


def test_untrack_returns_the_call_and_forgets_it() -> None:
    tracker = Tracker()
    call = tracker.track(1, 7, "veh:1", 0.0)
    assert tracker.untrack(1, 7) is call
    assert tracker.get(1, 7) is None
    assert len(tracker) == 0
    assert tracker.untrack(1, 7) is None


def test_untrack_frees_the_fixes_of_a_subject_nobody_follows() -> None:
    tracker = Tracker()
    tracker.track(1, 7, "veh:1", 0.0)
    tracker.observe(1, "veh:1", 1.0, 2.0, 3.0, 1.0)
    assert (1, "veh:1") in tracker.fixes
    tracker.untrack(1, 7)
    assert tracker.fixes == {}
    tracker.observe(1, "veh:1", 1.0, 2.0, 3.0, 2.0)
    assert tracker.fixes == {}


def test_untrack_keeps_the_fix_while_another_call_follows_the_subject() -> None:
    tracker = Tracker()
    tracker.track(1, 7, "veh:1", 0.0)
    other = tracker.track(1, 8, "veh:1", 0.0)
    tracker.observe(1, "veh:1", 1.0, 2.0, 3.0, 1.0)
    tracker.untrack(1, 7)
    assert tracker.fix_of(other) is not None


def test_sync_replaces_one_servers_set_and_reports_the_changes() -> None:
    tracker = Tracker()
    tracker.track(1, 1, "a", 0.0, meta=META)
    tracker.track(1, 2, "b", 0.0)
    tracks: list[SyncItem] = [
        (2, "b", 30.0, None, "dispatch", False),
        (3, "c", None, None, "dispatch", False),
    ]
    added, removed = tracker.sync(1, tracks, 5.0)
    assert added == [(1, "dispatch", 3)]
    assert removed == [(1, "dispatch", 1)]
    assert sorted(c.call_id for c in tracker.calls_of(1)) == [2, 3]
    assert tracker.get(1, 2) is not None
    assert tracker.get(1, 2).radius == 30.0  # type: ignore[union-attr]  # the call (or fix) is tracked here: never None


def test_sync_leaves_other_servers_untouched() -> None:
    tracker = Tracker()
    theirs = tracker.track(2, 1, "a", 0.0, meta=META)
    tracker.observe(2, "a", 5.0, 5.0, 0.0, 1.0)
    tracker.track(1, 1, "a", 0.0)
    added, removed = tracker.sync(1, [], 5.0)
    assert (added, removed) == ([], [(1, "dispatch", 1)])
    assert tracker.get(2, 1) is theirs
    assert theirs.meta == META
    assert tracker.fix_of(theirs) is not None
    assert tracker.calls_of(1) == []


def test_sync_keeps_known_meta_of_calls_it_keeps() -> None:
    tracker = Tracker()
    call = tracker.track(1, 1, "a", 0.0, meta=META)
    tracker.sync(1, [(1, "a", None, None, "dispatch", False)], 5.0)
    assert tracker.get(1, 1) is call
    assert call.meta == META
    assert call.since == 0.0


def test_sync_adopts_meta_it_is_given() -> None:
    tracker = Tracker()
    tracker.sync(1, [(1, "a", None, {"x": "3", "y": "4"}, "dispatch", False)], 5.0)
    call = tracker.get(1, 1)
    assert call is not None
    assert call.drawn == (3.0, 4.0)


def test_sync_frees_fixes_of_removed_calls() -> None:
    tracker = Tracker()
    tracker.track(1, 1, "a", 0.0)
    tracker.observe(1, "a", 1.0, 1.0, 0.0, 1.0)
    tracker.sync(1, [(2, "b", None, None, "dispatch", False)], 2.0)
    assert (1, "a") not in tracker.fixes


def test_observe_ignores_subjects_no_call_follows() -> None:
    tracker = Tracker()
    tracker.track(1, 1, "a", 0.0)
    for i in range(1000):
        tracker.observe(1, f"stranger:{i}", 1.0, 2.0, 3.0, float(i))
    tracker.observe(2, "a", 1.0, 2.0, 3.0, 1.0)  # same subject name, another game server
    assert tracker.fixes == {}


def test_first_fix_has_no_velocity() -> None:
    tracker = Tracker()
    call = tracker.track(1, 1, "a", 0.0)
    tracker.observe(1, "a", 100.0, 200.0, 30.0, 1.0)
    fix = tracker.fix_of(call)
    assert fix is not None
    assert (fix.vx, fix.vy, fix.speed, fix.turn) == (0.0, 0.0, 0.0, 0.0)


def test_velocity_is_estimated_from_the_last_two_fixes() -> None:
    tracker = Tracker()
    call = tracker.track(1, 1, "a", 0.0)
    tracker.observe(1, "a", 0.0, 0.0, 0.0, 10.0)
    tracker.observe(1, "a", 30.0, -40.0, 5.0, 12.0)
    fix = tracker.fix_of(call)
    assert fix is not None
    assert fix.vx == pytest.approx(15.0)
    assert fix.vy == pytest.approx(-20.0)
    assert fix.speed == pytest.approx(25.0)
    assert fix.turn == 0.0  # no earlier direction to compare with


def test_a_fix_at_the_same_instant_keeps_the_previous_velocity() -> None:
    tracker = Tracker()
    call = tracker.track(1, 1, "a", 0.0)
    tracker.observe(1, "a", 0.0, 0.0, 0.0, 1.0)
    tracker.observe(1, "a", 10.0, 0.0, 0.0, 2.0)
    tracker.observe(1, "a", 11.0, 0.0, 0.0, 2.0)
    fix = tracker.fix_of(call)
    assert fix is not None
    assert (fix.x, fix.vx, fix.vy) == (11.0, 10.0, 0.0)


def test_turn_is_the_change_in_direction_of_travel() -> None:
    tracker = Tracker()
    call = tracker.track(1, 1, "a", 0.0)
    tracker.observe(1, "a", 0.0, 0.0, 0.0, 0.0)
    tracker.observe(1, "a", 10.0, 0.0, 0.0, 1.0)  # east
    tracker.observe(1, "a", 10.0, 10.0, 0.0, 2.0)  # north: a quarter turn
    fix = tracker.fix_of(call)
    assert fix is not None
    assert fix.turn == pytest.approx(math.pi / 2)


def test_turn_wraps_around_and_is_never_more_than_half_a_circle() -> None:
    tracker = Tracker()
    call = tracker.track(1, 1, "a", 0.0)
    # Heading just below +pi, then just above -pi: a small turn, not nearly a full circle.
    tracker.observe(1, "a", 0.0, 0.0, 0.0, 0.0)
    tracker.observe(1, "a", -10.0, 0.1, 0.0, 1.0)
    tracker.observe(1, "a", -20.0, 0.0, 0.0, 2.0)
    fix = tracker.fix_of(call)
    assert fix is not None
    assert fix.turn == pytest.approx(0.02, abs=1e-3)
    tracker.observe(1, "a", -10.0, 0.0, 0.0, 3.0)  # straight back: a U-turn
    assert tracker.fix_of(call).turn == pytest.approx(math.pi, abs=0.02)  # type: ignore[union-attr]  # the call (or fix) is tracked here: never None


def test_slow_subjects_have_no_turn() -> None:
    tracker = Tracker()
    call = tracker.track(1, 1, "a", 0.0)
    tracker.observe(1, "a", 0.0, 0.0, 0.0, 0.0)
    tracker.observe(1, "a", 0.2, 0.0, 0.0, 1.0)
    tracker.observe(1, "a", 0.2, 0.2, 0.0, 2.0)  # GPS-like wobble at 0.2 m/s
    assert tracker.fix_of(call).turn == 0.0  # type: ignore[union-attr]  # the call (or fix) is tracked here: never None


def test_error_is_none_before_the_first_fix() -> None:
    tracker = Tracker()
    call = tracker.track(1, 1, "a", 0.0, meta=META)
    assert tracker.error(call) is None


def test_error_is_the_distance_to_where_the_call_is_drawn() -> None:
    tracker = Tracker()
    call = tracker.track(1, 1, "a", 0.0, meta={"x": "100", "y": "200"})
    tracker.observe(1, "a", 130.0, 240.0, 999.0, 1.0)
    assert tracker.error(call) == pytest.approx(50.0)


def test_error_of_a_call_drawn_nowhere_known_is_large() -> None:
    tracker = Tracker()
    call = tracker.track(1, 1, "a", 0.0, meta={"postal": "221"})
    tracker.observe(1, "a", 1.0, 1.0, 0.0, 1.0)
    assert tracker.error(call) == UNKNOWN_ERROR


def test_settle_integrates_a_constant_error_over_time() -> None:
    tracker = Tracker()
    call = tracker.track(1, 1, "a", 0.0, meta=META)
    tracker.observe(1, "a", 30.0, 40.0, 0.0, 0.0)  # 50 m off, and stays there
    tracker.settle(call, 0.0)
    tracker.settle(call, 4.0)
    assert call.acc == pytest.approx(200.0)
    tracker.settle(call, 10.0)
    assert call.acc == pytest.approx(500.0)
    assert call.acc_err == pytest.approx(50.0)
    assert call.acc_at == 10.0


def test_settle_at_the_same_instant_adds_nothing() -> None:
    tracker = Tracker()
    call = tracker.track(1, 1, "a", 0.0, meta=META)
    tracker.observe(1, "a", 30.0, 40.0, 0.0, 0.0)
    tracker.settle(call, 5.0)
    before = call.acc
    tracker.settle(call, 5.0)
    assert call.acc == before


def test_settle_accumulates_the_trapezoid_of_the_error_between_fixes() -> None:
    tracker = Tracker()
    call = tracker.track(1, 1, "a", 0.0, meta=META)  # drawn at (0, 0)
    tracker.observe(1, "a", 10.0, 0.0, 0.0, 0.0)  # 10 m off at t=0
    tracker.observe(1, "a", 30.0, 0.0, 0.0, 10.0)  # 30 m off at t=10
    tracker.settle(call, 10.0)
    # Error rises linearly from 10 to 30 over 10 s: (10 + 30) / 2 * 10 = 200 m·s.
    assert call.acc == pytest.approx(200.0)
    assert call.acc_err == pytest.approx(30.0)
    tracker.settle(call, 20.0)  # then holds at 30 m for 10 s more: + 300
    assert call.acc == pytest.approx(500.0)


def test_what_settling_would_make_does_not_depend_on_how_often_anyone_looked() -> None:
    def passing(looks: list[float]) -> tuple[float, float]:
        tracker = Tracker()
        tracker.near = 10.0
        call = tracker.track(1, 1, "a", 0.0, meta=META)  # drawn at (0, 0)
        # A subject reported 30 m short of the pin, driving through it at 2 m/s.
        tracker.observe(1, "a", -30.0, 0.0, 0.0, 0.0, vx=2.0, vy=0.0)
        for t in looks:
            tracker.settle(call, t)
        before = (call.acc, call.acc_at, call.right_at)
        acc, error, right_at = tracker.accrued(call, 30.0)
        assert (call.acc, call.acc_at, call.right_at) == before  # looking changed nothing
        assert error == pytest.approx(30.0)
        return acc, right_at

    # |2t - 30| over 30 s: 225 + 225 m·s; within 10 m of the pin from t = 10 to t = 20.
    once, right_once = passing([])
    often, right_often = passing([t / 4 for t in range(1, 120)])
    assert once == pytest.approx(450.0, rel=0.01)
    assert often == pytest.approx(450.0, rel=0.01)
    assert right_once == pytest.approx(20.0, abs=1.0) and right_often == pytest.approx(
        20.0, abs=0.3
    )


def test_drawn_moved_restarts_the_accumulator() -> None:
    tracker = Tracker()
    call = tracker.track(1, 1, "a", 0.0, meta=META)
    tracker.observe(1, "a", 30.0, 40.0, 0.0, 0.0)
    tracker.settle(call, 10.0)
    assert call.acc > 0
    tracker.drawn_moved(call, 30.0, 0.0, 12.0)
    assert call.drawn == (30.0, 0.0)
    assert call.pushed_at == 12.0
    assert (call.acc, call.acc_at) == (0.0, 12.0)
    assert call.acc_err == pytest.approx(40.0)
    assert tracker.error(call) == pytest.approx(40.0)
