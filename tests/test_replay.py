"""The replay benchmark's engine: a short, deterministic run of the daemon's core."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` lives beside `bridge`

from bench.feed import ShippedFeed, ThresholdFeed
from bench.replay import BEFORE, TODAY, main, targets
from bench.sim import Run, SimCad, Truth, replay
from bench.workloads import HELD_OUT, OURS, POLICIES, ROUND_ROBIN, TUNING, WORKLOADS
from bridge.budget import Budget
from bridge.outcomes import RateLimited, Updated
from bridge.planner import Planner, Settings
from bridge.scheduler import RoundRobin


@pytest.fixture(scope="module")
def truth() -> Truth:
    return Truth.sample(WORKLOADS["mixed-10"]().movement(), 300)


def test_every_policy_stays_inside_the_strict_window(truth: Truth) -> None:
    for label, make in POLICIES.items():
        run = replay(make, truth)
        assert run.refusals == 0, label
        assert run.most_in_window <= 10, label
        assert 40 <= run.requests <= 60, label  # 5 minutes at 10 a minute, all spent


def test_a_replay_is_deterministic(truth: Truth) -> None:
    first = replay(POLICIES[OURS], truth)
    again = replay(POLICIES[OURS], Truth.sample(WORKLOADS["mixed-10"]().movement(), 300))
    assert first == again


def test_ours_draws_the_map_better_than_round_robin(truth: Truth) -> None:
    ours = replay(POLICIES[OURS], truth)
    naive = replay(POLICIES[ROUND_ROBIN], truth)
    assert ours.mean_error < naive.mean_error


def test_a_budget_looser_than_the_server_is_caught(truth: Truth) -> None:
    def loose() -> Planner:
        return Planner(RoundRobin(), Budget(20, 60.0, margin=0.0), Budget(5, 60.0), Settings())

    assert replay(loose, truth).refusals > 0


def test_the_simulated_cad_counts_a_closed_sliding_window() -> None:
    cad = SimCad(limit=2, window=60.0)
    cad.calls[1] = {"x": "0", "y": "0"}
    assert isinstance(cad.update_call(1, {"x": "1", "y": "1"}, at=0.0), Updated)
    assert isinstance(cad.update_call(1, {"x": "2", "y": "2"}, at=30.0), Updated)
    assert isinstance(cad.update_call(1, {"x": "3", "y": "3"}, at=60.0), RateLimited)
    assert isinstance(cad.update_call(1, {"x": "4", "y": "4"}, at=60.01), Updated)
    assert cad.calls[1] == {"x": "4", "y": "4"}


def test_the_command_ends_with_one_ratio_line_per_workload(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    drive = tmp_path / "my-drive.csv"
    drive.write_text("t,x,y\n" + "".join(f"{t},{t * 12.0},{100.0}\n" for t in range(200)))
    code = main(["--workload", "mixed-10", "--trace", str(drive), "--minutes", "2", "--no-chart"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    assert lines[-2].startswith("mixed-10: ours/round-robin = ")
    assert lines[-1].startswith("trace:my-drive: ours/round-robin = ")


def test_the_feed_is_the_resource_s_own_sampler_with_its_shipped_defaults() -> None:
    feed = ShippedFeed()
    assert feed.settings == {"interval_ms": 1000.0, "min_move": 5.0, "heartbeat_ms": 30000.0}
    truth = Truth.sample(WORKLOADS["all-moving-10"]().movement(), 120)
    reports = feed.reports(truth)
    assert [r.index for r in reports[0]] == list(range(10))  # everyone, first
    assert all(r.vx is not None and r.vy is not None for items in reports for r in items)
    assert sum(map(len, reports)) < sum(map(len, ThresholdFeed().reports(truth)))


def test_pins_pushed_at_a_standing_subject_are_measured_from_where_it_stands() -> None:
    truth = Truth.sample(WORKLOADS["pursuit-stop"]().movement(), 900)
    ours = replay(POLICIES[OURS], truth)
    before = replay(POLICIES[OURS], truth, reports=ThresholdFeed().reports(truth))
    assert ours.stop_pushes > 0 and before.stop_pushes > 0
    assert ours.overshoot_p95 <= 30.0 < before.overshoot_p95  # the stopped car led on


def test_nothing_moving_spends_nothing() -> None:
    truth = Truth.sample(WORKLOADS["still-10"]().movement(), 300)
    assert replay(POLICIES[OURS], truth).requests == 0


# Digests of an hour of each workload's movement as TODAY was measured on it (ab4b2fa's routes;
# the scripted workloads with this bench/movement.py).
MEASURED_ON = {
    ("mixed-10", 0): "21673c57b7c8ab33", ("mixed-10", 3): "e320ea415456edff",
    ("mixed-10", 12): "142511122a7cac06", ("mixed-30", 0): "e2b697e31b964953",
    ("mixed-30", 3): "f60255510bfc423e", ("mixed-30", 12): "88f9e881d4fe148b",
    ("all-moving-10", 0): "0dc878bf8b48c8d6", ("all-moving-10", 3): "46588f234b10d021",
    ("all-moving-10", 12): "ed040dd309fc8b31", ("real-bus", 0): "92376f7acd355bb4",
    ("real-bus", 3): "8da41f53d9522b91", ("real-bus", 12): "7eb3c90d26799e22",
    ("pursuit-stop", 0): "e7975eb8daa2c505", ("pursuit-stop", 3): "c34c8590b2f9638f",
    ("pursuit-stop", 12): "88b83ecb715f7571", ("traffic-stops", 0): "db87886398e7a9d6",
    ("traffic-stops", 3): "a095311a303ad0c0", ("traffic-stops", 12): "0104bd1a6332afcd",
    ("foot-chase", 0): "398df2283a63f396", ("foot-chase", 3): "3d3292fb274d8835",
    ("foot-chase", 12): "13f944bf69e2bfe8", ("park-a-minute", 0): "2dd41d86c1f732da",
    ("park-a-minute", 3): "4552a34e70007bca", ("park-a-minute", 12): "206afb74a5e02de8",
}  # fmt: skip


@pytest.mark.parametrize(("name", "k"), sorted(MEASURED_ON))
def test_today_s_ratios_were_measured_on_the_movement_these_seeds_still_make(
    name: str, k: int
) -> None:
    movement = WORKLOADS[name](k).movement()
    rows = [
        [(round(x, 3), round(y, 3), round(z, 3)) for _, x, y, z in movement.positions(float(t))]
        for t in range(3600)
    ]
    assert hashlib.sha256(repr(rows).encode()).hexdigest()[:16] == MEASURED_ON[(name, k)]


def test_the_held_out_seeds_are_neither_the_reported_nor_the_tuning_ones() -> None:
    assert 0 not in TUNING and not {0, *TUNING} & set(HELD_OUT) and len(HELD_OUT) >= 10
    assert all(len(ratios) > max(HELD_OUT) for ratios in TODAY.values())
    assert set(TODAY) == {name for name in WORKLOADS if name != "still-10"}  # nothing to draw


def fake(policy: str, error: float, requests: int = 10, stop: float = 0.0) -> Run:
    return Run(policy, error, error, 0.0, requests, 0, requests, 0.5, stop, int(stop > 0), [])


def test_a_target_is_the_mean_over_seeds_against_the_bar_s_mean_on_the_same_seeds() -> None:
    seeds = [
        (3, {OURS: fake(OURS, 50.0), ROUND_ROBIN: fake(ROUND_ROBIN, 100.0)}),  # 0.5
        (4, {OURS: fake(OURS, 62.0), ROUND_ROBIN: fake(ROUND_ROBIN, 100.0)}),  # 0.62
    ]
    today = {"real-bus": (0.9, 0.9, 0.9, 0.58, 0.56)}  # mean on 3 and 4: 0.57 > 0.56
    assert targets({"real-bus": seeds}, today) == [
        ("real-bus: ours/round-robin 0.560 <= today's 0.570 (mean of 2 seeds)", True)
    ]
    worse = [(3, {**seeds[0][1], OURS: fake(OURS, 66.0)}), seeds[1]]  # 0.64 on 3
    assert targets({"real-bus": worse}, today)[0][1] is False
    # Without today's figures (another hour or feed), the bar is the before feed's, same seeds.
    for k, runs in seeds:
        runs[BEFORE + OURS] = fake(OURS, 55.0 + k)
        runs[BEFORE + ROUND_ROBIN] = fake(ROUND_ROBIN, 100.0)
    assert targets({"real-bus": seeds}, {}) == [
        ("real-bus: ours/round-robin 0.560 <= before's 0.585 (mean of 2 seeds)", True)
    ]


def test_overshoot_is_judged_on_the_worst_seed_and_still_on_every_request() -> None:
    seeds = [
        (3, {OURS: fake(OURS, 0.0, 0, stop=4.0), ROUND_ROBIN: fake(ROUND_ROBIN, 0.0),
             BEFORE + OURS: fake(OURS, 0.0, 0), BEFORE + ROUND_ROBIN: fake(ROUND_ROBIN, 0.0)}),
        (4, {OURS: fake(OURS, 0.0, 1, stop=31.0), ROUND_ROBIN: fake(ROUND_ROBIN, 0.0),
             BEFORE + OURS: fake(OURS, 0.0, 0), BEFORE + ROUND_ROBIN: fake(ROUND_ROBIN, 0.0)}),
    ]  # fmt: skip
    assert targets({"still-10": seeds}, {}) == [
        ("still-10: overshoot at stops p95 31.0 m <= 30 m (the worst seed)", False),
        ("still-10: requests when nothing moves 1 <= before's 0", False),
    ]


def test_held_out_runs_every_unseen_seed_and_decides_on_their_mean(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Three minutes is not the hour today's ratios are for, so the bar is the before feed's.
    code = main(["--workload", "traffic-stops", "--held-out", "--minutes", "3", "--no-chart"])
    out = capsys.readouterr().out
    assert code == 0
    by_seed = next(line for line in out.splitlines() if "by seed:" in line)
    ratios = [float(r) for r in by_seed.split(":")[1].split()]
    assert len(ratios) == len(HELD_OUT)
    verdict = next(line for line in out.splitlines() if "ours/round-robin 0." in line)
    judged = float(verdict.split("ours/round-robin ")[1].split()[0])
    assert judged == pytest.approx(sum(ratios) / len(ratios), abs=1e-3)  # the mean, not a seed
    assert verdict.endswith(f"(mean of {len(HELD_OUT)} seeds)") and "before's" in verdict
