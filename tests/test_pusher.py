"""The push loop: it waits for input or a slot, never spins, and keeps going after failures."""

from __future__ import annotations

import asyncio

import pytest

from bridge.budget import Budget
from bridge.outcomes import GetResult, Meta, PatchResult, Quota, Updated
from bridge.planner import Planner, Settings
from bridge.pusher import PushLoop
from bridge.scheduler import PacedAccumulator


class CountingCad:
    """A CAD that answers every PATCH at once and counts them."""

    last_quota: Quota | None = None

    def __init__(self) -> None:
        self.patches = 0

    async def update_call(self, server_id: int, call_id: int, meta: Meta) -> PatchResult:
        self.patches += 1
        return Updated(call={"callId": call_id, "metaData": meta}, meta=meta)

    async def get_calls(self, server_id: int) -> GetResult:
        raise AssertionError("no call lacks metaData here")


def planner() -> Planner:
    return Planner(PacedAccumulator(10.0, 180.0), Budget(10, 60.0), None, Settings(lead=False))


def count_looks(plan: Planner) -> list[int]:
    """Count the planner's `next_action` calls, in the one-item list returned."""
    looks = [0]
    original = plan.next_action

    def counted(now: float):  # type: ignore[no-untyped-def]
        looks[0] += 1
        return original(now)

    plan.next_action = counted  # type: ignore[method-assign]
    return looks


async def test_an_idle_loop_sleeps_instead_of_spinning() -> None:
    plan = planner()
    plan.tracker.track(1, 501, "player:1", 0.0, meta={"postal": "1"})
    looks = count_looks(plan)
    loop = PushLoop(plan, CountingCad(), clock=asyncio.get_running_loop().time, on_event=print)
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0.3)
    loop.stop()
    await task
    assert looks[0] <= 3  # one look, then a wait for input or the idle re-check


async def test_a_wake_after_new_positions_pushes_at_once() -> None:
    plan = planner()
    plan.tracker.track(1, 501, "player:1", 0.0, meta={"postal": "1"})
    cad = CountingCad()
    clock = asyncio.get_running_loop().time
    loop = PushLoop(plan, cad, clock=clock, on_event=lambda event: None)
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0.05)
    plan.tracker.observe(1, "player:1", 100.0, 200.0, 0.0, clock())
    loop.wake()
    await asyncio.sleep(0.05)
    loop.stop()
    await task
    assert cad.patches == 1


async def test_a_failing_step_is_logged_and_the_loop_goes_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    plan = planner()
    plan.tracker.track(1, 501, "player:1", 0.0, meta={"postal": "1"})
    cad = CountingCad()
    clock = asyncio.get_running_loop().time
    failures = 0
    original = plan.next_action

    def flaky(now: float):  # type: ignore[no-untyped-def]
        nonlocal failures
        if failures == 0:
            failures += 1
            raise RuntimeError("a bug in the planner")
        return original(now)

    plan.next_action = flaky  # type: ignore[method-assign]
    loop = PushLoop(plan, cad, clock=clock, on_event=lambda event: None)
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0.05)
    plan.tracker.observe(1, "player:1", 100.0, 200.0, 0.0, clock())
    loop.wake()
    await asyncio.sleep(1.2)
    loop.stop()
    await task
    assert failures == 1 and cad.patches == 1
    assert "push loop step failed" in capsys.readouterr().out


async def test_input_while_no_slot_is_open_does_not_make_the_loop_choose() -> None:
    plan = planner()
    clock = asyncio.get_running_loop().time
    for _ in range(10):  # the window is spent
        plan.update_budget.begin(clock())
        plan.update_budget.end(clock())
    plan.tracker.track(1, 501, "player:1", 0.0, meta={"postal": "1"})
    looks = count_looks(plan)
    loop = PushLoop(plan, CountingCad(), clock=clock, on_event=lambda event: None)
    task = asyncio.create_task(loop.run())
    for step in range(100):
        plan.tracker.observe(1, "player:1", 10.0 * step, 0.0, 0.0, clock())
        loop.wake()
        await asyncio.sleep(0.001)
    loop.stop()
    await task
    assert looks[0] == 0
