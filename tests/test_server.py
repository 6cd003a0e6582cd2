"""The websocket listener's handshake and connection rules, over real sockets."""

from __future__ import annotations

import asyncio
import json
import re
from typing import cast

import pytest
from conftest import TOKEN, MakeDaemon, Running
from lua_resource.node_transport import NODE, NodeTransport
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.kit import until
from bridge.protocol import Error
from bridge.server import _OUTBOX_LIMIT, Link


async def refused(daemon: Running, *frames: str) -> tuple[dict[str, object], int | None]:
    """Send frames on a fresh connection; return the daemon's error and its close code."""
    async with connect(daemon.url) as ws:
        for frame in frames:
            await ws.send(frame)
        error = json.loads(await asyncio.wait_for(ws.recv(), 5))
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return error, ws.close_code


def hello(**overrides: object) -> str:
    message = {"type": "hello", "protocol": 1, "token": TOKEN, "server_id": 1}
    return json.dumps({**message, **overrides})


async def test_wrong_token_is_refused_with_1008(daemon: Running) -> None:
    error, code = await refused(daemon, hello(token="not-the-token"))
    assert error["type"] == "error" and error["code"] == "unauthorized"
    assert code == 1008
    assert not daemon.bridge.listener.links


async def test_anything_but_hello_first_is_refused(daemon: Running) -> None:
    error, code = await refused(daemon, json.dumps({"type": "untrack", "call_id": 1}))
    assert error["code"] == "bad_message" and "hello" in str(error["message"])
    assert code == 1008


async def test_an_unsupported_protocol_is_named(daemon: Running) -> None:
    error, code = await refused(daemon, hello(protocol=2))
    assert error["code"] == "unsupported_protocol" and "2" in str(error["message"])
    assert code == 1008


async def test_a_silent_client_is_dropped_after_the_hello_timeout(daemon: Running) -> None:
    error, code = await refused(daemon)
    assert "no hello" in str(error["message"])
    assert code == 1008


async def test_browser_origin_is_refused(daemon: Running) -> None:
    with pytest.raises(InvalidStatus) as caught:
        async with connect(daemon.url, origin="http://evil.example"):  # type: ignore[arg-type]
            pass
    assert caught.value.response.status_code == 403


async def test_frames_over_64_kib_close_the_connection(daemon: Running) -> None:
    game = await daemon.game()
    await game.ws.send(json.dumps({"type": "untrack", "call_id": 1, "pad": "x" * 70_000}))
    await asyncio.wait_for(game.ws.wait_closed(), 5)
    assert game.ws.close_code == 1009


async def test_a_second_live_connection_for_a_server_id_is_refused_and_the_first_keeps_its_calls(
    daemon: Running,
) -> None:
    first = await daemon.game(server_id=3)
    await first.send(type="track", call_id=7, subject="player:1")
    await first.expect("call_state", call_id=7, state="following")
    link = daemon.bridge.listener.links[3]
    for _ in range(5):  # the second server retries, as the resource does
        error, code = await refused(daemon, hello(server_id=3))
        assert error["type"] == "error" and error["code"] == "server_id_in_use"
        assert "server id 3" in str(error["message"])
        assert "sonoran_bridge_server_id" in str(error["message"])
        assert code == 1008
    assert daemon.bridge.listener.links[3] is link and first.ws.close_code is None
    assert daemon.bridge.planner.call(3, 7) is not None
    assert [m["type"] for m in first.seen].count("welcome") == 1  # no flapping
    await first.send(type="track", call_id=8, subject="player:2")
    await first.expect("call_state", call_id=8, state="following")


async def test_the_refusal_closes_with_a_reason_that_names_the_clash(daemon: Running) -> None:
    await daemon.game(server_id=3)
    async with connect(daemon.url) as ws:
        await ws.send(hello(server_id=3))
        await ws.recv()
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.reason == "server_id_in_use: server id 3 is connected"


async def test_a_connection_that_stopped_answering_pings_is_replaced(daemon: Running) -> None:
    daemon.bridge.listener.liveness_timeout = 0.2
    first = await daemon.game(server_id=3)
    await first.send(type="track", call_id=7, subject="player:1")
    await first.expect("call_state", call_id=7)
    first.ws.transport.pause_reading()  # a hung server: no pong will come
    second = await daemon.game(server_id=3)  # welcomed once the ping went unanswered
    await second.expect("call_state", call_id=7, state="following")  # its calls carry over
    assert daemon.bridge.listener.links[3].ws is not None
    await second.send(type="track", call_id=9, subject="player:1")
    await second.expect("call_state", call_id=9, state="following")
    first.ws.transport.abort()


async def test_a_ping_whose_send_blocks_counts_as_unanswered(
    daemon: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon.bridge.listener.liveness_timeout = 0.2
    first = await daemon.game(server_id=3)
    holder = daemon.bridge.listener.links[3].ws

    async def send_stuck_on_a_full_buffer(data: object = None) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(holder, "ping", send_stuck_on_a_full_buffer)
    async with asyncio.timeout(3):  # the liveness timeout covers the send, not only the pong
        second = await daemon.game(server_id=3)
    assert daemon.bridge.listener.links[3].ws is not holder
    await second.send(type="track", call_id=9, subject="player:1")
    await second.expect("call_state", call_id=9, state="following")
    first.ws.transport.abort()


async def test_a_connection_that_closed_is_replaced_without_waiting(daemon: Running) -> None:
    first = await daemon.game(server_id=3)
    first.ws.transport.abort()  # gone at once; the daemon may not have noticed yet
    async with asyncio.timeout(2):
        await daemon.game(server_id=3)


async def test_a_server_id_other_than_cad_server_id_is_warned_about_once_per_link(
    daemon: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    game = await daemon.game(server_id=3)
    for _ in range(3):
        await game.send(type="positions", items=[])
    await daemon.game(server_id=1)
    await game.send(type="track", call_id=1, subject="player:1")
    await game.expect("call_state", call_id=1)
    out = capsys.readouterr().out
    assert out.count("the resource's server id differs from cad.server_id") == 1


async def test_state_survives_a_disconnect_and_is_reported_on_reconnect(daemon: Running) -> None:
    game = await daemon.game()
    await game.send(type="track", call_id=8, subject="player:1")
    await game.expect("call_state", call_id=8)
    await game.ws.close()
    await until(lambda: 1 not in daemon.bridge.listener.links)  # the daemon saw the link go
    assert daemon.bridge.planner.call(1, 8) is not None
    again = await daemon.game()
    await again.expect("call_state", call_id=8, state="following")


async def test_a_flooding_connection_does_not_starve_another(daemon: Running) -> None:
    noisy = await daemon.game(server_id=4)
    quiet = await daemon.game(server_id=5)
    frame = json.dumps({"type": "positions", "items": [{"subject": "s", "x": 1, "y": 2, "z": 3}]})
    total = 20_000

    async def flood() -> None:
        for _ in range(total):
            await noisy.ws.send(frame)

    flooding = asyncio.create_task(flood())
    links = daemon.bridge.listener.links
    await until(lambda: links[4].frames >= 100)
    await quiet.send(type="track", call_id=9, subject="player:1")
    await quiet.expect("call_state", call_id=9, timeout=5.0)
    # Answered while the noisy connection still had most of its flood to get through.
    assert links[4].frames < total // 2
    await flooding
    noisy.ws.transport.abort()  # the rest of the flood need not be read before the teardown


async def test_the_welcome_comes_first_even_with_many_calls_to_replay(
    make_daemon: MakeDaemon,
) -> None:
    daemon = await make_daemon(max_calls_per_server=1_500)  # past the resource's 500
    first = await daemon.game()
    tracks = [{"call_id": c, "subject": f"player:{c}"} for c in range(1, 1_501)]
    for start in range(0, len(tracks), 500):
        await first.send(type="sync", tracks=tracks[: start + 500])
    await first.expect("call_state", call_id=1_500, timeout=10)
    await first.ws.close()
    # max_queue=None: the 1 500 replayed states that follow are read, not left to stall the
    # closing handshake for the whole close timeout (10 s).
    async with connect(daemon.url, max_queue=None) as ws:
        await ws.send(hello())
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "welcome"


async def test_a_hello_without_server_id_uses_the_configured_one(daemon: Running) -> None:
    async with connect(daemon.url) as ws:
        await ws.send(json.dumps({"type": "hello", "protocol": 1, "token": TOKEN}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "welcome"
        await ws.send(json.dumps({"type": "track", "call_id": 77, "subject": "player:1"}))
        await asyncio.wait_for(ws.recv(), 5)
    assert daemon.bridge.planner.call(daemon.bridge.config.cad.server_id, 77) is not None


@pytest.mark.skipif(NODE is None, reason="node is needed to run the resource's transport")
async def test_the_resource_refused_for_a_taken_server_id_backs_off_and_says_why(
    daemon: Running,
) -> None:
    holder = await daemon.game(server_id=3)
    transport = await NodeTransport.start(
        {
            "sonoran_bridge_url": daemon.url,
            "sonoran_bridge_token": TOKEN,
            "sonoran_bridge_server_id": 3,
            "sonoran_bridge_backoff_min_ms": 50,
            "sonoran_bridge_backoff_max_ms": 400,
        },
        random=0.5,
    )
    try:
        await transport.wait_count(lambda e: e["ev"] == "log" and "retry in" in e["line"], 3)
        logs = transport.logs()
        assert any(
            line.startswith("[sonoran_bridge] daemon error server_id_in_use: server id 3")
            and "sonoran_bridge_server_id" in line
            for line in logs
        )
        delays = [int(m[1]) for line in logs if (m := re.search(r"retry in (\d+) ms$", line))]
        assert delays[:3] == [50, 100, 200]  # doubling to the cap, not a tight loop
        assert transport.emits("linkUp") == [] and holder.ws.close_code is None
        await holder.ws.close()  # the holder goes: the next attempt is welcomed
        await transport.wait_for(
            lambda e: e["ev"] == "emit" and e["name"] == "sonoran_bridge:linkUp", timeout=5
        )
    finally:
        await transport.stop()
    assert transport.errors() == []


def test_a_peer_that_does_not_read_loses_its_oldest_frames_not_memory() -> None:
    link = Link(cast(ServerConnection, None), server_id=1, conn=1)  # no writer: nothing is read
    for n in range(_OUTBOX_LIMIT + 100):
        link.post(Error(code="bad_message", message=f"frame {n}"))
    queued = [json.loads(link.outbox.get_nowait())["message"] for _ in range(_OUTBOX_LIMIT)]
    assert link.outbox.empty()
    assert queued == [f"frame {n}" for n in range(100, _OUTBOX_LIMIT + 100)]
