"""The choice on its own: candidates' figures, the policy's pick and the read ahead, over one
`Ground` (what the choice looks at) with the time as an argument."""

from __future__ import annotations

from bridge import choice, placement
from bridge.actions import Fetch, Push
from bridge.budget import Budget
from bridge.reads import Reads
from bridge.scheduler import Accumulator
from bridge.settings import Settings
from bridge.tracker import Tracker

META = {"x": "0", "y": "0", "z": "0", "radius": "100", "postal": "221"}


def ground(
    settings: Settings, *, get_budget: Budget | None = None
) -> tuple[choice.Ground, Tracker]:
    """What the choice looks at, and its tracker."""
    tracker = Tracker()
    tracker.near = settings.min_move
    g = choice.Ground(
        tracker, Reads(), settings, Accumulator(settings.min_move), Budget(10, 60.0), get_budget
    )
    return g, tracker


def test_looking_at_the_candidates_changes_nothing_and_a_begun_request_settles_them() -> None:
    g, tracker = ground(Settings(lead=False))
    tracker.track(1, 7, "veh:7", 0.0, meta=META)
    tracker.observe(1, "veh:7", 100.0, 0.0, 0.0, 1.0)
    call = tracker.get(1, 7)
    assert call is not None
    before = (call.acc, call.acc_at)
    (found,) = choice.candidates(g, 5.0)
    assert (call.acc, call.acc_at) == before
    assert found.error == 100.0 and found.acc > 0
    choice.settle(g, 5.0)
    assert (call.acc, call.acc_at) == (found.acc, 5.0)


def test_a_paused_server_or_a_refused_call_is_no_candidate() -> None:
    g, tracker = ground(Settings(lead=False))
    tracker.track(1, 7, "veh:7", 0.0, meta=META)
    tracker.observe(1, "veh:7", 100.0, 0.0, 0.0, 1.0)
    g.reads.paused_until[1] = 50.0
    assert choice.candidates(g, 2.0) == []
    del g.reads.paused_until[1]
    call = tracker.get(1, 7)
    assert call is not None
    call.refused_until = 30.0
    assert choice.candidates(g, 2.0) == [] and len(choice.candidates(g, 30.0)) == 1


def test_old_metadata_is_read_ahead_of_its_push_slot_then_pushed_at_the_slot() -> None:
    settings = Settings(lead=False, meta_max_age=15.0, read_ahead=1.0)
    g, tracker = ground(settings, get_budget=Budget(5, 60.0))
    tracker.track(1, 7, "veh:7", 0.0).learn_meta(META, 0.0)  # read from the CAD: no relay
    tracker.observe(1, "veh:7", 100.0, 0.0, 0.0, 1.0)
    for i in range(10):  # the window's slots spent: the next opens a window on
        g.update_budget.begin(i * 0.1)
        g.update_budget.end(i * 0.1 + 0.05)
    slot = choice.push_slot(g, 55.0)
    assert slot > 55.0
    wake = choice.next_wake(g, 55.0)
    assert wake == slot - settings.read_ahead
    assert choice.next_action(g, wake) == Fetch(1)
    g.reads.fetched_at[1] = wake + 0.3  # the read answered
    call = tracker.get(1, 7)
    assert call is not None
    call.learn_meta(META, wake + 0.3)
    assert choice.next_action(g, slot - 0.5) is None  # the push waits for its slot
    push = choice.next_action(g, slot)
    assert isinstance(push, Push) and (push.x, push.y) == (100.0, 0.0)


def test_a_braking_subject_s_call_gives_way_until_it_has_turned_or_stopped() -> None:
    g, tracker = ground(Settings(lead=True))
    steady = tracker.track(1, 1, "veh:1", 0.0, meta=dict(META))
    brakes = tracker.track(1, 2, "veh:2", 0.0, meta=dict(META))
    tracker.observe(1, "veh:1", 100.0, 0.0, 0.0, 0.0, vx=15.0, vy=0.0)
    tracker.observe(1, "veh:2", 150.0, 0.0, 0.0, 0.0, vx=15.0, vy=0.0)
    tracker.observe(1, "veh:1", 115.0, 0.0, 0.0, 1.0, vx=15.0, vy=0.0)
    tracker.observe(1, "veh:2", 165.0, 0.0, 0.0, 1.0, vx=10.0, vy=0.0)  # 5 m/s² slower
    # veh:2's call is further off, but its subject brakes: it is ranked at half its area, and
    # the steady one goes first.
    now = 2.0
    found = {c.call.subject: c for c in choice.candidates(g, now)}
    assert tracker.accrued(brakes, now)[0] > tracker.accrued(steady, now)[0]
    assert found["veh:2"].acc == tracker.accrued(brakes, now)[0] * choice.BRAKING_RANK
    assert found["veh:1"].acc == tracker.accrued(steady, now)[0]
    assert g.policy.choose(list(found.values()), now) is found["veh:1"]
    # Quiet for BRAKING_FOR since: it has held its new speed, and counts in full again.
    later = 1.0 + placement.BRAKING_FOR
    found = {c.call.subject: c for c in choice.candidates(g, later)}
    assert found["veh:2"].acc == tracker.accrued(brakes, later)[0]
