"""The push loop's gate: fail closed, a local share only after a window plus the hold, 429s
pause everyone, confirm and cancel at the end. On an injected clock, over the in-memory engine."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from bench.kit import VirtualTime
from bridge.budget import Budget
from bridge.build import planner_gate
from bridge.outcomes import RateLimited, Transient, Updated
from bridge.planner import Fetch, Planner, Push
from bridge.scheduler import PacedAccumulator
from bridge.shared.engine import Reservation, Wait
from bridge.shared.gate import GET, UPDATE, SharedGate, terms_for

from .memory_engine import MemoryBudget

WINDOW = 60.0


def new_planner() -> Planner:
    return Planner(
        policy=PacedAccumulator(1.0, 180.0),
        update_budget=Budget(10, WINDOW, 1.0),
        get_budget=Budget(5, WINDOW, 1.0),
    )


def make(
    clock: VirtualTime,
    shared: MemoryBudget,
    member: str,
    max_hosts: int = 0,
    planner: Planner | None = None,
) -> SharedGate[Push | Fetch]:
    planner = planner or new_planner()
    terms = {
        UPDATE: terms_for(10, WINDOW, 1.0, 10.0, 1.0),
        GET: terms_for(5, WINDOW, 1.0, 10.0, 1.0, shared_pace=False),
    }
    return planner_gate(
        planner, shared.engine(member), terms, clock=clock, describe="memory", max_hosts=max_hosts
    )


def push(call_id: int = 501) -> Push:
    return Push((1, "dispatch", call_id), {}, 0.0, 0.0, 0.0, 50.0)


OK = Updated({}, {})


async def test_an_unreachable_engine_sends_nothing_and_says_so_once() -> None:
    clock = VirtualTime(1_000.0)
    shared = MemoryBudget(clock)
    gate = make(clock, shared, "a")
    shared.down = True
    with capture_logs() as logged:
        for _ in range(5):
            assert not await gate.admit(push(), clock())
            # The local budget is blocked until the gate may ask again: the loop sleeps.
            assert gate.budgets[UPDATE].next_slot(clock()) > clock()
            clock.now = gate.budgets[UPDATE].next_slot(clock())
        assert [e["event"] for e in logged if "unreachable" in e["event"]] == [
            "shared budget unreachable: sending nothing until it answers; positions keep coalescing"
        ]
        assert gate.status()["state"] == "unreachable"
        shared.down = False
        assert await gate.admit(push(), clock())
    assert logged[-1]["event"] == "resolved"
    assert gate.status()["state"] == "up"


async def test_the_local_share_waits_a_window_plus_the_hold_then_keeps_to_its_part() -> None:
    clock = VirtualTime(1_000.0)
    shared = MemoryBudget(clock)
    gate = make(clock, shared, "a", max_hosts=2)
    terms = gate.terms[UPDATE]
    assert await gate.admit(push(), clock())
    await gate.settle(push(), OK)  # (a different Push object: settles nothing)
    shared.down = True
    clock.now += terms.window + terms.hold - 1.0
    assert not await gate.admit(push(), clock())
    clock.now += 1.0
    sent = 0
    for _ in range(40):  # half a minute of asking, every half second
        action = push()
        if await gate.admit(action, clock()):
            sent += 1
            clock.now += 0.1
            await gate.settle(action, OK)
        clock.now += 0.5
    assert sent == 5  # 10 // 2 hosts, in one window
    assert gate.status()["state"] == "local share"
    # Back: what was sent alone is handed to the engine, which counts it.
    shared.down = False
    other = shared.engine("b")
    assert await other.used(UPDATE, terms) == 0
    await gate.admit(push(), clock())
    used = await other.used(UPDATE, terms)
    assert used is not None and used >= 5


async def test_a_429_pauses_every_daemon_on_the_key() -> None:
    clock = VirtualTime(1_000.0)
    shared = MemoryBudget(clock)
    first, second = make(clock, shared, "a"), make(clock, shared, "b")
    action = push()
    assert await first.admit(action, clock())
    await first.settle(action, RateLimited(retry_after=None, detail="slow down"))
    answer = await second.engine.reserve(UPDATE, second.terms[UPDATE])
    assert isinstance(answer, Wait) and answer.reason == "paused"
    assert answer.seconds == pytest.approx(second.terms[UPDATE].window)
    assert not await second.admit(push(), clock())
    assert second.budgets[UPDATE].next_slot(clock()) >= clock() + 60.0


async def test_a_request_that_never_left_gives_its_slot_back_and_others_confirm() -> None:
    clock = VirtualTime(1_000.0)
    shared = MemoryBudget(clock)
    gate = make(clock, shared, "a")
    terms = gate.terms[GET]
    never, sent = Fetch(1), Fetch(2)
    assert await gate.admit(never, clock())
    assert await gate.admit(sent, clock())
    assert await gate.engine.used(GET, terms) == 2
    clock.now += 0.5
    await gate.settle(never, Transient("refused", reached_server=False))
    await gate.settle(sent, Transient("timeout", reached_server=True))
    assert await gate.engine.used(GET, terms) == 1
    route = shared.routes[GET]
    assert list(route.log.values()) == [clock()]  # confirmed at the moment it ended


async def test_a_refused_slot_leaves_the_pacing_as_it_was() -> None:
    clock = VirtualTime(1_000.0)
    shared = MemoryBudget(clock)
    planner = new_planner()
    first, second = make(clock, shared, "a"), make(clock, shared, "b", planner=planner)
    assert await first.admit(push(), clock())
    policy = planner.policy
    assert isinstance(policy, PacedAccumulator)
    before = policy.ready_at()
    action = push()
    assert not await second.admit(action, clock())  # paced by the other daemon's slot
    assert policy.ready_at() == before


async def test_slots_are_held_until_settled_and_a_reservation_is_one_each() -> None:
    clock = VirtualTime(1_000.0)
    shared = MemoryBudget(clock)
    gate = make(clock, shared, "a")
    actions = [Fetch(i) for i in range(6)]
    admitted = [await gate.admit(a, clock()) for a in actions]
    assert admitted == [True] * 5 + [False]
    assert all(isinstance(r, Reservation) for r, _ in gate._held.values())


async def test_an_engine_that_forgot_its_window_pauses_everyone_for_a_window_and_the_hold() -> None:
    clock = VirtualTime(1_000.0)
    shared = MemoryBudget(clock)
    first, second = make(clock, shared, "a"), make(clock, shared, "b")
    for gate in (first, second):
        assert await gate.admit(push(), clock())
        clock.now += 6.0
    shared.forget()  # restarted between requests: its counts are gone
    with capture_logs() as logged:
        assert not await first.admit(push(), clock())
        assert shared.routes[UPDATE].log == {}  # the slot taken in the new state went back
        assert not await second.admit(push(), clock())
    assert sum("forgot its window" in e["event"] for e in logged) == 2
    terms = first.terms[UPDATE]
    answer = await shared.engine("c").reserve(UPDATE, terms)
    assert isinstance(answer, Wait) and answer.reason == "paused"
    assert answer.seconds == pytest.approx(terms.window + terms.hold)
    clock.now += terms.window + terms.hold
    assert await first.admit(push(), clock())
