"""A call's phase and the transitions that move it, on their own (no planner, time given)."""

from __future__ import annotations

import math

import pytest

from bench.kit import make_planner
from bridge import phase
from bridge.phase import Phase, phase_of
from bridge.planner import UNKNOWN_META, Notice
from bridge.status import snapshot
from bridge.tally import Tally
from bridge.tracker import Call, Fix

META = {"x": "0", "y": "0", "z": "0", "radius": "100", "postal": "221", "uuid": "u-1"}


def known(**fields: object) -> Call:
    call = Call(1, 7, "veh:7", None, since=0.0)
    call.learn_meta(META, 0.0)
    for name, value in fields.items():
        setattr(call, name, value)
    return call


FIX = Fix(10.0, 0.0, 0.0, t=5.0)


@pytest.mark.parametrize(
    ("call", "fix", "expected"),
    [
        (Call(1, 7, "veh:7", None, since=0.0), FIX, Phase.WAITING_META),
        (known(stale_at=3.0), FIX, Phase.READING_META),
        (known(stale_at=3.0, collides=True), FIX, Phase.READING_META),
        (known(collides=True), FIX, Phase.COLLIDES),
        (known(), None, Phase.WAITING_POSITION),
        (known(held_fix_t=5.0), FIX, Phase.REFUSED),
        (known(held_fix_t=4.0), FIX, Phase.FOLLOWING),
        (known(pushed_at=2.0), FIX, Phase.PUSHED),
    ],
)
def test_the_phase_is_the_first_standing_that_holds(
    call: Call, fix: Fix | None, expected: Phase
) -> None:
    assert phase_of(call, fix) is expected
    assert expected.waits_for_meta == (expected in (Phase.WAITING_META, Phase.READING_META))


def test_a_relay_during_a_push_is_kept_for_its_answer_and_a_late_one_is_owed() -> None:
    call = known(pushed_at=None)
    phase.push_began(call, 10.0)
    phase.relayed(call, {**META, "note": "edited"}, 10.5, relay_lag=2.0)
    assert phase.push_ended(call) == {**META, "note": "edited"}
    assert call.push_began is None and call.relayed_in_flight is None
    call.pushed_at = 11.0
    phase.relayed(call, {**META, "note": "again"}, 12.0, relay_lag=2.0)
    assert call.owed
    later = known(pushed_at=11.0)
    phase.relayed(later, {**META, "note": "again"}, 14.0, relay_lag=2.0)
    assert not later.owed


def test_a_refusal_holds_the_fix_and_backs_off_until_an_update_lands() -> None:
    call = known()
    phase.refused(call, 5.0, 20.0, lambda n: 60.0 * n)
    phase.refused(call, 6.0, 30.0, lambda n: 60.0 * n)
    assert (call.held_fix_t, call.rejections, call.refused_until) == (6.0, 2, 150.0)
    assert phase_of(call, FIX) is Phase.REFUSED
    phase.landed(call, META, META, None, 40.0, listed_postal="300", sent_postal="299")
    assert (call.held_fix_t, call.rejections, call.refused_until) == (None, 0, -math.inf)
    assert call.postal == "300" and not call.owed


def test_a_list_that_has_a_call_its_update_404d_refuses_it_rather_than_ending_it() -> None:
    call = known()
    phase.missing(call, 10.0)
    phase.listed(call, asked_at=9.0, now=12.0, wait=lambda n: 60.0)
    assert call.missing_at == 10.0  # the read was asked for before the 404: it tells nothing
    phase.listed(call, asked_at=11.0, now=12.0, wait=lambda n: 60.0)
    assert (call.missing_at, call.rejections, call.refused_until) == (None, 1, 72.0)


def test_the_status_page_and_a_reconnecting_link_read_the_same_phase() -> None:
    planner = make_planner()
    planner.track(1, 7, "veh:7", 0.0, meta=META)
    planner.observe(1, "veh:7", 100.0, 0.0, 0.0, 1.0)
    call = planner.call(1, 7)
    assert call is not None
    phase.marked_stale(call, 2.0)
    assert phase.told_unknown(call) and not phase.told_unknown(call)
    view = snapshot(planner, [], Tally(), 3.0, started=0.0, requests_made=0)
    assert view.calls[0].state == Phase.READING_META.value == "reading its changed metaData"
    assert planner.states_of(1) == [Notice(1, 7, "failed", UNKNOWN_META)]
