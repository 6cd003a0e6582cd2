"""The push loop: it waits for input or a slot, never spins, and keeps going after failures.

Run on virtual time (`VirtualTime`): the loop's clock and its only way to wait are injected,
so a minute of its life takes milliseconds and no bound depends on the machine's speed; the
real client asks the real stand-in, on the same clock."""

from __future__ import annotations

import asyncio

import pytest

from bench.kit import CadScript, ClockedCad, Reply, VirtualTime, cad_client, make_planner
from bridge.planner import Planner, Settings
from bridge.pusher import PushLoop


def planner() -> Planner:
    return make_planner(paced=True, get_limit=None, settings=Settings(lead=False))


def count_looks(plan: Planner) -> list[int]:
    """Count the planner's `next_action` calls, in the one-item list returned."""
    looks = [0]
    original = plan.next_action

    def counted(now: float):  # type: ignore[no-untyped-def]
        looks[0] += 1
        return original(now)

    plan.next_action = counted  # type: ignore[method-assign]
    return looks


def counting_cad(time: VirtualTime) -> ClockedCad:
    """The stand-in on the loop's clock, knowing call 501: its PATCHes are the loop's pushes."""
    return ClockedCad(time, calls={501: {"postal": "1"}})


def patched_at(cad: ClockedCad) -> list[float]:
    return [r.t for r in cad.patches()]


def push_loop(plan: Planner, time: VirtualTime, cad: ClockedCad) -> PushLoop:
    return PushLoop(plan, cad.client, clock=time.clock, on_event=lambda event: None, wait=time.wait)


async def test_an_idle_loop_sleeps_instead_of_spinning() -> None:
    plan = planner()
    plan.track(1, 501, "player:1", 0.0, meta={"postal": "1"})
    looks = count_looks(plan)
    time = VirtualTime()
    async with counting_cad(time) as cad:
        loop = push_loop(plan, time, cad)
        time.at(60.0, loop.stop)
        await loop.run()
    # Nothing to push: one look, then a wait for input or the idle re-check, each second.
    assert time.waits == [1.0] * 60
    assert looks[0] == 60


async def test_a_wake_after_new_positions_pushes_at_once() -> None:
    plan = planner()
    plan.track(1, 501, "player:1", 0.0, meta={"postal": "1"})
    time = VirtualTime()
    async with counting_cad(time) as cad:
        loop = push_loop(plan, time, cad)

        def moved() -> None:
            plan.observe(1, "player:1", 100.0, 200.0, 0.0, time.now)
            loop.wake()

        time.at(5.25, moved)
        time.at(30.0, loop.stop)
        await loop.run()
    assert patched_at(cad) == [5.25]  # in the same instant, not at the next idle re-check


async def test_a_failing_step_is_logged_and_the_loop_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = planner()
    plan.track(1, 501, "player:1", 0.0, meta={"postal": "1"})
    time = VirtualTime()
    failures = 0
    original = plan.next_action

    def flaky(now: float):  # type: ignore[no-untyped-def]
        nonlocal failures
        if failures == 0:
            failures += 1
            raise RuntimeError("a bug in the planner")
        return original(now)

    plan.next_action = flaky  # type: ignore[method-assign]
    async with counting_cad(time) as cad:
        loop = push_loop(plan, time, cad)
        time.at(0.5, lambda: plan.observe(1, "player:1", 100.0, 200.0, 0.0, time.now))
        time.at(10.0, loop.stop)
        await loop.run()
    assert failures == 1
    assert patched_at(cad) == [1.0]  # the step after the failure, one idle re-check later
    assert "push loop step failed" in capsys.readouterr().out


async def test_input_while_no_slot_is_open_does_not_make_the_loop_choose() -> None:
    plan = planner()
    for _ in range(10):  # the window is spent
        plan.update_budget.begin(0.0)
        plan.update_budget.end(0.0)
    plan.track(1, 501, "player:1", 0.0, meta={"postal": "1"})
    looks = count_looks(plan)
    time = VirtualTime()
    step = iter(range(1, 10_000))
    async with counting_cad(time) as cad:
        loop = push_loop(plan, time, cad)

        def moved() -> None:
            plan.observe(1, "player:1", 10.0 * next(step), 0.0, 0.0, time.now)
            loop.wake()

        time.every(0.1, moved, until=59.0)  # ten frames a second while the window is spent
        while_spent: list[int] = []
        time.at(59.0, lambda: while_spent.append(looks[0]))
        time.at(70.0, loop.stop)
        await loop.run()
    assert while_spent == [0]
    # The slot opens a window (and the margin) after the spent requests; the push follows.
    budget = plan.update_budget
    assert patched_at(cad) == [pytest.approx(budget.window + budget.margin)]


async def test_a_loop_that_waits_zero_every_time_is_caught_as_a_spin() -> None:
    """The bounds above can fail: a loop that never waits exhausts the virtual timeline."""
    time = VirtualTime(limit=1_000)
    event = asyncio.Event()
    with pytest.raises(AssertionError, match="spin"):
        while True:
            await time.wait(event, 0.0)


async def test_a_quota_that_comes_with_an_answer_holds_the_next_push_until_its_reset() -> None:
    """The key's quota rides with the answer it came in: a spent window the CAD reports with a
    push holds the next one until the reset it names, though our own budget had room."""
    plan = planner()
    plan.track(1, 501, "player:1", 0.0, meta={"postal": "1"})
    time = VirtualTime()
    spent = {"RateLimit-Remaining": "0", "RateLimit-Reset": "30"}
    sent: list[float] = []
    script = CadScript([Reply(200, headers=spent)], before=lambda request: sent.append(time.now))
    async with cad_client(script) as client:
        loop = PushLoop(plan, client, clock=time.clock, on_event=lambda event: None, wait=time.wait)
        step = iter(range(1, 10_000))

        def moved() -> None:
            plan.observe(1, "player:1", 50.0 * next(step), 0.0, 0.0, time.now)
            loop.wake()

        time.every(1.0, moved, until=40.0, start=1.0)
        time.at(40.0, loop.stop)
        await loop.run()
    assert sent[0] == 1.0
    assert sent[1] >= 31.0  # not before the reset the first answer named
