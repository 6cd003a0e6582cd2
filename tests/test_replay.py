"""The replay benchmark's engine: a short, deterministic run of the daemon's core."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `bench` lives beside `bridge`

from bench.feed import ShippedFeed, ThresholdFeed
from bench.replay import main
from bench.sim import SimCad, Truth, replay
from bench.workloads import OURS, POLICIES, ROUND_ROBIN, WORKLOADS
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
