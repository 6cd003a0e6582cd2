"""How the planner learns that a call ended: the list's closed calls, a PATCH answered as closed,
and 404s it must tell apart before dropping anything (fixed clocks, no sockets)."""

from __future__ import annotations

from bench.kit import make_planner
from bridge.budget import Budget
from bridge.outcomes import CallList, Gone, Updated
from bridge.planner import (
    CLOSED_LISTED,
    COLLIDES,
    MISSING,
    Alert,
    Fetch,
    Notice,
    Planner,
    Push,
    Settings,
)

META = {"x": "0", "y": "0", "z": "0", "radius": "100", "uuid": "u-1"}


def tracked(planner: Planner, *call_ids: int) -> None:
    for call_id in call_ids:
        planner.track(1, call_id, f"veh:{call_id}", 0.0, meta=META)
        planner.observe(1, f"veh:{call_id}", 100.0, 0.0, 20.0, 1.0)


def pushed(planner: Planner, now: float) -> Push:
    action = planner.next_action(now)
    assert isinstance(action, Push), action
    planner.begin(action, now)
    return action


def read(planner: Planner, now: float) -> Fetch:
    action = planner.next_action(now)
    assert isinstance(action, Fetch), action
    planner.begin(action, now)
    return action


def test_a_call_listed_closed_ends_on_one_read() -> None:
    planner = make_planner(get_limit=3)
    tracked(planner, 7, 8)
    planner.call(1, 7).absent_at = 0.5  # type: ignore[union-attr]  # wants a read
    fetch = read(planner, 16.0)
    events = planner.finish_fetch(fetch, CallList({8: META}, closed=frozenset({7})), 16.5)
    assert events == [Notice(1, 7, "gone", CLOSED_LISTED)]
    assert planner.call(1, 7) is None and planner.call(1, 8) is not None


def test_a_closed_dispatch_id_does_not_end_the_911_call_of_that_id() -> None:
    planner = make_planner(get_limit=3)
    planner.track(1, 7, "veh:7", 0.0, meta=META, kind="emergency")
    planner.observe(1, "veh:7", 100.0, 0.0, 20.0, 1.0)
    planner.call(1, 7, "emergency").absent_at = 0.5  # type: ignore[union-attr]
    fetch = read(planner, 16.0)
    events = planner.finish_fetch(
        fetch, CallList({}, emergency={7: META}, closed=frozenset({7})), 16.5
    )
    # Not ended; held, since the update route could take it for the closed dispatch call.
    assert events == [Notice(1, 7, "failed", COLLIDES, "emergency")]
    assert planner.call(1, 7, "emergency") is not None


def test_an_update_answered_closed_ends_the_call_and_spends_nothing_more() -> None:
    planner = make_planner(get_limit=3)
    tracked(planner, 7)
    push = pushed(planner, 1.0)
    detail = "the CAD answered the update with status 2: the call is closed"
    events = planner.finish_push(push, Gone(detail, "call"), 1.5)
    assert events == [Notice(1, 7, "gone", detail)]
    planner.observe(1, "veh:7", 500.0, 0.0, 20.0, 30.0)
    assert planner.next_action(30.0) is None


def test_a_404_naming_the_server_pauses_it_and_keeps_its_calls() -> None:
    planner = make_planner(get_limit=3)
    tracked(planner, 7, 8)
    push = pushed(planner, 1.0)
    events = planner.finish_push(push, Gone("serverId not configured", "server"), 1.5)
    assert Alert("server_unknown", "404 for an update: serverId not configured", 1) in events
    assert planner.call(1, 7) is not None and planner.call(1, 8) is not None
    assert planner.paused_until(1) is not None
    assert not [n for n in events if isinstance(n, Notice) and n.state == "gone"]


def test_a_404_that_says_neither_waits_for_the_list_then_ends_the_call() -> None:
    planner = make_planner(get_limit=3)
    tracked(planner, 7, 8)
    push = pushed(planner, 1.0)
    events = planner.finish_push(push, Gone("Not Found", "unknown"), 1.5)
    assert events == [Notice(1, push.key[2], "failed", f"{MISSING}: Not Found")]
    call_id = push.key[2]
    assert planner.call(1, call_id) is not None
    # Not pushed again while the question is open; the read comes.
    action = planner.next_action(2.0)
    assert action == Fetch(1)
    planner.begin(action, 2.0)
    other = 8 if call_id == 7 else 7
    events = planner.finish_fetch(action, CallList({other: META}), 2.5)
    assert [n.state for n in events if isinstance(n, Notice)] == ["gone"]
    assert planner.call(1, call_id) is None
    assert planner.call(1, other) is not None


def test_a_404_that_says_neither_and_a_list_still_holding_the_call_keeps_it_backing_off() -> None:
    planner = make_planner(get_limit=3)
    tracked(planner, 7)
    push = pushed(planner, 1.0)
    planner.finish_push(push, Gone("Not Found", "unknown"), 1.5)
    fetch = read(planner, 2.0)
    assert planner.finish_fetch(fetch, CallList({7: META}), 2.5) == []
    call = planner.call(1, 7)
    assert call is not None and call.missing_at is None and call.refused_until > 2.5
    planner.observe(1, "veh:7", 300.0, 0.0, 20.0, 3.0)
    assert planner.next_action(3.0) is None  # backing off, not at every free slot
    assert isinstance(planner.next_action(call.refused_until), Push)


def test_a_404_that_says_neither_and_a_404_list_pauses_the_server_keeping_the_call() -> None:
    planner = make_planner(get_limit=3)
    tracked(planner, 7)
    push = pushed(planner, 1.0)
    planner.finish_push(push, Gone("Not Found", "unknown"), 1.5)
    fetch = read(planner, 2.0)
    events = planner.finish_fetch(fetch, Gone("Not Found", "unknown"), 2.5)
    assert any(isinstance(e, Alert) and e.event == "server_unknown" for e in events)
    assert planner.call(1, 7) is not None


def test_an_update_answer_keeps_a_call_open() -> None:
    planner = make_planner(get_limit=3)
    tracked(planner, 7)
    push = pushed(planner, 1.0)
    answer = Updated(call={"callId": 7, "status": 1, "metaData": push.meta}, meta=dict(push.meta))
    assert planner.finish_push(push, answer, 1.5) == [Notice(1, 7, "pushed")]


# -- bounded time to see a close, within the GET budget ---------------------------------------


def close_checking(close_check: float = 30.0) -> Planner:
    settings = Settings(min_move=10.0, lead=False, meta_max_age=0.0, close_check=close_check)
    return make_planner(get_limit=3, settings=settings)


def test_a_followed_call_is_checked_for_a_close_every_close_check() -> None:
    planner = close_checking()
    tracked(planner, 7)
    pushes = reads = 0
    now = 1.0
    while now < 200.0:
        action = planner.next_action(now)
        if isinstance(action, Fetch):
            planner.begin(action, now)
            reads += 1
            closed = frozenset({7}) if now >= 100.0 else frozenset()
            listed = CallList({} if closed else {7: META}, closed=closed)
            events = planner.finish_fetch(action, listed, now + 0.5)
            if closed:
                assert events == [Notice(1, 7, "gone", CLOSED_LISTED)]
                assert 100.0 <= now <= 100.0 + 30.0 + 1.0
                break
        elif isinstance(action, Push):
            planner.begin(action, now)
            pushes += 1
            planner.finish_push(action, Updated(call={}, meta=dict(action.meta)), now + 0.5)
        now += 1.0
    assert planner.call(1, 7) is None
    assert 3 <= reads <= 5  # one each 30 s, the first 30 s after the call was followed
    assert planner.next_action(now + 60.0) is None  # nothing more is spent on it


def test_no_close_check_while_no_call_has_a_fix_or_when_off() -> None:
    planner = close_checking()
    planner.track(1, 7, "veh:7", 0.0, meta=META)
    assert planner.next_action(100.0) is None
    off = close_checking(0.0)
    tracked(off, 7)
    action = off.next_action(1.0)
    assert isinstance(action, Push)


def test_a_failing_read_backs_off_even_while_updates_go_through() -> None:
    from bridge.outcomes import Transient

    planner = close_checking(5.0)
    planner.get_budget = Budget(30, 60.0, margin=1.0)  # the budget alone would allow 30 reads
    tracked(planner, 7)
    assert planner.get_budget is not None
    now, waits = 5.0, []
    for _ in range(4):
        action = planner.next_action(now)
        assert isinstance(action, Fetch)
        planner.begin(action, now)
        planner.finish_fetch(action, Transient("HTTP 200: body has no call lists", True), now)
        waits.append(planner.get_budget.blocked_until() - now)
        # An update goes through between two reads: it says nothing of the read route.
        push = Push((1, "dispatch", 7), META, 0.0, 0.0, 0.0, 50.0)
        planner.begin(push, now)
        planner.finish_push(push, Updated(call={}, meta=dict(META)), now + 0.1)
        now = planner.get_budget.blocked_until()
    assert waits == [1.0, 2.0, 4.0, 8.0]


def test_the_operators_alerts_carry_the_ids_support_asks_for() -> None:
    from bridge.outcomes import AuthFailed

    planner = make_planner(get_limit=3)
    tracked(planner, 7)
    push = pushed(planner, 1.0)
    trace = {"traceId": "00-abc", "x-kong-request-id": "k-1"}
    events = planner.finish_push(push, AuthFailed(401, "invalid key", trace), 1.5)
    assert events == [Alert("auth_failed", "HTTP 401: invalid key", None, trace)]
    fetch = Fetch(1)
    planner.begin(fetch, 400.0)
    events = planner.finish_fetch(fetch, Gone("serverId not configured", "server", trace), 400.5)
    alert = next(e for e in events if isinstance(e, Alert) and e.event == "server_unknown")
    assert alert.trace == trace
