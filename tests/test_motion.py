"""The one motion model: its behaviour, and the Lua (motion.lua under lupa) agreeing with it."""

from __future__ import annotations

import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lupa import lua54

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` lives beside `bridge`

from bench.feed import ShippedFeed
from bench.kit import make_planner
from bench.sim import Truth
from bench.workloads import WORKLOADS
from bridge import motion
from bridge.planner import Planner, Push
from bridge.tracker import Tracker

MOTION_LUA = Path(__file__).resolve().parents[1] / "lua_resource" / "shared" / "motion.lua"


@dataclass(frozen=True)
class T:
    x: float
    y: float
    vx: float
    vy: float


class Lua:
    """motion.lua in a bare Lua 5.4."""

    def __init__(self) -> None:
        self.runtime = lua54.LuaRuntime(unpack_returned_tuples=True)
        self.m = self.runtime.globals().load(MOTION_LUA.read_text(), "@motion.lua")()

    def track(self, track: T) -> Any:
        return self.runtime.table_from({"x": track.x, "y": track.y, "vx": track.vx, "vy": track.vy})


@pytest.fixture(scope="module")
def lua() -> Lua:
    return Lua()


def test_a_track_runs_on_at_its_velocity_up_to_the_horizon() -> None:
    track = T(100.0, 200.0, 10.0, -5.0)
    assert motion.predict(track, 0.0) == (100.0, 200.0)
    assert motion.predict(track, 3.0) == (130.0, 185.0)
    assert motion.predict(track, -1.0) == (100.0, 200.0)  # never before it was sent
    assert motion.predict(track, 1000.0) == motion.predict(track, motion.HORIZON)


def test_velocity_comes_from_vx_vy_else_speed_along_gta_heading() -> None:
    assert motion.velocity(3.0, 4.0, 99.0, 0.0) == (3.0, 4.0)
    vx, vy = motion.velocity(None, None, 10.0, 90.0) or (0.0, 0.0)  # GTA 90 degrees: west
    assert (round(vx, 9), round(vy, 9)) == (-10.0, 0.0)
    vx, vy = motion.velocity(math.nan, 1.0, 10.0, 0.0) or (0.0, 0.0)  # north
    assert (round(vx, 9), round(vy, 9)) == (0.0, 10.0)
    assert motion.velocity(None, None, None, 0.0) is None
    assert motion.velocity(None, None, math.inf, 0.0) is None


def test_slower_than_stopped_stands_still() -> None:
    assert motion.velocity(0.3, 0.3, None, None) == (0.0, 0.0)
    assert not motion.moving(0.0, 0.0)
    assert motion.moving(0.0, motion.STOPPED)


def test_a_steady_mover_keeps_its_track_and_a_stop_or_turn_breaks_it_at_once() -> None:
    track = T(0.0, 0.0, 20.0, 0.0)
    assert motion.holds(track, 10.0, 201.0, 1.0, 20.0, 0.0, 5.0)  # on the predicted track
    assert not motion.holds(track, 10.0, 200.0, 0.0, 0.0, 0.0, 5.0)  # stopped
    assert not motion.holds(track, 2.0, 40.0, 0.0, 0.0, 20.0, 5.0)  # turned, not yet drifted
    assert not motion.holds(track, 10.0, 190.0, 0.0, 20.0, 0.0, 5.0)  # 10 m behind
    still = T(5.0, 5.0, 0.0, 0.0)
    assert motion.holds(still, 29.0, 7.0, 5.0, 0.0, 0.0, 5.0)
    assert not motion.holds(still, 1.0, 5.0, 5.0, 1.5, 0.0, 5.0)  # a walker setting off


def _number(rng: random.Random) -> float | None:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.08:
        return rng.choice([math.nan, math.inf, -math.inf])
    if roll < 0.2:
        return rng.uniform(-0.6, 0.6)  # about STOPPED
    return rng.uniform(-60.0, 60.0)


def test_lua_and_python_agree_on_generated_inputs(lua: Lua) -> None:
    rng = random.Random(9)
    for _ in range(4000):
        vx, vy, speed = _number(rng), _number(rng), _number(rng)
        heading = rng.choice([None, math.nan, rng.uniform(0.0, 360.0), rng.uniform(-720, 720)])
        got = lua.m.velocity(vx, vy, speed, heading)
        want = motion.velocity(vx, vy, speed, heading)
        if want is None:
            assert got == (None, None)
        else:
            assert got == pytest.approx(want, abs=1e-12)

        track = T(
            rng.uniform(-4000, 4000),
            rng.uniform(-4000, 4000),
            rng.uniform(-40, 40),
            rng.uniform(-40, 40),
        )
        if rng.random() < 0.3:
            track = T(track.x, track.y, 0.0, 0.0)
        dt = rng.choice([0.0, rng.uniform(-1, 40), float(rng.randint(0, 35))])
        x = track.x + rng.gauss(0, 200)
        y = track.y + rng.gauss(0, 200)
        rvx, rvy = (rng.uniform(-40, 40), rng.uniform(-40, 40))
        if rng.random() < 0.3:
            rvx, rvy = 0.0, 0.0
        min_move = rng.choice([0.0, 5.0, rng.uniform(0, 300)])
        lt = lua.track(track)
        assert lua.m.predict(lt, dt) == pytest.approx(motion.predict(track, dt), abs=1e-9)
        off = motion.off_track(track, dt, x, y, rvx, rvy)
        assert lua.m.off_track(lt, dt, x, y, rvx, rvy) == pytest.approx(off, abs=1e-9)
        if abs(off - min_move) > 1e-6:
            assert lua.m.holds(lt, dt, x, y, rvx, rvy, min_move) == motion.holds(
                track, dt, x, y, rvx, rvy, min_move
            )


def test_the_lua_constants_are_the_python_ones(lua: Lua) -> None:
    assert (lua.m.STOPPED, lua.m.HORIZON, lua.m.LOOKAHEAD) == (
        motion.STOPPED,
        motion.HORIZON,
        motion.LOOKAHEAD,
    )


# -- the daemon's side: the tracker predicts a silent subject by the same model ----------


META = {"x": "0", "y": "0", "z": "0", "radius": "100", "postal": "221"}


def push_now(planner: Planner, now: float) -> Push:
    action = planner.next_action(now)
    assert isinstance(action, Push), action
    planner.begin(action, now)
    return action


def test_a_reported_mover_is_predicted_on_its_track_until_the_horizon() -> None:
    tracker = Tracker()
    tracker.track(1, 7, "veh:7", 0.0, meta=META)
    tracker.observe(1, "veh:7", 100.0, 0.0, 0.0, 0.0, vx=20.0, vy=0.0)
    call = tracker.calls[(1, "dispatch", 7)]
    assert tracker.error(call, 0.0) == pytest.approx(100.0)
    assert tracker.error(call, 10.0) == pytest.approx(300.0)
    assert tracker.error(call, 100.0) == pytest.approx(100.0 + 20.0 * motion.HORIZON)


def test_speed_and_heading_are_a_velocity_when_vx_vy_are_missing() -> None:
    tracker = Tracker()
    tracker.track(1, 7, "veh:7", 0.0, meta=META)
    tracker.observe(1, "veh:7", 0.0, 100.0, 0.0, 0.0, speed=10.0, heading=0.0)  # north
    assert tracker.error(tracker.calls[(1, "dispatch", 7)], 5.0) == pytest.approx(150.0)


def test_a_subject_that_stopped_is_held_where_it_stopped() -> None:
    tracker = Tracker()
    tracker.track(1, 7, "veh:7", 0.0, meta=META)
    tracker.observe(1, "veh:7", 0.0, 0.0, 0.0, 0.0, vx=25.0, vy=0.0)
    tracker.observe(1, "veh:7", 480.0, 0.0, 0.0, 20.0, vx=0.0, vy=0.0)
    call = tracker.calls[(1, "dispatch", 7)]
    assert tracker.error(call, 20.0) == tracker.error(call, 200.0) == pytest.approx(480.0)


def test_an_item_without_velocity_is_held_at_its_fix() -> None:
    tracker = Tracker()
    tracker.track(1, 7, "veh:7", 0.0, meta=META)
    tracker.observe(1, "veh:7", 100.0, 0.0, 0.0, 0.0)
    tracker.observe(1, "veh:7", 120.0, 0.0, 0.0, 1.0)  # 20 m/s by differencing
    fix = tracker.fixes[(1, "veh:7")]
    assert (fix.speed, fix.reported) == (pytest.approx(20.0), False)
    assert tracker.error(tracker.calls[(1, "dispatch", 7)], 30.0) == pytest.approx(120.0)


def test_a_stopped_subject_is_pushed_where_it_stands_not_led_on() -> None:
    planner = make_planner(get_limit=None, lead=True)
    planner.track(1, 7, "veh:7", 0.0, meta=META)
    planner.observe(1, "veh:7", 0.0, 0.0, 0.0, 0.0, vx=25.0, vy=0.0)
    planner.observe(1, "veh:7", 480.0, 5.0, 0.0, 20.0, vx=0.0, vy=0.0)
    push = push_now(planner, 21.0)
    assert (push.x, push.y) == (480.0, 5.0)


def test_a_steady_mover_is_led_from_where_the_resource_predicts_it() -> None:
    planner = make_planner(get_limit=None, lead=True)
    planner.track(1, 7, "veh:7", 0.0, meta=META)
    planner.observe(1, "veh:7", 100.0, 0.0, 0.0, 0.0, vx=20.0, vy=0.0)
    push = push_now(planner, 10.0)  # silent for 10 s: on its track, at x = 300
    assert 300.0 < push.x <= 300.0 + 20.0 * planner.settings.lead_cap
    unled = make_planner(get_limit=None)
    unled.track(1, 7, "veh:7", 0.0, meta=META)
    unled.observe(1, "veh:7", 100.0, 0.0, 0.0, 0.0, vx=20.0, vy=0.0)
    assert push_now(unled, 10.0).x == pytest.approx(300.0)


def test_a_braking_subject_is_not_led() -> None:
    planner = make_planner(get_limit=None, lead=True)
    planner.track(1, 7, "veh:7", 0.0, meta=META)
    planner.observe(1, "veh:7", 100.0, 0.0, 0.0, 0.0, vx=20.0, vy=0.0)
    planner.observe(1, "veh:7", 118.0, 0.0, 0.0, 1.0, vx=16.0, vy=0.0)  # -4 m/s2
    push = push_now(planner, 1.0)
    assert (push.x, push.y) == (118.0, 0.0)


@pytest.mark.parametrize("workload", ["pursuit-stop", "foot-chase", "traffic-stops"])
def test_the_daemon_never_has_a_subject_off_by_min_move_at_a_sample(workload: str) -> None:
    """The contract of one model: fed the real Lua sampler's items, the daemon's prediction of
    every subject is within the resource's min_move of the truth at every sampling instant."""
    truth = Truth.sample(WORKLOADS[workload]().movement(), 900)
    feed = ShippedFeed()
    reports = feed.reports(truth)
    tracker = Tracker()
    for call_id, subject in enumerate(truth.subjects, start=1):
        tracker.track(1, call_id, subject, 0.0, meta=META)
    sent = 0
    for second, items in enumerate(reports):
        for r in items:
            tracker.observe(
                1, truth.subjects[r.index], r.x, r.y, r.z, float(second),
                vx=r.vx, vy=r.vy, speed=r.speed, heading=r.heading,
            )  # fmt: skip
        sent += len(items)
        for subject, (x, y, _) in zip(truth.subjects, truth.xyz[second], strict=True):
            px, py = tracker.fixes[(1, subject)].at(float(second))
            assert math.hypot(px - x, py - y) < feed.settings["min_move"] + 0.02, (subject, second)
    assert sent < 0.5 * len(truth.subjects) * truth.seconds  # and it sends far less than 1 Hz


def test_a_mover_silent_on_its_track_is_led_on_until_the_heartbeat_is_overdue() -> None:
    planner = make_planner(get_limit=None, lead=True)
    planner.track(1, 7, "veh:7", 0.0, meta=META)
    planner.observe(1, "veh:7", 0.0, 0.0, 0.0, 0.0, vx=20.0, vy=0.0)
    assert push_now(planner, 25.0).x > 500.0 + 20.0  # at x = 500 by the prediction, and led
    quiet = make_planner(get_limit=None, lead=True)
    quiet.track(1, 7, "veh:7", 0.0, meta=META)
    quiet.observe(1, "veh:7", 0.0, 0.0, 0.0, 0.0, vx=20.0, vy=0.0)
    push = push_now(quiet, motion.HORIZON + 5.0)  # the resource should have sent by now
    assert push.x == pytest.approx(20.0 * motion.HORIZON)  # held where the track ran out


def test_a_subject_that_eased_off_and_held_its_new_track_is_led_again() -> None:
    planner = make_planner(get_limit=None, lead=True)
    planner.track(1, 7, "veh:7", 0.0, meta=META)
    planner.observe(1, "veh:7", 0.0, 0.0, 0.0, 0.0, vx=20.0, vy=0.0)
    planner.observe(1, "veh:7", 300.0, 0.0, 0.0, 15.0, vx=14.0, vy=0.0)  # slowed in 1 s
    assert push_now(planner, 16.0).x == pytest.approx(314.0)  # braking: where it is
    steady = make_planner(get_limit=None, lead=True)
    steady.track(1, 7, "veh:7", 0.0, meta=META)
    steady.observe(1, "veh:7", 0.0, 0.0, 0.0, 0.0, vx=20.0, vy=0.0)
    steady.observe(1, "veh:7", 300.0, 0.0, 0.0, 15.0, vx=14.0, vy=0.0)
    assert push_now(steady, 20.0).x > 300.0 + 14.0 * 5  # silent 5 s: on its track, led
