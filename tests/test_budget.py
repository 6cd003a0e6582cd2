"""Budget arithmetic: never more than `limit` requests in any window a strict server can see."""

from __future__ import annotations

import heapq
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.budget import Backoff, Budget
from bridge.standin.window import most_in_window


def just_after(t: float) -> float:
    return math.nextafter(t, math.inf)


# --- the core property ----------------------------------------------------------------


@st.composite
def schedules(draw: st.DrawFn) -> tuple[Budget, list[tuple[float, float, bool, float]]]:
    """Drive a Budget like a daemon does; return each request's (start, end, reached, where)."""
    limit = draw(st.integers(min_value=1, max_value=10))
    window = draw(st.sampled_from([1.0, 6.0, 60.0, 61.5]))
    margin = draw(st.sampled_from([0.0, 0.001, 0.25, 1.0]))
    budget = Budget(limit, window, margin)
    now = 0.0
    in_flight: list[tuple[float, int]] = []  # (end time, index)
    requests: list[tuple[float, float, bool, float]] = []
    pending: dict[int, tuple[float, float, bool]] = {}

    def finish_until(t: float) -> None:
        while in_flight and in_flight[0][0] <= t:
            end, index = heapq.heappop(in_flight)
            start, where, reached = pending.pop(index)
            budget.end(end, reached_server=reached)
            requests.append((start, end, reached, where))

    steps = draw(st.integers(min_value=1, max_value=60))
    for _ in range(steps):
        if draw(st.booleans()):
            # Start exactly when the budget says a slot opens (the adversarial case).
            while True:
                slot = budget.next_slot(now)
                if in_flight and in_flight[0][0] <= slot:
                    now = max(now, in_flight[0][0])
                    finish_until(now)
                    continue
                break
            if math.isinf(slot):
                break
            now = slot
        else:
            now += draw(st.sampled_from([0.0, 0.001, 0.5, 3.0, 6.0, 17.0, 59.999, 60.0]))
            finish_until(now)
        if draw(st.integers(0, 9)) == 0:
            budget.refused(now)
        if not budget.available(now):
            continue
        budget.begin(now)
        duration = draw(st.sampled_from([0.0, 0.001, 0.05, 0.4, 2.0, 9.0, 30.0, 75.0]))
        reached = draw(st.integers(0, 5)) != 0
        where = draw(st.floats(min_value=0, max_value=1))
        index = len(requests) + len(pending)
        pending[index] = (now, where, reached)
        heapq.heappush(in_flight, (now + duration, index))
    finish_until(math.inf)
    return budget, requests


@settings(max_examples=200, deadline=None)
@given(schedules())
def test_no_window_holds_more_than_limit_arrivals_wherever_the_server_saw_them(
    drawn: tuple[Budget, list[tuple[float, float, bool, float]]],
) -> None:
    budget, requests = drawn
    sent = [(start, end, where) for start, end, reached, where in requests if reached]
    at_start = [start for start, _, _ in sent]
    at_end = [end for _, end, _ in sent]
    between = [start + where * (end - start) for start, end, where in sent]
    for arrivals in (at_start, at_end, between):
        assert most_in_window(arrivals, budget.window) <= budget.limit


# --- bursts, in-flight requests, margin -----------------------------------------------


def test_a_burst_never_gets_past_the_limit() -> None:
    budget = Budget(10, 60.0)
    for _ in range(10):
        assert budget.available(100.0)
        budget.begin(100.0)
    assert not budget.available(100.0)
    with pytest.raises(RuntimeError):
        budget.begin(100.0)


def test_a_burst_of_instant_requests_still_waits_a_window() -> None:
    budget = Budget(3, 60.0, margin=1.0)
    for _ in range(3):
        budget.begin(0.0)
        budget.end(0.0)
    assert budget.used(0.0) == 3
    assert not budget.available(61.0)
    assert budget.next_slot(0.0) == just_after(61.0)
    assert budget.available(just_after(61.0))


def test_in_flight_requests_hold_their_place_indefinitely() -> None:
    budget = Budget(2, 60.0)
    budget.begin(0.0)
    budget.begin(0.0)
    assert budget.next_slot(0.0) == math.inf
    assert budget.next_slot(10_000.0) == math.inf
    assert budget.used(10_000.0) == 2
    assert not budget.available(10_000.0)


def test_a_request_counts_from_its_end_plus_window_and_margin() -> None:
    budget = Budget(1, 60.0, margin=1.5)
    budget.begin(0.0)
    budget.end(30.0)  # a slow request: the server may have seen it as late as t=30
    assert budget.next_slot(30.0) == just_after(91.5)
    assert not budget.available(91.5)
    assert budget.available(91.6)


def test_next_slot_waits_for_the_oldest_ended_request_when_others_are_in_flight() -> None:
    budget = Budget(3, 60.0, margin=1.0)
    budget.begin(0.0)
    budget.end(1.0)
    budget.begin(2.0)
    budget.end(5.0)
    budget.begin(6.0)  # still in flight
    assert budget.next_slot(6.0) == just_after(62.0)
    budget.refused(6.0)  # share 2: two must leave; the in-flight one cannot
    assert budget.next_slot(6.0) == just_after(66.0)


def test_margin_widens_the_window_each_request_occupies() -> None:
    for margin in (0.0, 1.0, 5.0):
        budget = Budget(1, 60.0, margin=margin)
        budget.begin(0.0)
        budget.end(0.0)
        assert budget.next_slot(0.0) == just_after(60.0 + margin)


def test_without_margin_a_closed_window_still_never_holds_limit_plus_one() -> None:
    # A strict server counting [t, t + 60] would see both requests if the second could start
    # exactly 60 s after the first ended.
    budget = Budget(1, 60.0, margin=0.0)
    budget.begin(0.0)
    budget.end(0.0)
    assert not budget.available(60.0)
    assert budget.next_slot(60.0) > 60.0
    assert budget.available(budget.next_slot(60.0))


def test_margin_keeps_exact_spacing_safe_against_jitter() -> None:
    # 6.0 s spacing with no margin, and each arrival delayed by jitter, puts 11 in a window.
    budget = Budget(10, 60.0, margin=1.0)
    arrivals = []
    now = 0.0
    for i in range(30):
        now = budget.next_slot(now)
        budget.begin(now)
        jitter = 0.9 if i % 10 == 0 else 0.0
        budget.end(now + jitter)
        arrivals.append(now + jitter)
    assert most_in_window(arrivals, 60.0) <= 10


def test_block_until_delays_the_next_slot() -> None:
    budget = Budget(10, 60.0)
    budget.block_until(30.0)
    assert budget.blocked_until() == 30.0
    assert not budget.available(29.9)
    assert budget.next_slot(0.0) == 30.0
    assert budget.available(30.0)


def test_block_until_never_shortens_an_earlier_block() -> None:
    budget = Budget(10, 60.0)
    budget.block_until(50.0)
    budget.block_until(20.0)
    assert budget.blocked_until() == 50.0


def test_not_blocked_at_first() -> None:
    assert Budget(1, 1.0).blocked_until() == -math.inf


def test_block_and_window_both_apply() -> None:
    budget = Budget(1, 60.0, margin=0.0)
    budget.begin(0.0)
    budget.end(0.0)
    budget.block_until(10.0)
    assert budget.next_slot(0.0) == just_after(60.0)
    budget.block_until(90.0)
    assert budget.next_slot(0.0) == 90.0


def test_a_request_that_never_reached_the_server_does_not_count() -> None:
    budget = Budget(1, 60.0)
    budget.begin(0.0)
    budget.end(0.5, reached_server=False)
    assert budget.used(0.5) == 0
    assert budget.available(0.5)


def test_a_request_that_may_have_reached_the_server_counts() -> None:
    budget = Budget(1, 60.0)
    budget.begin(0.0)
    budget.end(0.5)
    assert budget.used(0.5) == 1
    assert not budget.available(0.5)


def test_end_without_begin_is_an_error() -> None:
    with pytest.raises(RuntimeError):
        Budget(1, 1.0).end(0.0)


def test_used_drops_requests_once_they_leave_the_window() -> None:
    budget = Budget(5, 10.0, margin=1.0)
    for t in (0.0, 2.0, 4.0):
        budget.begin(t)
        budget.end(t)
    assert budget.used(4.0) == 3
    assert budget.used(11.0) == 3
    assert budget.used(11.5) == 2
    assert budget.used(15.0) == 1
    assert budget.used(15.5) == 0


@pytest.mark.parametrize(("limit", "window"), [(0, 60.0), (1, 0.0), (1, -1.0)])
def test_nonsense_limits_are_refused(limit: int, window: float) -> None:
    with pytest.raises(ValueError):
        Budget(limit, window)


# --- sharing the key with someone else ------------------------------------------------


def test_refused_lowers_the_share_by_one_each_time_down_to_one() -> None:
    budget = Budget(3, 60.0)
    budget.refused(0.0)
    assert budget.share == 2
    budget.refused(1.0)
    budget.refused(2.0)
    budget.refused(3.0)
    assert budget.share == 1


def test_a_lower_share_allows_fewer_requests_per_window() -> None:
    budget = Budget(10, 60.0)
    budget.refused(0.0)
    for _ in range(9):
        budget.begin(0.0)
        budget.end(0.0)
    assert not budget.available(0.0)


def test_share_recovers_one_step_per_five_quiet_windows() -> None:
    budget = Budget(10, 60.0)
    budget.refused(0.0)
    budget.refused(0.0)
    budget.next_slot(299.0)
    assert budget.share == 8
    budget.next_slot(300.0)
    assert budget.share == 9
    budget.next_slot(599.0)
    assert budget.share == 9
    budget.next_slot(600.0)
    assert budget.share == 10
    budget.next_slot(100_000.0)
    assert budget.share == 10


def test_a_new_refusal_restarts_the_quiet_spell() -> None:
    budget = Budget(10, 60.0)
    budget.refused(0.0)
    budget.refused(200.0)
    budget.next_slot(300.0)
    assert budget.share == 8
    budget.next_slot(500.0)
    assert budget.share == 9


def test_share_recovers_fully_after_a_long_quiet_spell() -> None:
    budget = Budget(4, 60.0)
    for t in range(3):
        budget.refused(float(t))
    assert budget.share == 1
    assert budget.available(10_000.0)
    assert budget.share == 4


# --- back-off -------------------------------------------------------------------------


def test_backoff_doubles_from_6_to_a_cap_of_60() -> None:
    backoff = Backoff()
    assert [backoff.delay() for _ in range(7)] == [6.0, 12.0, 24.0, 48.0, 60.0, 60.0, 60.0]


def test_backoff_reset_starts_again_from_initial() -> None:
    backoff = Backoff()
    backoff.delay()
    backoff.delay()
    backoff.reset()
    assert backoff.delay() == 6.0
    assert backoff.delay() == 12.0


def test_backoff_honours_custom_initial_and_cap() -> None:
    backoff = Backoff(initial=15.0, cap=300.0)
    assert [backoff.delay() for _ in range(6)] == [15.0, 30.0, 60.0, 120.0, 240.0, 300.0]
