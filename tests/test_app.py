"""The daemon end to end over real sockets: websocket client -> daemon -> HTTP CAD stand-in."""

from __future__ import annotations

import asyncio
import math

import pytest
from conftest import API_KEY, TOKEN, WINDOW, Running, make_config

from bench.kit import ClockedCad, VirtualTime, build_daemon, until
from bridge.config import BudgetConfig, CadConfig, Config, ListenConfig, TrackingConfig
from bridge.meta import drawn_at
from bridge.protocol import Position, Positions, Sync, TrackSpec
from bridge.standin.cad import CadStandIn
from bridge.standin.routes import Fleet

KEYS = {"callerPlayerId": "12", "uuid": "abc-123", "postal": "9002", "silentAlert": "false"}


def updates(running: Running) -> list[float]:
    """Arrival times of the PATCHes the stand-in admitted or refused."""
    return [r.t for r in running.standin.requests if r.route == "update_call"]


def most_in_window(times: list[float], window: float) -> int:
    ordered, best, start = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_track_and_position_moves_the_call_keeping_other_keys(daemon: Running) -> None:
    daemon.standin.add_call(1, 501, dict(KEYS))
    game = await daemon.game()
    await game.send(type="track", call_id=501, subject="player:12", radius=75, meta=KEYS)
    await game.expect("call_state", call_id=501, state="following")
    await game.send(
        type="positions", items=[{"subject": "player:12", "x": 430.5, "y": -982.1, "z": 31}]
    )
    await game.expect("call_state", call_id=501, state="pushed")
    stored = daemon.standin.call(1, 501)["metaData"]
    assert stored == {**KEYS, "x": "430.5", "y": "-982.1", "z": "31", "radius": "75"}


async def test_unknown_meta_is_read_from_the_cad_before_any_patch(daemon: Running) -> None:
    daemon.standin.add_call(1, 502, {"postal": "100", "uuid": "u-502"})
    game = await daemon.game()
    await game.send(type="track", call_id=502, subject="entity:345")
    await game.send(type="positions", items=[{"subject": "entity:345", "x": 10, "y": 20, "z": 1}])
    await game.expect("call_state", call_id=502, state="pushed")
    routes = [r.route for r in daemon.standin.requests]
    assert routes.index("get_calls") < routes.index("update_call")
    stored = daemon.standin.call(1, 502)["metaData"]
    assert stored["postal"] == "100" and stored["uuid"] == "u-502"
    assert (stored["x"], stored["y"]) == ("10", "20")


async def test_twenty_moving_calls_never_exceed_the_budget() -> None:
    """The daemon (its real CAD client over a real socket to the stand-in) on virtual time, the
    production window: three windows of twenty moving calls, reported each second."""
    time = VirtualTime()
    fleet = Fleet(20, seed=3, moving_share=1.0)
    calls = {600 + i: s for i, s in enumerate(fleet.subjects)}
    async with ClockedCad(time, calls=dict.fromkeys(calls, KEYS), latency=0.3) as cad:
        config = Config(
            cad=CadConfig(api_url="http://127.0.0.1:9", api_key=API_KEY),
            listen=ListenConfig(port=0, token=TOKEN),
            budget=BudgetConfig(state_file=""),
            tracking=TrackingConfig(min_move=1.0, max_stale_seconds=10.0),
        )
        daemon = build_daemon(config, cad=cad.client, clock=time, wait=time.wait)
        tracks = [TrackSpec(call_id=c, subject=s, meta=KEYS) for c, s in calls.items()]
        daemon.on_message(1, Sync(tracks=tracks))

        def report() -> None:
            items = [Position(subject=s, x=x, y=y, z=z) for s, x, y, z in fleet.positions(time.now)]
            daemon.on_message(1, Positions(items=items))

        window = config.budget.window_seconds
        time.every(1.0, report, start=0.0, until=3 * window)
        time.at(3 * window, daemon.pusher.stop)
        await daemon.pusher.run()
        standin = cad.standin
        assert standin.rate_limited == 0
        times = [r.t for r in standin.requests if r.route == "update_call"]
        assert len(times) >= 20  # the budget was used, not idled
        assert most_in_window(times, window) <= 10
        for call_id in calls:
            meta = standin.call(1, call_id)["metaData"]
            assert {k: meta[k] for k in KEYS} == KEYS


async def test_bad_frames_get_errors_and_the_connection_goes_on(daemon: Running) -> None:
    daemon.standin.add_call(1, 503, dict(KEYS))
    game = await daemon.game()
    await game.send(type="track", call_id=0, subject="player:1")
    error = await game.expect("error")
    assert error["code"] == "bad_message" and "$.call_id" in error["message"]
    await game.ws.send(
        '{"type": "positions", "items": [{"subject": "a", "x": NaN, "y": 0, "z": 0}]}'
    )
    error = await game.expect("error")
    assert "NaN" in error["message"]
    await game.ws.send(b"\x00\x01binary")
    assert "binary" in (await game.expect("error"))["message"]
    await game.ws.send("not json at all")
    await game.expect("error")
    await game.send(type="teleport", call_id=1)
    assert "$.type" in (await game.expect("error"))["message"]
    # Still connected and working after all that.
    await game.send(type="track", call_id=503, subject="player:1", meta=KEYS)
    await game.expect("call_state", call_id=503, state="following")


async def test_a_404_stops_following_and_tells_the_resource(daemon: Running) -> None:
    game = await daemon.game()
    await game.send(type="track", call_id=999, subject="player:1", meta=KEYS)
    await game.send(type="positions", items=[{"subject": "player:1", "x": 1, "y": 2, "z": 3}])
    gone = await game.expect("call_state", call_id=999, state="gone")
    assert gone["detail"]
    assert daemon.bridge.planner.call(1, 999) is None


async def test_call_closed_stops_following(daemon: Running) -> None:
    daemon.standin.add_call(1, 504, dict(KEYS))
    game = await daemon.game()
    await game.send(type="track", call_id=504, subject="player:1", meta=KEYS)
    await game.send(type="call_closed", call_id=504)
    await game.expect("call_state", call_id=504, state="gone")
    assert daemon.bridge.planner.call(1, 504) is None


async def test_call_meta_from_the_resource_is_what_the_next_patch_keeps(daemon: Running) -> None:
    daemon.standin.add_call(1, 505, dict(KEYS))
    game = await daemon.game()
    await game.send(type="track", call_id=505, subject="player:1", meta=KEYS)
    await game.send(type="positions", items=[{"subject": "player:1", "x": 1, "y": 2, "z": 3}])
    await game.expect("call_state", call_id=505, state="pushed")
    edited = {**KEYS, "postal": "7001", "note": "dispatcher edit"}
    daemon.standin.edit_meta(1, 505, edited)
    await game.send(type="call_meta", call_id=505, meta=edited)
    await game.send(type="positions", items=[{"subject": "player:1", "x": 200, "y": 300, "z": 3}])
    await until(lambda: drawn_at(daemon.standin.call(1, 505)["metaData"]) == (200.0, 300.0))
    stored = daemon.standin.call(1, 505)["metaData"]
    assert stored["postal"] == "7001" and stored["note"] == "dispatcher edit"


async def test_sync_replaces_the_set_of_one_server_only(daemon: Running) -> None:
    first = await daemon.game(server_id=1)
    second = await daemon.game(server_id=2)
    await first.send(
        type="sync", tracks=[{"call_id": 1, "subject": "p:1"}, {"call_id": 2, "subject": "p:2"}]
    )
    await second.send(type="sync", tracks=[{"call_id": 1, "subject": "p:9"}])
    await first.expect("call_state", call_id=2)
    await second.expect("call_state", call_id=1)
    await first.send(type="sync", tracks=[{"call_id": 2, "subject": "p:2"}])
    await until(lambda: daemon.bridge.planner.call(1, 1) is None)
    assert daemon.bridge.planner.call(1, 2) is not None
    assert daemon.bridge.planner.call(2, 1) is not None


async def test_positions_of_a_call_reach_the_map_within_one_slot(daemon: Running) -> None:
    daemon.standin.add_call(1, 506, dict(KEYS))
    game = await daemon.game()
    await game.send(type="track", call_id=506, subject="player:5", meta=KEYS)
    for step in range(5):
        await game.send(
            type="positions", items=[{"subject": "player:5", "x": 100.0 * step, "y": 0, "z": 0}]
        )
    await until(lambda: (drawn_at(daemon.standin.call(1, 506)["metaData"]) or (0, 0))[0] >= 390)
    x, _ = drawn_at(daemon.standin.call(1, 506)["metaData"]) or (math.nan, 0)
    assert x >= 390


async def test_run_logs_a_status_line_now_and_then(capsys: pytest.CaptureFixture[str]) -> None:
    async with CadStandIn(api_key=API_KEY, window=WINDOW) as standin:
        config = make_config(standin)
        config.log.status_seconds = 0.05
        daemon = build_daemon(config)
        running = asyncio.create_task(daemon.run())
        out = ""

        def two_lines() -> bool:
            nonlocal out
            out += capsys.readouterr().out
            return out.count('"status"') + out.count(" status ") >= 2

        await until(two_lines, within=10.0)
        daemon.request_stop()
        await running
    out += capsys.readouterr().out
    assert out.count("status") >= 2 and "mean_error_m" in out and "budget_share" in out
