"""The whole chain: the resource's Lua (lupa) -> transport.js (Node) -> the real daemon -> the CAD
stand-in. Uses the `daemon` fixture of tests/conftest.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from .conftest import requires_node
from .fivem import FakeServer
from .node_transport import Link, NodeTransport

pytestmark = requires_node

Run = Callable[..., Any]
KEYS = {"callerPlayerId": "4", "uuid": "u-501", "postal": "9002", "silentAlert": "false"}


def transport_convars(daemon: Any, **extra: Any) -> dict[str, Any]:
    return {
        "sonoran_bridge_url": daemon.url,
        "sonoran_bridge_token": daemon.token,
        "sonoran_bridge_server_id": daemon.server_id,
        "sonoran_bridge_backoff_min_ms": 50,
        **extra,
    }


def is_emit(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["ev"] == "emit" and e["name"] == f"sonoran_bridge:{name}"


async def test_transport_handshake_with_the_real_daemon(daemon: Any, run_transport: Run) -> None:
    transport: NodeTransport = await run_transport(transport_convars(daemon))
    await transport.wait_for(is_emit("linkUp"))
    await transport.send({"type": "sync", "tracks": []})
    await transport.send({"type": "positions", "items": []})  # the keepalive frame is valid too
    # A frame the daemon answers: its answer comes after any error for the frames before it.
    await transport.send({"type": "track", "call_id": 1, "subject": "player:1"})
    await transport.wait_for(is_emit("daemonMessage"))
    assert daemon.bridge.status()["links"] == [daemon.server_id]
    assert not any("daemon error" in line for line in transport.logs())


async def test_wrong_token_is_refused_by_the_real_daemon_and_retried(
    daemon: Any, run_transport: Run
) -> None:
    transport: NodeTransport = await run_transport(
        transport_convars(daemon, sonoran_bridge_token="nope")
    )
    await transport.wait_count(lambda e: e["ev"] == "attempt", 2, timeout=5)
    assert transport.emits("linkUp") == []
    assert any(
        line.startswith("[sonoran_bridge] daemon error unauthorized") for line in transport.logs()
    )
    assert any("closed (1008" in line for line in transport.logs())


async def test_trackcall_then_the_player_drives_and_the_call_follows(
    daemon: Any, run_transport: Run, make_server: Callable[..., FakeServer]
) -> None:
    daemon.standin.add_call(daemon.server_id, 501, dict(KEYS))
    server = make_server()
    server.start_sonorancad()
    server.cad_new_call(501, dict(KEYS))  # sonorancad's cache knows the call, as the CAD does
    server.add_player(12, (100.0, 200.0, 30.0))
    assert server.command("trackcall", 0, "501", "12").startswith(
        "[sonoran_bridge] call 501 now follows player:12"
    )

    transport = await run_transport(transport_convars(daemon), random=0.5)
    link = Link(server, transport, heard=lambda: daemon.bridge.positions_received)
    await link.run_until(lambda: server.export("IsConnected") == (True,))
    await link.run_until(
        lambda: (501, "following", None) in server.events("sonoran_bridge:callState")
    )

    # Player 12 drives east along a road, one sampling period at a time, then parks.
    for step in range(1, 9):
        server.move_player(
            12, (100.0 + 41.3125 * step, 200.0 - 147.7625 * step, 30.0 + step * 0.125)
        )
        server.advance(1000)
        await link.delivered()
    final = {"x": "430.5", "y": "-982.1", "z": "31"}

    def arrived() -> bool:
        meta = daemon.standin.call(daemon.server_id, 501)["metaData"]
        return all(meta.get(k) == v for k, v in final.items())

    await link.run_until(arrived, tick_ms=1000, timeout=10)
    stored = daemon.standin.call(daemon.server_id, 501)["metaData"]
    assert {k: stored[k] for k in KEYS} == KEYS  # keys the bridge does not own, intact
    assert {k: stored[k] for k in final} == final
    assert any(args[:2] == (501, "pushed") for args in server.events("sonoran_bridge:callState"))

    # The CAD closes the call: the resource says so, the daemon stops following it.
    server.cad_close_call(501)
    await link.run_until(
        lambda: (501, "gone", "closed in the CAD") in server.events("sonoran_bridge:callState")
    )
    server.move_player(12, (1000.0, 1000.0, 30.0))
    for _ in range(3):
        server.advance(1000)
        await link.pump()
        # Real sleep: nothing may happen: the real daemon gets time to (wrongly) push.
        await asyncio.sleep(0.1)
    assert daemon.standin.call(daemon.server_id, 501)["metaData"]["x"] == "430.5"
    assert transport.errors() == []
