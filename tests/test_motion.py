"""The one motion model: its behaviour, and the Lua (motion.lua under lupa) agreeing with it."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lupa import lua54

from bridge import motion

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
