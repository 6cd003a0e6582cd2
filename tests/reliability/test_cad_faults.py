"""The CAD misbehaves: the daemon neither crashes, spins, overruns the budget nor drops a key,
and once the fault clears every call catches up with its subject.

Every fault of `bench.faults.cad_faults` runs side by side (each with its own stand-in and
daemon) at 30x: a 2 s window, with timeouts and back-offs scaled alike.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bench.faults import cad_faults, churn, run_cad_faults
from bench.rig import Outcome, Pace
from bridge.budget import Budget
from bridge.cad import CadClient
from bridge.outcomes import RateLimited
from bridge.planner import Planner, Push, Settings
from bridge.scheduler import PacedAccumulator

PACE = Pace()
FAULTS = [fault.name for fault in cad_faults(PACE)]
NEIGHBOUR = "429s: another integration spends 4 of the 10"
NEIGHBOUR_WITH_HEADERS = "same, and the CAD sends RateLimit-* headers"


@pytest.fixture(scope="module")
def outcomes() -> dict[str, Outcome]:
    """Every fault, run once (about 25 s in all)."""
    runs = asyncio.run(run_cad_faults(cad_faults(PACE), PACE))
    return {outcome.name: outcome for outcome in runs}


@pytest.mark.parametrize("name", FAULTS)
def test_the_daemon_rides_out_the_fault_and_every_call_catches_up(
    outcomes: dict[str, Outcome], name: str
) -> None:
    outcome = outcomes[name]
    assert not outcome.crashed, outcome.notes
    assert outcome.notes == []
    assert outcome.own_429s == 0, "a 429 while our own requests alone filled the window"
    assert outcome.keys_lost == 0, "a PATCH or a stored call lost a metaData key"
    assert outcome.settle is not None, "some call never caught up with its subject"
    assert outcome.settle < 8 * PACE.window
    # A spin looks thousands of times a second; input (10 frames/s) and answers wake it less.
    assert outcome.busiest_second < 100


def test_another_integration_on_the_key_is_learned_and_then_left_alone(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes[NEIGHBOUR]
    assert 1 <= outcome.other_429s <= 4  # learning: the neighbour's spending varies by one
    # Five quiet windows after it learned, the daemon probes once whether the neighbour has
    # gone; a probe that collides doubles the wait before the next (10 windows), so an 8-window
    # run holds one probe. That probe may draw a second 429 before its spell is over, and
    # whether it collides at all depends on timing: at most two late 429s, never a stream.
    assert outcome.late_429s <= 2


def test_rate_limit_headers_keep_the_daemon_off_the_neighbours_requests(
    outcomes: dict[str, Outcome],
) -> None:
    outcome = outcomes[NEIGHBOUR_WITH_HEADERS]
    # Only a neighbour's request landing between our answer and our next request can collide,
    # and one probe later (see above).
    assert outcome.other_429s <= 3
    assert outcome.late_429s <= 2


# -- the learning, on an injected clock ----------------------------------------------------


def spend(budget: Budget, now: float, n: int) -> None:
    for _ in range(n):
        budget.begin(now)
        budget.end(now)


def test_the_first_429_teaches_what_the_neighbour_holds() -> None:
    budget = Budget(10, 60.0)
    spend(budget, 0.0, 6)
    budget.refused(1.0, admitted=6)
    assert budget.share == 6


def test_a_probe_that_collides_doubles_the_quiet_spell_before_the_next() -> None:
    budget = Budget(10, 60.0, margin=0.0)
    budget.refused(0.0, admitted=6)
    budget.next_slot(300.0)  # five quiet windows: one request back
    assert budget.share == 7
    budget.refused(310.0, admitted=6)  # at once: the neighbour is still there
    assert budget.share == 6
    budget.next_slot(310.0 + 599.0)
    assert budget.share == 6
    budget.next_slot(310.0 + 600.0)
    assert budget.share == 7


def test_steps_that_hold_shrink_the_quiet_spell_again() -> None:
    budget = Budget(10, 60.0, margin=0.0)
    budget.refused(0.0, admitted=5)
    budget.next_slot(300.0)
    budget.refused(301.0, admitted=5)  # the step drew a 429: 600 s before the next
    budget.next_slot(900.0)
    assert budget.share == 5
    budget.next_slot(901.0)
    assert budget.share == 6
    budget.next_slot(901.0 + 300.0)  # that step held: back to 300 s
    assert budget.share == 7


def test_a_spell_of_429s_lowers_the_share_once() -> None:
    planner = Planner(
        PacedAccumulator(1.0, 180.0, pace=0.0), Budget(10, 60.0), None, Settings(lead=False)
    )
    planner.tracker.track(1, 7, "veh:7", 0.0, meta={"postal": "1"})
    now = 1.0
    for step in range(5):
        planner.tracker.observe(1, "veh:7", 100.0 * step, 0.0, 0.0, now)
        action = planner.next_action(now)
        assert isinstance(action, Push)
        planner.begin(action, now)
        planner.finish_push(action, RateLimited(1.0, "API rate limit exceeded"), now)
        now = planner.next_wake(now)
    assert planner.update_budget.share == 9
    assert planner.refusals == 5


async def test_a_failed_attempt_does_not_replay_the_previous_answers_quota() -> None:
    answers = iter(
        [
            httpx.Response(
                200,
                json={"callId": 1, "metaData": {}},
                headers={"RateLimit-Remaining": "0", "RateLimit-Reset": "30"},
            )
        ]
    )

    def handler(request: httpx.Request) -> httpx.Response:
        try:
            return next(answers)
        except StopIteration:
            raise httpx.ConnectError("refused") from None

    client = CadClient("http://cad.test", "key", transport=httpx.MockTransport(handler))
    await client.update_call(1, 1, {})
    assert client.last_quota is not None and client.last_quota.remaining == 0
    await client.update_call(1, 1, {})
    assert client.last_quota is None
    await client.aclose()


def test_memory_stays_bounded_over_a_long_churn() -> None:
    result = churn(rounds=10_000, live=20)
    assert (result.calls, result.fixes, result.followers) == (20, 20, 20)
    assert result.fetch_marks <= 3  # one per game server at most
    assert result.growth_kib < 64
