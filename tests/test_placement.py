"""The pure rules the planner asks: where a push goes (`placement`) and whether a read goes
first (`freshness`). Values in, values out: no planner, no clock."""

from __future__ import annotations

from bridge import freshness, placement
from bridge.budget import Budget
from bridge.planner import Settings
from bridge.postal import Postal, PostalIndex
from bridge.protocol import EMERGENCY, Kind
from bridge.scheduler import Candidate
from bridge.tracker import Call, Fix

META = {"x": "0", "y": "0", "z": "0", "radius": "100", "postal": "221", "notes": "keep"}


def call(*, kind: Kind | None = None, meta_at: float | None = 0.0) -> Call:
    made = Call(1, 7, "veh:7", None, 0.0, meta=dict(META), meta_at=meta_at)
    if kind is not None:
        made.kind = kind
    return made


def test_a_steady_mover_is_pushed_ahead_by_a_share_of_its_wait_and_keeps_foreign_keys() -> None:
    fix = Fix(100.0, 0.0, 5.0, t=10.0, vx=10.0, reported=True)
    chosen = Candidate(call(), fix, 100.0, 10.0, 0.0, wait=20.0)
    knobs = Settings(lead=True, lead_share=0.5, lead_cap=15.0, default_radius=50.0)
    assert placement.lead_seconds(chosen, 10.0, knobs) == 10.0
    at = placement.place(chosen, 10.0, knobs, None)
    assert (at.x, at.y, at.z, at.radius) == (200.0, 0.0, 5.0, 50.0)
    assert at.meta["notes"] == "keep" and at.postal is None
    # Slow: no lead, drawn where it is.
    slow = Candidate(call(), Fix(100.0, 0.0, 5.0, t=10.0, vx=1.0, reported=True), 0, 0, 0)
    assert placement.lead_seconds(slow, 10.0, knobs) == 0.0


def test_a_911_call_carries_its_postal_in_its_metadata() -> None:
    postals = PostalIndex([Postal(0.0, 0.0, "100"), Postal(1000.0, 0.0, "200")])
    chosen = Candidate(call(kind=EMERGENCY), Fix(990.0, 0.0, 0.0, t=0.0), 0.0, 0.0, 0.0)
    at = placement.place(chosen, 0.0, Settings(lead=False), postals)
    assert at.meta["postal"] == "200" and at.postal == "200"
    dispatch = Candidate(call(), Fix(990.0, 0.0, 0.0, t=0.0), 0.0, 0.0, 0.0)
    at = placement.place(dispatch, 0.0, Settings(lead=False), postals)
    assert at.meta["postal"] == "221" and at.postal == "200"


def test_old_metadata_wants_a_read_or_a_wait_for_one_held_back() -> None:
    old = call(meta_at=0.0)
    rules = {"max_age": 15.0, "fetch_interval": 15.0, "meta_wait": 10.0}
    budget = Budget(5, 60.0, margin=0.0)
    assert freshness.freshen(old, 10.0, 10.0, get_budget=budget, last_read=None, **rules) is None
    assert freshness.freshen(old, 20.0, 20.0, get_budget=budget, last_read=None, **rules) == "read"
    # The server's list was read 5 s ago: the interval holds the next read back, the push goes.
    assert freshness.freshen(old, 20.0, 20.0, get_budget=budget, last_read=15.0, **rules) is None
    budget.block_until(25.0)
    assert freshness.freshen(old, 20.0, 20.0, get_budget=budget, last_read=None, **rules) == "wait"
    relayed = call(meta_at=0.0)
    relayed.relayed = True
    assert not freshness.meta_old(relayed, 100.0, 15.0)
