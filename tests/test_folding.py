"""What the answer to a PATCH means for its call, on its own (a tracker, the push, the time)."""

from __future__ import annotations

from bridge.actions import MISSING, Notice, Push
from bridge.folding import fold_update
from bridge.outcomes import Gone, Rejected, Updated
from bridge.phase import Phase, phase_of, push_began, relayed
from bridge.tracker import Tracker

META = {"x": "0", "y": "0", "z": "0", "radius": "100", "postal": "221", "note": "old"}


def pushed(tracker: Tracker) -> Push:
    tracker.track(1, 7, "veh:7", 0.0, meta=META)
    tracker.observe(1, "veh:7", 100.0, 0.0, 0.0, 1.0)
    call = tracker.get(1, 7)
    assert call is not None
    push_began(call, 1.0)
    sent = {**META, "x": "100"}
    return Push(call.key, sent, 100.0, 0.0, 0.0, 100.0, fix_t=1.0, postal="300")


def test_an_update_that_lands_draws_the_call_and_keeps_a_relay_that_came_during_it() -> None:
    tracker = Tracker()
    push = pushed(tracker)
    call = tracker.get(1, 7)
    assert call is not None
    relayed(call, {**META, "note": "edited"}, 1.1, relay_lag=2.0)
    said = fold_update(tracker, push, Updated(call={}, meta=dict(push.meta)), 1.2, lambda n: 60.0)
    assert said == [Notice(1, 7, "pushed")]
    assert call.meta is not None and call.meta["note"] == "edited" and call.meta["x"] == "100"
    assert call.owed and call.drawn == (100.0, 0.0) and call.pushed_at == 1.2
    assert call.postal == "300" and call.push_began is None
    assert phase_of(call, tracker.fix_of(call)) is Phase.PUSHED


def test_a_bare_404_holds_the_call_for_a_read_a_refusal_for_a_newer_fix() -> None:
    tracker = Tracker()
    push = pushed(tracker)
    said = fold_update(tracker, push, Gone("Not Found"), 1.2, lambda n: 60.0)
    assert said == [Notice(1, 7, "failed", f"{MISSING}: Not Found")]
    call = tracker.get(1, 7)
    assert call is not None and call.missing_at == 1.2
    said = fold_update(tracker, push, Rejected(422, "bad"), 2.0, lambda n: 60.0 * n)
    assert said == [Notice(1, 7, "failed", "HTTP 422: bad")]
    assert phase_of(call, tracker.fix_of(call)) is Phase.REFUSED and call.refused_until == 62.0


def test_a_server_404_is_left_to_the_planner_and_a_closed_call_is_untracked() -> None:
    tracker = Tracker()
    push = pushed(tracker)
    assert fold_update(tracker, push, Gone("not configured", "server"), 1.2, lambda n: 0.0) == []
    assert tracker.get(1, 7) is not None
    said = fold_update(tracker, push, Gone("closed", "call"), 1.3, lambda n: 0.0)
    assert said == [Notice(1, 7, "gone", "closed")] and tracker.get(1, 7) is None
