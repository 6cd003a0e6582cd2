"""The stand-in movement model: deterministic and drivable."""

from __future__ import annotations

import math

import pytest

from bridge.standin.routes import MAP_BOX, Fleet


def inside_map(x: float, y: float) -> bool:
    x_min, y_min, x_max, y_max = MAP_BOX
    return x_min <= x <= x_max and y_min <= y <= y_max


def test_fleet_is_a_pure_function_of_seed_and_time() -> None:
    forward = Fleet(5, seed=7)
    backward = Fleet(5, seed=7)
    times = [0.0, 13.5, 400.0, 1234.25, 3599.0]
    ahead = [forward.positions(t) for t in times]
    behind = [backward.positions(t) for t in reversed(times)][::-1]
    assert ahead == behind
    assert Fleet(5, seed=8).positions(400.0) != ahead[2]


def test_fleet_names_its_subjects_players() -> None:
    assert Fleet(3, seed=1).subjects == ["player:1", "player:2", "player:3"]


def test_fleet_drives_on_the_grid_inside_the_map_at_road_speeds() -> None:
    fleet = Fleet(8, seed=3, speed=(8.0, 25.0))
    previous = fleet.positions(0.0)
    for t in range(1, 1800):
        now = fleet.positions(float(t))
        for (_, x0, y0, _), (_, x1, y1, z1) in zip(previous, now, strict=True):
            assert inside_map(x1, y1)
            assert math.hypot(x1 - x0, y1 - y0) <= 25.0 + 1e-6  # no teleports
            assert 0.0 < z1 < 100.0
        previous = now
    assert max(v for t in range(0, 1800, 5) for _, v in fleet.speeds(float(t))) > 15.0


def test_fleet_moves_along_streets_straight_between_intersections() -> None:
    fleet = Fleet(4, seed=11, moving_share=1.0)
    for t in range(0, 600, 7):
        for _, x, y, _ in fleet.positions(float(t)):
            on_street_x = abs((x + 3000.0) / 200.0 - round((x + 3000.0) / 200.0)) < 1e-6
            on_street_y = abs((y + 3000.0) / 200.0 - round((y + 3000.0) / 200.0)) < 1e-6
            assert on_street_x or on_street_y


@pytest.mark.parametrize(("share", "low", "high"), [(0.5, 0.35, 0.65), (1.0, 0.97, 1.0)])
def test_moving_share_sets_how_much_of_the_fleet_drives(
    share: float, low: float, high: float
) -> None:
    fleet = Fleet(30, seed=2, moving_share=share)
    samples = [v > 1.0 for t in range(0, 3600, 10) for _, v in fleet.speeds(float(t))]
    assert low <= sum(samples) / len(samples) <= high


def test_parked_spells_vary_in_length() -> None:
    fleet = Fleet(10, seed=5, moving_share=0.5)
    spells: list[int] = []
    runs = [0] * 10
    for t in range(3600):
        for i, (_, v) in enumerate(fleet.speeds(float(t))):
            if v < 0.1:
                runs[i] += 1
            elif runs[i]:
                spells.append(runs[i])
                runs[i] = 0
    long_spells = [s for s in spells if s > 60]
    assert len(long_spells) >= 5
    assert max(long_spells) > 2 * min(long_spells)
