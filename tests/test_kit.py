"""The test kit (`bench.kit`): its fake CAD is parsed by the real client, its clock jumps, its
rig runs the real daemon."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from bench.kit import (
    API_KEY,
    CadScript,
    Reply,
    Rigs,
    VirtualTime,
    cad_client,
    make_planner,
    until,
)
from bridge.outcomes import Gone, RateLimited, Transient, Updated
from bridge.standin.cad import CadStandIn


async def test_a_scripted_answer_is_parsed_by_the_real_client() -> None:
    script = CadScript(
        [
            Reply(429, {"message": "API rate limit exceeded"}, {"Retry-After": "7"}),
            Reply(404, {"detail": "Dispatch call 501 not found"}),
            httpx.ConnectError("refused"),
            Reply(200, b'{"callId": 501, "metaData": {"x'),
        ]
    )
    async with cad_client(script) as client:
        results = [(await client.update_call(1, 501, {"x": "1"})).result for _ in range(5)]
    assert isinstance(results[0], RateLimited) and results[0].retry_after == 7.0
    assert isinstance(results[1], Gone) and results[1].what == "call"
    assert isinstance(results[2], Transient) and not results[2].reached_server
    assert isinstance(results[3], Transient) and "not JSON" in results[3].reason
    # Past the script: a good answer, the call as the PATCH set it.
    assert isinstance(results[4], Updated) and results[4].meta == {"x": "1"}
    assert [r.url.path for r in script.seen] == ["/v2/emergency/servers/1/dispatch-calls/501"] * 5


async def test_past_its_script_the_fake_cad_is_the_real_stand_in() -> None:
    async with CadStandIn(api_key=API_KEY) as standin:
        standin.add_call(1, 501, {"postal": "101"})
        async with cad_client([Reply(503, {"detail": "down"})], url=standin.url) as client:
            first = (await client.update_call(1, 501, {"postal": "101", "x": "5"})).result
            second = (await client.update_call(1, 501, {"postal": "101", "x": "6"})).result
        assert isinstance(first, Transient) and "503" in first.reason
        assert isinstance(second, Updated)
        assert standin.call(1, 501)["metaData"] == {"postal": "101", "x": "6"}
        assert len(standin.requests) == 1  # the scripted one never reached it


async def test_virtual_time_runs_inputs_at_their_moments_and_jumps() -> None:
    time = VirtualTime()
    ran: list[float] = []
    time.every(10.0, lambda: ran.append(time.now), until=30.0)
    event = asyncio.Event()
    time.at(15.0, event.set)
    await time.wait(event, 60.0)
    assert ran == [10.0] and time() == 15.0  # the wait ended at the input that set the event
    time.advance(20.0)
    assert ran == [10.0, 20.0, 30.0] and time.now == 35.0


def test_make_planner_uses_the_production_budgets() -> None:
    planner = make_planner()
    assert planner.update_budget.limit == 10 and planner.update_budget.window == 60.0
    assert planner.get_budget is not None and planner.get_budget.limit == 5
    assert make_planner(get_limit=None).get_budget is None


async def test_the_rig_runs_a_real_daemon_that_pushes_to_the_stand_in() -> None:
    rigs = Rigs()
    try:
        running = await rigs()
        running.standin.add_call(1, 501, {"postal": "101"})
        game = await running.game()
        await game.send(type="track", call_id=501, subject="player:1", meta={"postal": "101"})
        await game.send(type="positions", items=[{"subject": "player:1", "x": 5, "y": 6, "z": 7}])
        await until(lambda: "x" in running.standin.call(1, 501)["metaData"])
        assert running.standin.call(1, 501)["metaData"]["postal"] == "101"
    finally:
        await rigs.stop_all()
    with pytest.raises(TimeoutError):
        await until(lambda: False, within=0.05)
