"""The status snapshot: built from the planner's state at a given time, on a fixed clock."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import pytest

from bench.kit import make_planner
from bridge.budget import Budget
from bridge.outcomes import (
    AuthFailed,
    CallList,
    Gone,
    RateLimited,
    Rejected,
    Transient,
    Updated,
)
from bridge.planner import Fetch, Planner, Push
from bridge.scheduler import PacedAccumulator
from bridge.status import snapshot
from bridge.tally import (
    RequestLog,
    RequestRecord,
    Tally,
    dropped_reason,
    outcome_status,
    record_of,
)

META = {"x": "0", "y": "0", "z": "0", "radius": "80", "postal": "221"}


@dataclass
class FakeLink:
    server_id: int
    conn: int
    frames: int = 0
    errors: int = 0


def push_and_answer(planner: Planner, now: float, latency: float = 0.2) -> Push:
    action = planner.next_action(now)
    assert isinstance(action, Push)
    planner.begin(action, now)
    answer = Updated(call={"metaData": action.meta}, meta=dict(action.meta))
    planner.finish_push(action, answer, now + latency)
    return action


def test_a_moving_call_shows_where_its_subject_is_where_it_is_drawn_and_the_error() -> None:
    planner = make_planner(paced=True)
    planner.track(1, 501, "player:3", 0.0, meta=META, radius=60.0)
    planner.observe(1, "player:3", 30.0, 40.0, 21.0, 2.0)
    view = snapshot(planner, [], Tally(), 3.0, started=0.0, requests_made=0)
    (call,) = view.calls
    assert call.subject == "player:3" and call.state == "following"
    assert call.subject_at == [30.0, 40.0, 21.0] and call.drawn_at == [0.0, 0.0]
    assert call.error == 50.0 and call.radius == 60.0
    assert call.fix_age == 1.0 and call.last_push_ago is None
    # Parked, alone: one turn per slot (60 s / 10), counted from when tracking began.
    assert planner.expected_waits(3.0) == {(1, "dispatch", 501): pytest.approx(6.0)}
    assert call.next_push_in == pytest.approx(3.0)
    assert view.mean_error == 50.0


def test_after_a_push_the_call_shows_when_it_was_pushed_and_when_the_next_is_expected() -> None:
    planner = make_planner(paced=True)
    planner.track(1, 501, "veh:1", 0.0, meta=META)
    planner.observe(1, "veh:1", 0.0, 0.0, 0.0, 0.0)
    planner.observe(1, "veh:1", 20.0, 0.0, 0.0, 1.0)  # 20 m/s east
    push_and_answer(planner, 1.0)
    planner.observe(1, "veh:1", 120.0, 0.0, 0.0, 6.0)
    view = snapshot(planner, [], Tally(), 6.0, started=0.0, requests_made=1)
    (call,) = view.calls
    assert call.state == "pushed" and call.drawn_at == [20.0, 0.0] and call.error == 100.0
    assert call.last_push_ago == pytest.approx(4.8)
    # One mover alone on a budget of 10 per 61 s: every 6.1 s, counted from the push.
    waits = planner.expected_waits(6.0)
    assert call.next_push_in == pytest.approx(1.2 + waits[(1, "dispatch", 501)] - 6.0, abs=1e-3)


def test_a_call_drawn_on_its_subject_expects_no_push() -> None:
    planner = make_planner(paced=True)
    planner.track(1, 501, "player:1", 0.0, meta=META)
    planner.observe(1, "player:1", 2.0, 1.0, 0.0, 1.0)
    (call,) = snapshot(planner, [], Tally(), 2.0, started=0.0, requests_made=0).calls
    assert call.error is not None and call.error < 10 and call.next_push_in is None


def test_a_call_without_metadata_or_a_position_says_what_it_waits_for() -> None:
    planner = make_planner(paced=True)
    planner.track(1, 501, "player:1", 0.0)
    planner.track(1, 502, "player:2", 0.0, meta=META)
    first, second = snapshot(planner, [], Tally(), 1.0, started=0.0, requests_made=0).calls
    assert first.state == "waiting for its metaData" and first.subject_at is None
    assert second.state == "waiting for a position" and second.error is None


def test_the_budget_shows_use_against_the_limit_the_next_slot_and_a_neighbours_share() -> None:
    planner = make_planner(paced=True)
    budget = planner.update_budget
    for t in range(10):
        budget.begin(float(t))
        budget.end(float(t) + 0.5)
    budget.refused(10.0, admitted=7)  # a 429 while 7 of ours were in the window
    budget.block_until(15.0)
    view = snapshot(planner, [], Tally(), 12.0, started=0.0, requests_made=10)
    update, get = view.budgets
    assert (update.route, update.used, update.limit, update.share) == ("update_call", 10, 10, 7)
    assert update.paused_for == 3.0
    # With a share of 7 the oldest 4 must leave: the 4th ended at 3.5, free at 3.5 + 61.
    assert update.next_free_in == pytest.approx(3.5 + 61.0 - 12.0)
    assert (get.route, get.used, get.limit, get.next_free_in) == ("get_calls", 0, 5, 0.0)


def test_a_request_in_flight_on_a_full_window_has_no_next_slot_time() -> None:
    planner = Planner(
        policy=PacedAccumulator(threshold=10.0, max_stale=180.0),
        update_budget=Budget(1, 60.0),
        get_budget=None,
    )
    planner.update_budget.begin(0.0)
    view = snapshot(planner, [], Tally(), 1.0, started=0.0, requests_made=1)
    (update,) = view.budgets
    assert update.next_free_in is None
    msgspec.json.encode(view)  # infinity never reaches the JSON


def test_links_are_listed_by_server_id() -> None:
    links = [FakeLink(3, 2, frames=9), FakeLink(1, 1, frames=4, errors=1)]
    view = snapshot(make_planner(paced=True), links, Tally(), 1.0, started=0.0, requests_made=0)
    assert [(k.server_id, k.conn, k.frames, k.errors) for k in view.links] == [
        (1, 1, 4, 1),
        (3, 2, 9, 0),
    ]


@pytest.mark.parametrize(
    ("result", "status", "dropped"),
    [
        (Updated(call={}, meta={}), "200", None),
        (Gone("closed"), "404", "gone"),
        (RateLimited(7.0, "API rate limit exceeded"), "429", "rate_limited"),
        (AuthFailed(401, "bad key"), "401", "auth_failed"),
        (Rejected(400, "metaData: expected object"), "400", "rejected"),
        (Transient("HTTP 503: down", True, status=503), "503", "failed"),
        (Transient("HTTP 200: body is not JSON", True, status=200), "200", "failed"),
        (Transient("proxy said HTTP 503 once", True), "error", "failed"),
        (Transient("timeout after 10.0 s", True), "error", "failed"),
        (Transient("connection refused", False), "error", "failed"),
    ],
)
def test_each_answer_is_logged_with_its_http_status_and_why_an_update_was_dropped(
    result: object, status: str, dropped: str | None
) -> None:
    assert outcome_status(result) == status  # type: ignore[arg-type]
    assert dropped_reason(result) == dropped  # type: ignore[arg-type]
    push = Push((1, "dispatch", 501), META, 0.0, 0.0, 0.0, 50.0)
    record = record_of(push, result, 10.0, 10.25)  # type: ignore[arg-type]
    assert (record.route, record.call_id, record.status) == ("update_call", 501, status)
    assert record.latency == 0.25


def test_the_status_is_the_answers_not_read_back_out_of_its_reason() -> None:
    """A reason that merely starts like a status line is no answer: no answer came."""
    assert outcome_status(Transient("HTTP 503 from the proxy, retried", True)) == "error"
    bad_body = Transient("HTTP 200: body is not JSON", True, status=200)
    assert bad_body.body_fault and outcome_status(bad_body) == "200"
    assert not Transient("HTTP 503: down", True, status=503).body_fault


def test_a_fetch_is_logged_on_its_route_without_a_call() -> None:
    record = record_of(Fetch(2), CallList(calls={}), 1.0, 1.5)
    assert (record.route, record.server_id, record.call_id, record.status) == (
        "get_calls",
        2,
        None,
        "200",
    )


def test_the_request_log_keeps_the_last_ones_newest_first_on_the_page() -> None:
    tally = Tally(recent=3)
    for i in range(5):
        tally.finished(
            RequestRecord(
                route="update_call", server_id=1, call_id=500 + i, status="200",
                began=float(i), ended=i + 0.1,
            )
        )
    assert len(tally.recent) == 3 and isinstance(tally.recent, RequestLog)
    view = snapshot(make_planner(paced=True), [], tally, 10.0, started=0.0, requests_made=5)
    assert [r.call_id for r in view.recent] == [504, 503, 502]
    assert view.recent[0].ago == pytest.approx(5.9) and view.recent[0].latency_ms == 100.0


def test_the_snapshot_leaves_the_planners_choice_unchanged() -> None:
    planner = make_planner(paced=True)
    planner.track(1, 501, "veh:1", 0.0, meta=META)
    planner.observe(1, "veh:1", 100.0, 0.0, 0.0, 1.0)
    call = planner.call(1, 501)
    assert call is not None
    before = (call.acc, call.acc_at, call.acc_err, call.right_at)
    snapshot(planner, [], Tally(), 50.0, started=0.0, requests_made=0)
    assert (call.acc, call.acc_at, call.acc_err, call.right_at) == before


def test_the_page_shows_the_map_error_the_status_line_shows() -> None:
    """One figure, worked out once: the mean of the errors, rounded once (not a mean of
    rounded errors, which reads 0.1 m here where the status line reads 0.0 m)."""
    planner = make_planner(paced=True)
    for call_id, x in ((1, 0.06), (2, 0.0)):
        planner.track(1, call_id, f"veh:{call_id}", 0.0, meta=_drawn_at_origin())
        planner.observe(1, f"veh:{call_id}", x, 0.0, 0.0, 1.0)
    assert planner.mean_error(planner.calls()) == 0.0
    view = snapshot(planner, [], Tally(), 2.0, started=0.0, requests_made=0)
    assert view.mean_error == 0.0


def _drawn_at_origin() -> dict[str, str]:
    return {"x": "0", "y": "0", "z": "0", "radius": "100", "postal": "221"}


def finished(tally: Tally, action: Push | Fetch, result: object, at: float) -> None:
    tally.finished(record_of(action, result, at, at + 0.1))  # type: ignore[arg-type]


def test_one_tally_of_the_outcomes_gives_every_count_the_views_show() -> None:
    """Pushes by server, 429s by route, drops by reason, requests by status: counted once, from
    the finished requests, and read by the snapshot, its summary and the metrics alike."""
    tally = Tally()
    one = Push((1, "dispatch", 501), META, 0.0, 0.0, 0.0, 50.0)
    two = Push((2, "dispatch", 502), META, 0.0, 0.0, 0.0, 50.0)
    finished(tally, one, Updated(call={}, meta={}), 1.0)
    finished(tally, one, Updated(call={}, meta={}), 2.0)
    finished(tally, two, RateLimited(None, "API rate limit exceeded"), 3.0)
    finished(tally, two, Transient("HTTP 200: body is not JSON", True, status=200), 4.0)
    finished(tally, Fetch(1), RateLimited(None, "API rate limit exceeded"), 5.0)
    finished(tally, Fetch(1), CallList(calls={}), 6.0)
    tally.heard(3)
    planner = make_planner(paced=True)
    planner.track(2, 502, "veh:2", 0.0, meta=META)
    view = snapshot(planner, [FakeLink(1, 1)], tally, 7.0, started=0.0, requests_made=6)
    assert (view.pushes, view.rate_limited, view.positions_received) == (2, 2, 3)
    assert {(c.route, c.status): c.count for c in view.answered} == {
        ("update_call", "200"): 3,  # two landed, one answered 200 with a body fault
        ("update_call", "429"): 1,
        ("get_calls", "200"): 1,
        ("get_calls", "429"): 1,
    }
    assert view.dropped == {"failed": 1, "rate_limited": 1}
    assert [b.rate_limited for b in view.budgets] == [1, 1]
    summary = view.summary
    assert (summary["pushes"], summary["refusals"], summary["requests"]) == (2, 2, 6)
    assert summary["links"] == [1] and summary["calls"] == 1
    assert summary["servers"] == {
        1: {"linked": True, "calls": 0, "pushes": 2, "mean_error_m": None},
        2: {"linked": False, "calls": 1, "pushes": 0, "mean_error_m": None},
    }
    assert "shared" not in summary


def test_the_summary_is_read_off_the_snapshot_at_the_same_moment() -> None:
    planner = make_planner(paced=True)
    planner.track(1, 501, "veh:1", 0.0, meta=META)
    planner.observe(1, "veh:1", 100.0, 0.0, 0.0, 1.0)
    push_and_answer(planner, 1.0)
    shared = {"engine": "redis", "state": "up"}
    view = snapshot(planner, [], Tally(), 2.0, started=0.0, requests_made=1, shared=shared)
    update = view.budgets[0]
    assert (view.summary["budget_used"], view.summary["budget_share"]) == (update.used, 10)
    assert view.summary["mean_error_m"] == view.mean_error == view.servers[0].mean_error
    assert view.summary["shared"] == view.shared == shared
