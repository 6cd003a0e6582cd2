"""The planner: which request next, and what each CAD answer does to state (fixed clocks)."""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import replace

import pytest

from bench.kit import make_planner
from bridge.meta import drawn_at, format_number, merged
from bridge.outcomes import (
    AuthFailed,
    CallList,
    Gone,
    Quota,
    RateLimited,
    Rejected,
    Transient,
    Updated,
)
from bridge.planner import UNKNOWN_META, Alert, Fetch, Notice, Planner, Push, Settings
from bridge.protocol import Untrack
from bridge.scheduler import Accumulator, PacedAccumulator
from bridge.standin.window import most_in_window

META = {"x": "0", "y": "0", "z": "0", "radius": "100", "postal": "221", "uuid": "u-1"}


def push_now(planner: Planner, now: float) -> Push:
    action = planner.next_action(now)
    assert isinstance(action, Push), action
    planner.begin(action, now)
    return action


def updated(push: Push) -> Updated:
    return Updated(call={"callId": push.key[2], "metaData": push.meta}, meta=dict(push.meta))


def moved_call(planner: Planner, call_id: int = 7, *, meta: dict[str, str] | None = None) -> None:
    """A call drawn at (0, 0) whose subject is now 100 m east of it."""
    planner.track(1, call_id, f"veh:{call_id}", 0.0, meta=META if meta is None else meta)
    planner.observe(1, f"veh:{call_id}", 100.0, 0.0, 20.0, 1.0)


def fetch_begun(planner: Planner) -> Fetch:
    """Call 7 moved with its metaData unknown: the planner asks for the list; it is sent at 1.0."""
    planner.track(1, 7, "veh:7", 0.0)
    planner.observe(1, "veh:7", 1.0, 1.0, 0.0, 1.0)
    fetch = planner.next_action(1.0)
    assert fetch == Fetch(1)
    planner.begin(fetch, 1.0)
    return fetch


# --- unknown metaData: fetch, never push ---------------------------------------------


def test_a_call_with_unknown_meta_is_never_pushed() -> None:
    planner = make_planner(get_limit=None)
    planner.track(1, 7, "veh:7", 0.0)
    planner.observe(1, "veh:7", 500.0, 500.0, 0.0, 1.0)
    for now in (1.0, 30.0, 300.0):
        assert planner.next_action(now) is None
    assert planner.candidates(300.0) == []


def test_a_call_with_unknown_meta_gets_a_fetch_of_its_server() -> None:
    planner = make_planner()
    planner.track(3, 7, "veh:7", 0.0)
    planner.observe(3, "veh:7", 500.0, 500.0, 0.0, 1.0)
    assert planner.next_action(1.0) == Fetch(3)


def test_no_fetch_before_the_subject_has_a_fix() -> None:
    planner = make_planner()
    planner.track(3, 7, "veh:7", 0.0)
    assert planner.next_action(1.0) is None


def test_the_call_list_fills_the_meta_and_the_call_is_then_pushed() -> None:
    planner = make_planner()
    planner.track(1, 7, "veh:7", 0.0)
    planner.observe(1, "veh:7", 100.0, 0.0, 20.0, 1.0)
    fetch = planner.next_action(1.0)
    assert fetch == Fetch(1)
    planner.begin(fetch, 1.0)
    events = planner.finish_fetch(fetch, CallList({7: META, 8: {"x": "1"}}), 1.5)
    assert events == []
    call = planner.call(1, 7)
    assert call is not None
    assert call.meta == META
    assert call.drawn == (0.0, 0.0)
    push = push_now(planner, 2.0)
    assert push.key == (1, "dispatch", 7)
    assert push.meta == merged(META, 100.0, 0.0, 20.0, 50.0)


def test_fetches_stay_within_the_get_budget() -> None:
    planner = make_planner(get_limit=2)
    planner.settings = Settings(fetch_interval=0.5)
    planner.track(1, 7, "veh:7", 0.0)
    planner.observe(1, "veh:7", 100.0, 0.0, 0.0, 1.0)
    starts = []
    now = 1.0
    while now < 200.0:
        action = planner.next_action(now)
        if isinstance(action, Fetch):
            planner.begin(action, now)
            starts.append(now)
            planner.finish_fetch(action, Transient("timeout", reached_server=True), now + 0.2)
        now += 0.25
    assert starts
    assert most_in_window(starts, 60.0) <= 2


def test_a_fetch_is_not_repeated_within_the_fetch_interval() -> None:
    planner = make_planner()
    planner.track(1, 7, "veh:7", 0.0)
    planner.observe(1, "veh:7", 100.0, 0.0, 0.0, 1.0)
    fetch = planner.next_action(1.0)
    assert isinstance(fetch, Fetch)
    planner.begin(fetch, 1.0)
    planner.finish_fetch(fetch, CallList({7: {}, 8: META}), 1.0)  # listed, meta still empty
    planner.call(1, 7).meta = None  # type: ignore[union-attr]  # the call (or fix) is tracked here: never None
    assert planner.next_action(10.0) is None
    assert planner.next_action(16.0) == Fetch(1)


def test_a_call_missing_from_one_read_of_the_list_is_kept() -> None:
    planner = make_planner()
    planner.track(1, 7, "veh:7", 0.0)
    planner.observe(1, "veh:7", 1.0, 1.0, 0.0, 1.0)
    planner.track(1, 8, "veh:8", 0.0, meta=META)
    planner.track(2, 9, "veh:9", 0.0)  # another game server: not in this list
    fetch = planner.next_action(1.0)
    assert fetch == Fetch(1)
    planner.begin(fetch, 1.0)
    assert planner.finish_fetch(fetch, CallList({8: META}), 2.0) == []
    assert planner.call(1, 7) is not None  # the list may lag behind the CAD
    assert planner.call(2, 9) is not None


def test_a_call_missing_from_two_reads_a_fetch_interval_apart_is_gone() -> None:
    planner = make_planner()
    planner.track(1, 8, "veh:8", 0.0, meta=META)
    planner.track(1, 7, "veh:7", 0.0, meta=META)
    planner.observe(1, "veh:7", 1.0, 1.0, 0.0, 1.0)
    fetch = Fetch(1)
    planner.begin(fetch, 1.0)
    assert planner.finish_fetch(fetch, CallList({8: META}), 2.0) == []
    # The second reading is asked for a fetch interval after the first, and not sooner.
    assert planner.next_action(10.0) != Fetch(1)
    second = planner.next_action(17.0)
    assert second == Fetch(1)
    planner.begin(second, 17.0)
    events = planner.finish_fetch(second, CallList({8: META}), 17.5)
    assert events == [Notice(1, 7, "gone", "not an active call in the CAD (two reads 16 s apart)")]
    assert planner.call(1, 7) is None
    assert planner.call(1, 8) is not None


def test_a_call_listed_again_or_pushed_after_one_missing_read_is_not_gone() -> None:
    planner = make_planner()
    moved_call(planner, 7)
    for start, listed in ((1.0, {}), (20.0, {7: META}), (40.0, {})):
        fetch = Fetch(1)
        planner.begin(fetch, start)
        planner.finish_fetch(fetch, CallList(listed), start + 0.5)  # type: ignore[arg-type]  # dict is invariant: plain metaData where the list holds optional metaData
    call = planner.call(1, 7)
    assert call is not None and call.absent_at == 40.0  # listed at 20: 1 no longer counts
    push = push_now(planner, 41.0)
    planner.finish_push(push, updated(push), 41.5)  # the CAD took an update: it exists
    assert call.absent_at is None
    for start in (60.0, 80.0):
        fetch = Fetch(1)
        planner.begin(fetch, start)
        planner.finish_fetch(fetch, CallList({}), start + 0.5)
    assert planner.call(1, 7) is None


def test_a_read_with_an_unreadable_item_says_nothing_of_absent_calls() -> None:
    planner = make_planner()
    planner.track(1, 7, "veh:7", 0.0, meta=META)
    for start in (1.0, 20.0, 40.0):
        fetch = Fetch(1)
        planner.begin(fetch, start)
        assert planner.finish_fetch(fetch, CallList({}, complete=False), start + 0.5) == []
    call = planner.call(1, 7)
    assert call is not None and call.absent_at is None


def test_a_call_tracked_while_the_fetch_was_in_flight_is_not_declared_gone() -> None:
    planner = make_planner()
    fetch = fetch_begun(planner)
    planner.track(1, 8, "veh:8", 1.2)  # created in the CAD after the GET was served
    events = planner.finish_fetch(fetch, CallList({7: META}), 1.5)
    assert planner.call(1, 8) is not None
    assert events == []


# --- what a push carries ------------------------------------------------------------


def test_push_meta_is_the_known_meta_with_only_the_owned_keys_replaced() -> None:
    planner = make_planner()
    planner.track(1, 7, "veh:7", 0.0, radius=75.0, meta=META)
    planner.observe(1, "veh:7", 430.5, -982.1, 31.0, 1.0)
    push = push_now(planner, 1.0)
    assert push.meta == {**META, "x": "430.5", "y": "-982.1", "z": "31", "radius": "75"}
    assert (push.x, push.y, push.z, push.radius) == (430.5, -982.1, 31.0, 75.0)


def test_push_uses_the_default_radius_when_the_call_has_none() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    assert push.radius == 50.0
    assert push.meta["radius"] == "50"


def test_a_steady_mover_is_pushed_ahead_of_its_fix_when_leading() -> None:
    planner = make_planner(lead=True)
    planner.track(1, 7, "veh:7", 0.0, meta=META)
    planner.observe(1, "veh:7", 100.0, 0.0, 0.0, 0.0)
    planner.observe(1, "veh:7", 120.0, 0.0, 0.0, 1.0)  # 20 m/s east
    push = push_now(planner, 1.0)
    assert 120.0 < push.x <= 120.0 + 20.0 * planner.settings.lead_cap
    assert push.y == pytest.approx(0.0)
    assert push.meta["x"] == format_number(push.x)
    assert push.z == 0.0


def test_a_turning_subject_is_pushed_where_it_is() -> None:
    planner = make_planner(lead=True)
    planner.track(1, 7, "veh:7", 0.0, meta=META)
    planner.observe(1, "veh:7", 100.0, 0.0, 0.0, 0.0)
    planner.observe(1, "veh:7", 120.0, 0.0, 0.0, 1.0)
    planner.observe(1, "veh:7", 120.0, 20.0, 0.0, 2.0)  # a quarter turn
    push = push_now(planner, 2.0)
    assert (push.x, push.y) == (120.0, 20.0)


def test_without_lead_a_mover_is_pushed_at_its_fix() -> None:
    planner = make_planner(lead=False)
    planner.track(1, 7, "veh:7", 0.0, meta=META)
    planner.observe(1, "veh:7", 100.0, 0.0, 0.0, 0.0)
    planner.observe(1, "veh:7", 120.0, 0.0, 0.0, 1.0)
    push = push_now(planner, 1.0)
    assert (push.x, push.y) == (120.0, 0.0)


def test_the_push_is_chosen_by_the_policy() -> None:
    planner = make_planner()
    planner.policy = Accumulator(threshold=10.0)
    moved_call(planner, 7)
    planner.track(1, 8, "veh:8", 0.0, meta=META)
    planner.observe(1, "veh:8", 0.0, 400.0, 0.0, 1.0)
    push = push_now(planner, 5.0)
    assert push.key == (1, "dispatch", 8)


# --- answers to a push --------------------------------------------------------------


def test_updated_adopts_the_response_meta_and_moves_the_drawn_position() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    response = {**push.meta, "postal": "222", "editedBy": "dispatcher"}
    events = planner.finish_push(push, Updated(call={}, meta=response), 1.5)
    call = planner.call(1, 7)
    assert call is not None
    assert call.meta == response
    assert call.meta_at == 1.5
    assert call.drawn == (100.0, 0.0)
    assert call.pushed_at == 1.5
    assert call.acc == 0.0
    assert events == [Notice(1, 7, "pushed")]
    # The next push builds on the response, not on what was known before it.
    planner.observe(1, "veh:7", 300.0, 0.0, 20.0, 20.0)
    assert push_now(planner, 20.0).meta["postal"] == "222"


def test_updated_takes_the_drawn_position_from_the_response_meta() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    response = {**push.meta, "x": "5", "y": "6"}  # the CAD stored something else
    planner.finish_push(push, Updated(call={}, meta=response), 1.5)
    call = planner.call(1, 7)
    assert call is not None
    assert call.drawn == drawn_at(response) == (5.0, 6.0)


def test_updated_for_a_call_untracked_meanwhile_is_harmless() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    planner.receive(1, Untrack(call_id=7), 1.2)
    assert planner.finish_push(push, updated(push), 1.5) == [Notice(1, 7, "pushed")]
    assert planner.call(1, 7) is None


def test_gone_untracks_the_call_and_says_so() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    events = planner.finish_push(push, Gone("call 7 not found", "call"), 1.5)
    assert planner.call(1, 7) is None
    assert events == [Notice(1, 7, "gone", "call 7 not found")]
    assert planner.next_action(100.0) is None


def test_rejected_drops_the_update_until_a_newer_fix() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    events = planner.finish_push(push, Rejected(400, "bad metaData"), 1.5)
    assert events == [Notice(1, 7, "failed", "HTTP 400: bad metaData")]
    for now in (2.0, 30.0, 300.0):
        assert planner.next_action(now) is None
    planner.observe(1, "veh:7", 120.0, 0.0, 20.0, 301.0)
    again = push_now(planner, 301.0)
    assert again.key == (1, "dispatch", 7)
    planner.finish_push(again, updated(again), 301.5)
    assert planner.call(1, 7).held_fix_t is None  # type: ignore[union-attr]  # the call (or fix) is tracked here: never None


def test_a_refused_call_backs_off_on_its_own_doubling_from_a_window_to_a_cap() -> None:
    planner = make_planner()
    moved_call(planner)
    now, waits = 1.0, []
    for _ in range(6):
        push = push_now(planner, now)
        planner.finish_push(push, Rejected(400, "bad metaData"), now)
        call = planner.call(1, 7)
        assert call is not None and call.acc == 0.0 and call.right_at == now
        waits.append(call.refused_until - now)
        planner.observe(1, "veh:7", 100.0 + now, 0.0, 20.0, call.refused_until - 0.5)
        assert planner.next_action(call.refused_until - 0.1) is None
        now = call.refused_until
    assert waits == [60.0, 120.0, 240.0, 480.0, 480.0, 480.0]
    push = push_now(planner, now)
    planner.finish_push(push, updated(push), now)
    call = planner.call(1, 7)
    assert call is not None and call.rejections == 0 and call.refused_until == -math.inf


def test_a_refused_call_leaves_the_others_their_turns() -> None:
    planner = make_planner()
    moved_call(planner, 7)
    moved_call(planner, 8)
    first = push_now(planner, 1.0)
    planner.finish_push(first, Rejected(400, "bad metaData"), 1.5)
    for step in range(1, 4):
        now = 1.0 + 7.0 * step
        for call_id in (7, 8):
            planner.observe(1, f"veh:{call_id}", 100.0 + 50 * step, 0.0, 20.0, now)
        push = push_now(planner, now)
        assert push.key != first.key
        planner.finish_push(push, updated(push), now)


def test_a_rejection_is_not_a_success_for_the_shared_back_offs() -> None:
    planner = make_planner()
    moved_call(planner, 7)
    moved_call(planner, 8)
    first = push_now(planner, 1.0)
    planner.finish_push(first, Transient("HTTP 503", reached_server=True), 1.5)
    assert planner.update_budget.blocked_until() == 2.5  # the fault back-off's first second
    second = push_now(planner, 2.5)
    assert planner.finish_push(second, Rejected(400, "bad metaData"), 3.0) == [
        Notice(1, second.key[2], "failed", "HTTP 400: bad metaData")
    ]  # no "cad_resolved": the spell of failures is not over
    third = push_now(planner, 3.0)
    planner.finish_push(third, Transient("HTTP 503", reached_server=True), 3.5)
    assert planner.update_budget.blocked_until() == 5.5  # doubled, not started again


def test_rejected_counts_against_the_budget() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    planner.finish_push(push, Rejected(422, "nope"), 1.5)
    assert planner.update_budget.used(1.5) == 1


# --- rate limits, auth, faults ------------------------------------------------------


def test_rate_limited_with_retry_after_blocks_until_then() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    events = planner.finish_push(push, RateLimited(30.0, "API rate limit exceeded"), 2.0)
    assert events == []
    assert planner.update_budget.blocked_until() == 32.0
    assert planner.update_budget.share == 9
    assert planner.update_budget.used(2.0) == 1
    assert planner.next_action(31.9) is None
    assert isinstance(planner.next_action(32.0), Push)


def rate_limited_waits(planner: Planner, times: int) -> tuple[list[float], float]:
    """Push and be answered 429 without a Retry-After `times` times, each at the next wake:
    the pause each answer set, and when the next push may go."""
    waits = []
    now = 1.0
    for _ in range(times):
        push = push_now(planner, now)
        planner.finish_push(push, RateLimited(None, "API rate limit exceeded"), now)
        waits.append(planner.update_budget.blocked_until() - now)
        now = planner.next_wake(now)
    return waits, now


def test_rate_limited_without_retry_after_backs_off_from_6_s_doubling() -> None:
    planner = make_planner()
    moved_call(planner)
    waits, _ = rate_limited_waits(planner, 5)
    assert waits[:4] == [6.0, 12.0, 24.0, 48.0]
    assert waits[4] >= 60.0  # capped back-off, or the window itself is later still


def test_the_back_offs_are_settings_and_configure_starts_them_again() -> None:
    planner = make_planner()
    planner.configure(replace(planner.settings, rate_backoff=2.0, rate_backoff_cap=5.0))
    moved_call(planner)
    waits, now = rate_limited_waits(planner, 3)
    assert waits == [2.0, 4.0, 5.0]
    planner.configure(planner.settings)  # the same settings again: the doubling starts over
    push = push_now(planner, now)
    planner.finish_push(push, RateLimited(None, "API rate limit exceeded"), now)
    assert planner.update_budget.blocked_until() - now == 2.0


def test_a_success_resets_the_rate_back_off() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    planner.finish_push(push, RateLimited(None, "limit"), 1.0)
    push = push_now(planner, 7.0)
    planner.finish_push(push, updated(push), 7.0)
    planner.observe(1, "veh:7", 300.0, 0.0, 0.0, 8.0)
    push = push_now(planner, 8.0)
    planner.finish_push(push, RateLimited(None, "limit"), 8.0)
    assert planner.update_budget.blocked_until() == 14.0


def test_auth_failure_alerts_once_then_blocks_with_back_off() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    first = planner.finish_push(push, AuthFailed(401, "invalid key"), 1.0)
    assert first == [Alert("auth_failed", "HTTP 401: invalid key")]
    assert planner.auth_failing
    first_block = planner.update_budget.blocked_until()
    assert first_block > 1.0
    assert planner.get_budget is not None
    assert planner.get_budget.blocked_until() == first_block
    assert planner.next_action(first_block - 0.1) is None
    push = push_now(planner, first_block)
    second = planner.finish_push(push, AuthFailed(401, "invalid key"), first_block)
    assert second == []
    assert planner.update_budget.blocked_until() - first_block > first_block - 1.0


def test_a_success_after_auth_failure_alerts_resolved_once() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    planner.finish_push(push, AuthFailed(401, "invalid key"), 1.0)
    now = planner.next_wake(1.0)
    push = push_now(planner, now)
    events = planner.finish_push(push, updated(push), now)
    assert Alert("auth_resolved", "the CAD accepts the API key again") in events
    assert not planner.auth_failing
    planner.observe(1, "veh:7", 500.0, 0.0, 0.0, now + 10)
    push = push_now(planner, now + 10)
    events = planner.finish_push(push, updated(push), now + 10)
    assert not [e for e in events if isinstance(e, Alert)]


def test_transient_that_never_reached_the_server_is_not_counted_but_backs_off() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    events = planner.finish_push(push, Transient("connect refused", reached_server=False), 1.2)
    assert events == []
    assert planner.update_budget.used(1.2) == 0
    assert planner.update_budget.blocked_until() == pytest.approx(2.2)
    assert planner.next_action(1.2) is None
    push = push_now(planner, 2.2)
    planner.finish_push(push, Transient("connect refused", reached_server=False), 3.0)
    assert planner.update_budget.used(3.0) == 0
    assert planner.update_budget.blocked_until() == pytest.approx(5.0)  # doubled


def test_transient_that_may_have_reached_the_server_counts() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    planner.finish_push(push, Transient("timeout", reached_server=True), 11.0)
    assert planner.update_budget.used(11.0) == 1


def test_a_spent_quota_from_the_gateway_blocks_the_budget() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    planner.note_quota(push, Quota(remaining=0, reset_after=40.0), 1.0)
    planner.finish_push(push, updated(push), 1.0)
    assert planner.update_budget.blocked_until() == 41.0
    planner.note_quota(push, Quota(remaining=3, reset_after=90.0), 2.0)
    planner.note_quota(push, None, 2.0)
    assert planner.update_budget.blocked_until() == 41.0


# --- choosing is pure; beginning is what commits -------------------------------------


def _state(planner: Planner) -> object:
    calls = [(c.key, c.acc, c.acc_at, c.acc_err, c.right_at, c.push_began) for c in planner.calls()]
    assert isinstance(planner.policy, PacedAccumulator)
    return calls, planner.policy.ready_at()


def test_choosing_changes_nothing_and_beginning_settles_and_paces() -> None:
    planner = make_planner(paced=True)
    moved_call(planner, 7)
    moved_call(planner, 8)
    planner.observe(1, "veh:8", 30.0, 0.0, 20.0, 1.0)  # nearer its pin than call 7
    before = _state(planner)
    looks = [planner.next_action(t) for t in (5.0, 9.0, 5.0)]
    planner.candidates(7.0)
    assert looks[0] == looks[2]  # the same instant, the same answer, however often asked
    assert isinstance(looks[0], Push) and looks[0].key == (1, "dispatch", 7)
    assert _state(planner) == before
    # What it would settle is what it shows: the trapezoid up to now, as begin then stores.
    shown = {c.call.key: c.acc for c in planner.candidates(9.0)}
    action = planner.next_action(9.0)
    assert isinstance(action, Push)
    planner.begin(action, 9.0)
    calls = {c.key: c for c in planner.calls()}
    assert {key: calls[key].acc for key in shown} == pytest.approx(shown)
    assert all(c.acc_at == 9.0 for c in calls.values())
    assert calls[(1, "dispatch", 7)].push_began == 9.0
    assert planner.policy.ready_at() > 9.0  # type: ignore[attr-defined]  # the policy under test is the planner's scheduler, which has it
    assert planner.next_action(10.0) is None  # paced from the push that began


def test_a_read_that_goes_before_a_push_leaves_its_pacing_alone() -> None:
    planner = make_planner(paced=True)
    planner.settings = replace(planner.settings, meta_max_age=30.0)
    planner.track(1, 7, "veh:7", 0.0)
    planner.call(1, 7).learn_meta(META, 0.0)  # type: ignore[union-attr]  # from the CAD
    planner.observe(1, "veh:7", 100.0, 0.0, 20.0, 1.0)
    push = push_now(planner, 1.0)
    planner.finish_push(push, updated(push), 1.5)
    planner.observe(1, "veh:7", 300.0, 0.0, 20.0, 40.0)
    paced = planner.policy.ready_at()  # type: ignore[attr-defined]  # the policy under test is the planner's scheduler, which has it
    read = planner.next_action(40.0)  # the metaData known is 38.5 s old: read it first
    assert read == Fetch(1)
    planner.begin(read, 40.0)
    assert planner.policy.ready_at() == paced  # type: ignore[attr-defined]  # the policy under test is the planner's scheduler, which has it
    planner.finish_fetch(read, CallList({7: META}), 40.5)
    assert isinstance(planner.next_action(40.5), Push)  # the slot it chose is still its own


def read_ahead_planner(*, relayed: bool = False) -> tuple[Planner, float]:
    """Call 8, known since 0 and 100 m off its pin; a push began at 30: the next slot's time."""
    planner = make_planner(paced=True)
    planner.settings = replace(planner.settings, meta_max_age=15.0, read_ahead=1.0)
    if relayed:
        moved_call(planner, 8)
    else:
        planner.track(1, 8, "veh:8", 0.0)
        planner.call(1, 8).learn_meta(META, 0.0)  # from the CAD: no relay
        planner.observe(1, "veh:8", 100.0, 0.0, 20.0, 1.0)
    planner.policy.spent((1, 99), 30.0)  # as a push of another call that began at 30
    return planner, planner.policy.ready_at()  # type: ignore[attr-defined]  # the policy under test is the planner's scheduler, which has it


def test_the_read_a_push_wants_goes_ahead_of_its_slot_and_the_push_does_not_wait() -> None:
    planner, slot = read_ahead_planner()
    assert planner.next_wake(30.5) == pytest.approx(slot - 1.0)
    assert planner.next_action(slot - 1.5) is None  # not yet
    read = planner.next_action(slot - 1.0)
    assert read == Fetch(1)
    planner.begin(read, slot - 1.0)
    edited = {**META, "note": "dispatcher edit"}
    planner.finish_fetch(read, CallList({8: edited}), slot - 0.6)
    assert planner.next_wake(slot - 0.6) == pytest.approx(slot)  # read done: wait for the slot
    push = planner.next_action(slot)
    assert isinstance(push, Push) and push.key == (1, "dispatch", 8)
    assert push.meta["note"] == "dispatcher edit"


def test_no_read_goes_ahead_for_a_relayed_call_or_a_spent_get_budget() -> None:
    relayed, slot = read_ahead_planner(relayed=True)
    assert relayed.next_wake(30.5) == pytest.approx(slot)
    assert relayed.next_action(slot - 0.5) is None
    spent, slot = read_ahead_planner()
    assert spent.get_budget is not None
    for _ in range(spent.get_budget.share):
        spent.get_budget.begin(30.0)
    assert spent.next_wake(30.5) == pytest.approx(slot)
    assert spent.next_action(slot - 0.5) is None


# --- over time ----------------------------------------------------------------------


def _drive(
    planner: Planner, seconds: int, move: dict[str, tuple[float, float]], seed: int
) -> list[tuple[float, float, Push]]:
    """Feed one fix a second per subject; answer each request, one at a time, after a latency."""
    rng = random.Random(seed)
    sent: list[tuple[float, float, Push]] = []
    positions = {subject: (0.0, 0.0) for subject in move}
    in_flight: tuple[float, Push | Fetch, float] | None = None
    for second in range(seconds):
        for subject, (vx, vy) in move.items():
            x, y = positions[subject]
            positions[subject] = (x + vx, y + vy)
            planner.observe(1, subject, x + vx, y + vy, 0.0, float(second))
        now = float(second)
        while True:
            if in_flight is not None and in_flight[0] <= now:
                done, action, began = in_flight
                in_flight = None
                if isinstance(action, Push):
                    planner.finish_push(action, updated(action), done)
                    sent.append((began, done, action))
                else:
                    calls = {c.call_id: dict(META) for c in planner.calls() if c.server_id == 1}
                    planner.finish_fetch(action, CallList(calls), done)
            action = None if in_flight else planner.next_action(now)
            if action is not None:
                planner.begin(action, now)
                in_flight = (now + rng.choice([0.05, 0.3, 1.0, 2.5]), action, now)
                continue
            upcoming = [second + 1.0]
            if in_flight is not None:
                upcoming.append(in_flight[0])
            elif (wake := planner.next_wake(now)) > now:
                upcoming.append(wake)
            if min(upcoming) >= second + 1.0:
                break
            now = min(upcoming)
    return sent


@pytest.mark.parametrize(("seed", "daemon_policy"), [(1, True), (2, True), (3, False)])
def test_twenty_moving_calls_never_exceed_ten_requests_in_any_minute(
    seed: int, daemon_policy: bool
) -> None:
    planner = make_planner(lead=True, paced=daemon_policy)
    rng = random.Random(seed)
    move = {}
    for call_id in range(1, 21):
        subject = f"veh:{call_id}"
        angle = rng.uniform(0, 2 * math.pi)
        speed = rng.uniform(3.0, 35.0)
        move[subject] = (speed * math.cos(angle), speed * math.sin(angle))
        planner.track(1, call_id, subject, 0.0, meta=META if call_id % 2 else None)
    sent = _drive(planner, 600, move, seed)
    starts = [began for began, _, _ in sent]
    ends = [done for _, done, _ in sent]
    assert most_in_window(starts, 60.0) <= 10
    assert most_in_window(ends, 60.0) <= 10
    assert len(sent) >= 90  # and the budget is actually used
    assert {push.key for _, _, push in sent} == {(1, "dispatch", i) for i in range(1, 21)}


@pytest.mark.parametrize("daemon_policy", [True, False])
def test_a_parked_call_is_never_pushed(daemon_policy: bool) -> None:
    planner = make_planner(lead=True, paced=daemon_policy)
    planner.track(1, 1, "parked", 0.0, meta={**META, "x": "3", "y": "-4"})
    planner.track(1, 2, "mover", 0.0, meta=META)
    sent = _drive(planner, 600, {"parked": (0.0, 0.0), "mover": (12.0, 5.0)}, seed=3)
    assert sent
    assert all(push.key == (1, "dispatch", 2) for _, _, push in sent)


def test_an_answer_without_readable_metadata_keeps_what_was_sent() -> None:
    planner = make_planner()
    moved_call(planner)
    push = push_now(planner, 1.0)
    planner.finish_push(push, Updated(call={"callId": 7}, meta=None), 1.5)
    call = planner.call(1, 7)
    assert call is not None and call.meta == push.meta
    planner.observe(1, "veh:7", 900.0, 900.0, 0.0, 20.0)
    again = push_now(planner, 20.0)
    kept = {k: v for k, v in META.items() if k not in ("x", "y", "z", "radius")}
    assert {k: again.meta[k] for k in kept} == kept  # no key lost on the next PATCH


def test_a_listed_call_with_unknown_metadata_stays_unknown_and_the_resource_is_told() -> None:
    planner = make_planner()
    fetch = fetch_begun(planner)
    assert planner.finish_fetch(fetch, CallList({7: None}), 1.5) == [
        Notice(1, 7, "failed", UNKNOWN_META)
    ]
    call = planner.call(1, 7)
    assert call is not None and call.meta is None
    assert planner.candidates(2.0) == []
    again = planner.next_action(40.0)
    assert again == Fetch(1)
    planner.begin(again, 40.0)
    assert planner.finish_fetch(again, CallList({7: None}), 40.5) == []  # told once


def test_reads_that_keep_lacking_the_metadata_slow_down() -> None:
    planner = make_planner()
    fetch = fetch_begun(planner)
    starts = [1.0]
    planner.finish_fetch(fetch, CallList({7: None}), 1.5)
    now = 1.5
    while now < 300.0:
        action = planner.next_action(now)
        if isinstance(action, Fetch):
            planner.begin(action, now)
            starts.append(now)
            planner.finish_fetch(action, CallList({7: None}), now + 0.5)
        now += 0.5
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    # 15 s while a read may teach it; then 30 s, and 60 s from the second barren read on.
    assert gaps[:3] == pytest.approx([31.0, 61.0, 61.0], abs=0.6)


def test_a_404_for_the_call_list_pauses_the_server_and_keeps_its_calls() -> None:
    planner = make_planner()
    planner.track(1, 8, "veh:8", 0.0, meta=META)
    planner.observe(1, "veh:8", 500.0, 0.0, 0.0, 0.5)
    fetch = fetch_begun(planner)
    events = planner.finish_fetch(fetch, Gone("Server 1 is not configured"), 1.5)
    assert events[0] == Alert(
        "server_unknown", "404 for its list of calls: Server 1 is not configured", 1
    )
    assert {e.call_id for e in events[1:] if isinstance(e, Notice) and e.state == "failed"} == {
        7,
        8,
    }
    assert planner.call(1, 7) is not None and planner.call(1, 8) is not None
    assert planner.next_action(30.0) is None  # neither pushes nor reads while paused
    probe = planner.next_action(61.5)
    assert probe == Fetch(1)
    planner.begin(probe, 61.5)
    assert planner.finish_fetch(probe, Gone("still not"), 62.0) == []  # paused again, 120 s
    assert planner.next_action(150.0) is None
    probe = planner.next_action(182.0)
    assert probe == Fetch(1)
    planner.begin(probe, 182.0)
    events = planner.finish_fetch(probe, CallList({7: META, 8: META}), 182.5)
    assert Alert("server_known", "the CAD lists its calls again", 1) in events
    assert isinstance(planner.next_action(183.0), Push)


def test_next_wake_waits_for_the_pacing_and_the_fetch_interval() -> None:
    planner = make_planner(paced=True)
    moved_call(planner, 7)
    push = push_now(planner, 1.0)
    planner.finish_push(push, updated(push), 1.2)
    planner.track(1, 8, "veh:8", 1.2)  # metaData unknown: a GET is wanted
    planner.observe(1, "veh:8", 1.0, 1.0, 0.0, 1.3)
    fetch = planner.next_action(1.3)
    assert fetch == Fetch(1)
    planner.begin(fetch, 1.3)
    planner.finish_fetch(fetch, Transient("timeout", True), 2.0)
    # Both budgets have room, but the pacing (about 5 s) and the failed read's back-off (1 s)
    # say nothing is due before then: the loop must not be told to look again at once.
    assert planner.next_wake(2.0) >= 2.0 + 1.0


# --- fresh metaData before a push, where no relay brings the edits -------------------------


def fresh_planner() -> Planner:
    planner = make_planner()
    planner.settings = Settings(min_move=10.0, lead=False, meta_max_age=15.0)
    return planner


def test_old_metadata_is_read_afresh_before_the_push_and_the_edit_is_kept() -> None:
    planner = fresh_planner()
    fetch = fetch_begun(planner)  # call 7, no relay: its metaData comes from the list
    planner.finish_fetch(fetch, CallList({7: META}), 1.5)
    planner.observe(1, "veh:7", 100.0, 0.0, 0.0, 2.0)
    push = push_now(planner, 2.0)
    planner.finish_push(push, updated(push), 2.5)
    planner.observe(1, "veh:7", 300.0, 0.0, 0.0, 10.0)
    assert isinstance(planner.next_action(10.0), Push)  # learned 7.5 s ago: fresh enough
    planner.observe(1, "veh:7", 600.0, 0.0, 0.0, 30.0)
    read = planner.next_action(30.0)
    assert read == Fetch(1)
    planner.begin(read, 30.0)
    edited = {**push.meta, "note": "dispatcher edit"}
    planner.finish_fetch(read, CallList({7: edited}), 30.3)
    again = push_now(planner, 30.3)
    assert again.meta["note"] == "dispatcher edit" and again.meta["x"] == "600"


def test_a_relayed_call_or_a_spent_get_budget_pushes_without_a_read() -> None:
    planner = fresh_planner()
    moved_call(planner, 7)  # tracked with the metaData the resource relayed
    assert isinstance(planner.next_action(60.0), Push)
    spent = make_planner(get_limit=1)
    spent.settings = Settings(min_move=10.0, lead=False, meta_max_age=15.0)
    fetch = fetch_begun(spent)
    spent.finish_fetch(fetch, CallList({7: META}), 1.5)
    spent.observe(1, "veh:7", 600.0, 0.0, 0.0, 30.0)
    assert isinstance(spent.next_action(30.0), Push)  # the one GET of the window is spent


def test_reads_for_freshness_are_a_fetch_interval_apart() -> None:
    planner = fresh_planner()
    fetch = fetch_begun(planner)
    planner.finish_fetch(fetch, CallList({7: None}), 1.5)  # the list never carries it
    call = planner.call(1, 7)
    assert call is not None
    call.learn_meta(META, 1.6)  # learned some other way, then grew old
    planner.observe(1, "veh:7", 600.0, 0.0, 0.0, 17.0)
    assert planner.next_action(17.0) == Fetch(1)
    planner.begin(Fetch(1), 17.0)
    planner.finish_fetch(Fetch(1), CallList({7: None}), 17.5)
    assert isinstance(planner.next_action(20.0), Push)  # no read again before 32.5


def test_a_reconnecting_server_hears_why_its_calls_wait() -> None:
    planner = make_planner()
    fetch = fetch_begun(planner)
    planner.track(1, 8, "veh:8", 0.0, meta=META)
    planner.finish_fetch(fetch, CallList({7: None, 8: META}), 1.5)
    assert planner.states_of(1) == [
        Notice(1, 7, "failed", UNKNOWN_META),
        Notice(1, 8, "following"),
    ]
    again = Fetch(1)
    planner.begin(again, 40.0)
    planner.finish_fetch(again, Gone("Server 1 is not configured"), 40.5)
    assert {n.state for n in planner.states_of(1)} == {"failed"}
    assert all("server id 1" in (n.detail or "") for n in planner.states_of(1))
