"""Which call gets the next slot, and where it is pushed: the policies and the lead."""

from __future__ import annotations

import math

import pytest

from bench.kit import make_planner
from bridge.budget import Budget
from bridge.outcomes import Updated
from bridge.planner import Planner, Push, Settings
from bridge.scheduler import (
    Accumulator,
    Candidate,
    GreedyError,
    OldestFirst,
    PacedAccumulator,
    Policy,
    RoundRobin,
)
from bridge.tracker import Call, Fix

THRESHOLD = 10.0


def candidate(
    call_id: int,
    *,
    error: float,
    acc: float = 0.0,
    age: float = 0.0,
    stale: float = 0.0,
    speed: float = 0.0,
) -> Candidate:
    call = Call(1, call_id, f"player:{call_id}", None, since=0.0)
    fix = Fix(0.0, 0.0, 0.0, 0.0, vx=speed)
    return Candidate(call, fix, error, age, acc, stale)


def test_a_parked_call_drawn_right_is_never_chosen_over_a_moving_one() -> None:
    parked = candidate(1, error=3.0, acc=50_000.0, age=3_600.0, stale=0.0)
    moving = candidate(2, error=400.0, acc=2_000.0, age=20.0, stale=20.0, speed=15.0)
    for policy in (
        PacedAccumulator(THRESHOLD, 180.0),
        Accumulator(THRESHOLD),
        GreedyError(THRESHOLD),
    ):
        chosen = policy.choose([parked, moving], now=100.0)
        assert chosen is moving, policy.name


def serve(policy: Policy, group: list[Candidate], now: float) -> Candidate | None:
    """Choose as the planner does, and begin the push chosen."""
    chosen = policy.choose(group, now)
    if chosen is not None:
        policy.spent(chosen.call.key, now)
    return chosen


def test_round_robin_spends_slots_on_parked_calls_too() -> None:
    policy = RoundRobin()
    parked, moving = candidate(1, error=0.0), candidate(2, error=400.0)
    chosen = [serve(policy, [parked, moving], now=float(t)) for t in range(4)]
    assert [c.call.call_id for c in chosen if c] == [1, 2, 1, 2]


def test_choosing_remembers_nothing_until_a_push_begins() -> None:
    group = [candidate(1, error=300.0, acc=5_000.0), candidate(2, error=200.0, acc=4_000.0)]
    paced = PacedAccumulator(THRESHOLD, 180.0)
    paced.bind(Budget(10, 60.0))
    for policy in (RoundRobin(), paced):
        first = [policy.choose(group, float(t)) for t in range(3)]
        assert first[0] is not None and first == [first[0]] * 3, policy.name
    assert paced.ready_at() == -math.inf
    paced.spent((1, 1), 100.0)
    assert paced.choose(group, 101.0) is None


def test_baselines_rank_by_their_own_figure() -> None:
    old = candidate(1, error=20.0, acc=100.0, age=300.0)
    far = candidate(2, error=500.0, acc=900.0, age=10.0)
    area = candidate(3, error=100.0, acc=9_000.0, age=60.0)
    group = [old, far, area]
    assert OldestFirst(THRESHOLD).choose(group, 0.0) is old
    assert GreedyError(THRESHOLD).choose(group, 0.0) is far
    assert Accumulator(THRESHOLD).choose(group, 0.0) is area
    assert PacedAccumulator(THRESHOLD, 180.0).choose(group, 0.0) is area


def test_a_slot_is_banked_when_no_call_is_off_by_the_threshold() -> None:
    group = [candidate(1, error=9.0, acc=500.0), candidate(2, error=0.0)]
    assert PacedAccumulator(THRESHOLD, 180.0).choose(group, 0.0) is None
    assert PacedAccumulator(THRESHOLD, 180.0).choose([], 0.0) is None


def test_a_call_near_its_stale_cap_goes_before_a_larger_error_area() -> None:
    policy = PacedAccumulator(THRESHOLD, 120.0)
    policy.bind(Budget(10, 60.0))
    starving = candidate(1, error=15.0, acc=900.0, stale=119.0)
    busy = candidate(2, error=600.0, acc=80_000.0, stale=40.0)
    assert policy.choose([starving, busy], 0.0) is starving


def test_slots_are_paced_not_burst_when_the_budget_is_full() -> None:
    policy = PacedAccumulator(THRESHOLD, 180.0, pace=0.85)
    policy.bind(Budget(10, 60.0))
    group = [candidate(1, error=300.0, acc=5_000.0), candidate(2, error=200.0, acc=4_000.0)]
    assert serve(policy, group, 100.0) is not None
    assert serve(policy, group, 101.0) is None  # plenty of error, but 1 s after the last push
    assert serve(policy, group, 105.0) is None
    assert serve(policy, group, 105.2) is not None  # 0.85 x the 6 s even spacing later


def test_the_planner_binds_the_policy_to_its_update_budget() -> None:
    policy = PacedAccumulator(THRESHOLD, 10.0)
    Planner(policy=policy, update_budget=Budget(10, 2.0), get_budget=None)
    assert policy._spacing() == pytest.approx(0.85 * 0.2)


def drive(
    speeds: list[float],
    seconds: int,
    *,
    settings: Settings | None = None,
    heading: list[float] | None = None,
) -> tuple[Planner, dict[int, list[float]]]:
    """Subjects on straight roads at constant speeds, a planner spending a 10/60 s budget."""
    settings = settings or Settings(lead=False, max_stale=120.0)
    planner = make_planner(paced=True, get_limit=None, settings=settings)
    for call_id in range(1, len(speeds) + 1):
        planner.track(1, call_id, f"player:{call_id}", 0.0, meta={"x": "0", "y": "0"})
    pushes: dict[int, list[float]] = {call_id: [] for call_id in range(1, len(speeds) + 1)}
    for second in range(seconds):
        now = float(second)
        for call_id, speed in enumerate(speeds, start=1):
            angle = heading[call_id - 1] if heading else 0.0
            x, y = speed * now * math.cos(angle), speed * now * math.sin(angle)
            planner.observe(1, f"player:{call_id}", x, y, 0.0, now)
        action = planner.next_action(now)
        if isinstance(action, Push):
            planner.begin(action, now)
            planner.finish_push(action, Updated(call={}, meta=action.meta), now + 0.2)
            pushes[action.key[2]].append(now)
    return planner, pushes


def test_no_mover_starves_however_slow() -> None:
    speeds = [1.5] + [20.0] * 14  # one crawler among fast cars, more than the budget serves
    _, pushes = drive(speeds, 1_200)
    for call_id, times in pushes.items():
        gaps = [b - a for a, b in zip([0.0, *times], [*times, 1_200.0], strict=True)]
        assert max(gaps) <= 120.0 + 6.0, call_id  # the cap, plus one slot of slack


def test_refresh_rates_follow_the_square_root_of_speed() -> None:
    _, pushes = drive([4.0, 4.0, 16.0, 16.0], 3_600)
    slow = len(pushes[1]) + len(pushes[2])
    fast = len(pushes[3]) + len(pushes[4])
    assert fast / slow == pytest.approx(2.0, rel=0.25)


def test_a_steady_mover_is_pushed_ahead_along_its_heading() -> None:
    planner, _ = drive([15.0], 30, settings=Settings(lead=True), heading=[math.pi / 2])
    call = planner.call(1, 1)
    assert call is not None
    fix = planner.fix_of(call)
    assert fix is not None and call.drawn is not None
    assert call.drawn[1] > fix.y - 15.0 * 30  # drawn ahead of where it was pushed from
    lead = planner.lead_seconds(planner.candidates(30.0)[0], 30.0)
    assert 0.0 < lead <= Settings().lead_cap


def lead_for(fix: Fix, *, wait: float, now: float = 100.0) -> float:
    planner = Planner(
        policy=PacedAccumulator(THRESHOLD, 180.0), update_budget=Budget(10, 60.0), get_budget=None
    )
    call = Call(1, 1, "player:1", None, since=0.0)
    return planner.lead_seconds(Candidate(call, fix, 100.0, 60.0, 0.0, 0.0, wait), now)


def test_lead_is_a_share_of_the_expected_wait_and_capped() -> None:
    steady = Fix(0.0, 0.0, 0.0, 99.0, vx=15.0)
    assert lead_for(steady, wait=30.0) == pytest.approx(0.35 * 30.0)  # below the cap
    assert lead_for(steady, wait=600.0) == Settings().lead_cap == 15.0


@pytest.mark.parametrize(
    "fix",
    [
        Fix(0.0, 0.0, 0.0, 99.0, vx=1.0),  # crawling or stopping
        Fix(0.0, 0.0, 0.0, 99.0, vx=15.0, turn=1.2),  # turning at a junction
        Fix(0.0, 0.0, 0.0, 60.0, vx=15.0),  # no fix for 40 s: its speed is a guess
    ],
)
def test_no_lead_for_a_stopping_turning_or_silent_subject(fix: Fix) -> None:
    assert lead_for(fix, wait=30.0) == 0.0


def test_radius_grows_with_the_wait_only_when_asked() -> None:
    plain, _ = drive([15.0, 15.0], 20, settings=Settings(lead=True))
    grown, _ = drive([15.0, 15.0], 20, settings=Settings(lead=True, grow_radius=True))
    plain_call, grown_call = plain.call(1, 1), grown.call(1, 1)
    assert plain_call is not None and plain_call.meta is not None
    assert grown_call is not None and grown_call.meta is not None
    assert float(plain_call.meta["radius"]) == Settings().default_radius
    radius = float(grown_call.meta["radius"])
    assert Settings().default_radius < radius <= 1_000.0


def test_slots_are_not_left_idle_while_calls_are_off() -> None:
    # Twelve movers always have someone far off: pacing may shift a slot, never lose one.
    _, pushes = drive([12.0] * 12, 1_200)
    spent = sum(len(times) for times in pushes.values())
    most = 10 + 10 * (1_200 - 61.2) / 61.2  # a full window at once, then 10 per window + margin
    assert spent >= 0.95 * most
