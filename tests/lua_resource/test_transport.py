"""server/transport.js in the machine's Node, against a websocket server that enforces
protocol v1."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import TOKEN, requires_node
from .fake_daemon import FakeDaemon
from .fivem import FakeServer
from .node_transport import Link, NodeTransport

pytestmark = requires_node

Run = Callable[..., Any]
FAST = {"sonoran_bridge_backoff_min_ms": 50, "sonoran_bridge_backoff_max_ms": 400}


def convars(url: str, token: str = TOKEN, **extra: Any) -> dict[str, Any]:
    return {
        "sonoran_bridge_url": url,
        "sonoran_bridge_token": token,
        "sonoran_bridge_server_id": 3,
        **FAST,
        **extra,
    }


def is_emit(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["ev"] == "emit" and e["name"] == f"sonoran_bridge:{name}"


def logged_delays(transport: NodeTransport) -> list[int]:
    return [
        int(m.group(1))
        for line in transport.logs()
        if (m := re.search(r"retry in (\d+) ms$", line))
    ]


async def refused_url() -> str:
    """A loopback port nobody listens on."""
    probe = await FakeDaemon().start()
    await probe.stop()
    return probe.url


async def test_hello_first_then_link_up_then_what_lua_sends(
    fake_daemon: FakeDaemon, run_transport: Run
) -> None:
    transport = await run_transport(convars(fake_daemon.url))
    await transport.wait_for(is_emit("linkUp"))
    assert transport.emits("linkUp") == [["fake-1"]]
    conn = fake_daemon.connections[0]
    assert conn.hello == {
        "type": "hello",
        "protocol": 1,
        "token": TOKEN,
        "server_id": 3,
        "resource_version": "0.1.0",
    }
    await transport.send({"type": "sync", "tracks": [{"call_id": 501, "subject": "player:12"}]})
    await fake_daemon.wait_for(lambda: conn.messages)
    assert conn.messages == [{"type": "sync", "tracks": [{"call_id": 501, "subject": "player:12"}]}]
    assert fake_daemon.refused_origins == 0  # Node sends no Origin header
    assert any(
        line.startswith("[sonoran_bridge] link up: daemon fake-1") for line in transport.logs()
    )


async def test_wrong_token_is_logged_and_retried_with_backoff(
    fake_daemon: FakeDaemon, run_transport: Run
) -> None:
    transport = await run_transport(convars(fake_daemon.url, token="wrong-token"), random=0.5)
    await fake_daemon.wait_for(lambda: len(fake_daemon.connections) >= 3)
    await transport.wait_count(lambda e: e["ev"] == "log" and "retry in" in e["line"], 3)
    assert transport.emits("linkUp") == []
    logs = transport.logs()
    assert "[sonoran_bridge] daemon error unauthorized: wrong token" in logs
    assert (
        "[sonoran_bridge] connect failed (attempt 1): closed (1008 unauthorized); retry in 50 ms"
        in logs
    )
    assert logged_delays(transport)[:3] == [50, 100, 200]
    assert not any("wrong-token" in line for line in logs)  # the token is never logged


async def test_daemon_restart_reconnects_and_lua_syncs_again(
    fake_daemon: FakeDaemon, run_transport: Run
) -> None:
    transport = await run_transport(convars(fake_daemon.url), random=0.5)
    await transport.wait_for(is_emit("linkUp"))
    await fake_daemon.restart()
    await transport.wait_for(is_emit("linkDown"))
    await transport.wait_count(is_emit("linkUp"), 2)
    assert transport.emits("linkDown") == [["closed (1001)"]]
    await transport.send({"type": "sync", "tracks": []})
    welcomed = fake_daemon.welcomed()
    assert len(welcomed) == 2
    await fake_daemon.wait_for(lambda: welcomed[1].messages)
    assert welcomed[1].messages == [{"type": "sync", "tracks": []}]
    assert "[sonoran_bridge] link down: closed (1001); retry in 50 ms" in transport.logs()


@pytest.mark.parametrize(
    ("random", "delays"), [(0.0, [38, 75, 150]), (0.5, [50, 100, 200]), (0.999, [62, 125, 250])]
)
async def test_backoff_doubles_with_jitter(
    run_transport: Run, random: float, delays: list[int]
) -> None:
    transport = await run_transport(convars(await refused_url()), random=random)
    await transport.wait_count(lambda e: e["ev"] == "log" and "retry in" in e["line"], 3)
    assert logged_delays(transport) == delays


async def test_backoff_is_capped(run_transport: Run) -> None:
    transport = await run_transport(
        convars(await refused_url(), sonoran_bridge_backoff_max_ms=120), random=0.999
    )
    await transport.wait_count(lambda e: e["ev"] == "log" and "retry in" in e["line"], 3)
    assert logged_delays(transport) == [62, 120, 120]


async def test_backoff_resets_after_a_welcome(run_transport: Run) -> None:
    daemon = FakeDaemon(TOKEN)
    url = await refused_url()
    daemon.port = int(url.rsplit(":", 1)[1])
    transport = await run_transport(convars(url), random=0.5)
    await transport.wait_count(lambda e: e["ev"] == "log" and "retry in" in e["line"], 3)
    await daemon.start()
    try:
        await transport.wait_for(is_emit("linkUp"), timeout=3)
        await daemon.restart()
        await transport.wait_for(is_emit("linkDown"))
        await transport.wait_count(is_emit("linkUp"), 2)
        assert logged_delays(transport)[:3] == [50, 100, 200]
        assert logged_delays(transport)[3] == 50  # after the welcome: from the start again
    finally:
        await daemon.stop()


async def test_error_without_close_schedules_exactly_one_retry(run_transport: Run) -> None:
    """Node's WebSocket reports a refused connection with `error` alone; each failure must lead
    to one attempt, never two (which would double the attempts at every failure)."""
    transport = await run_transport(
        convars(await refused_url(), sonoran_bridge_backoff_max_ms=100), random=0.5
    )
    for _ in range(12):
        assert len(await transport.pending_timers()) <= 1
        # Real sleep: a real Node process's timers, looked at as they run in real time.
        await asyncio.sleep(0.05)
    attempts = transport.attempts()
    # delays 50, 100, 100, ...: about 1 + 0.65 s / 0.1 s attempts so far, and never two at once
    assert 4 <= len(attempts) <= 10, attempts
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert all(gap >= 45 for gap in gaps), gaps


async def test_connect_timeout_counts_as_a_failed_attempt(run_transport: Run) -> None:
    """A server that accepts TCP and never answers the upgrade."""
    held: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        transport = await run_transport(
            convars(f"ws://127.0.0.1:{port}", sonoran_bridge_connect_timeout_ms=200), random=0.5
        )
        await transport.wait_count(lambda e: e["ev"] == "attempt", 3, timeout=3)
        logs = transport.logs()
        assert logs[1] == (
            "[sonoran_bridge] connect failed (attempt 1): connect timeout after 0.2 s; "
            "retry in 50 ms"
        )
        gaps = [b - a for a, b in itertools.pairwise(transport.attempts())]
        assert all(gap >= 240 for gap in gaps), gaps  # timeout + backoff, once each
    finally:
        for writer in held:
            writer.close()
        server.close()


async def test_frames_before_the_welcome_are_dropped_and_a_missing_welcome_times_out(
    run_transport: Run,
) -> None:
    daemon = await FakeDaemon(TOKEN, welcome=False).start()
    try:
        transport = await run_transport(
            convars(daemon.url, sonoran_bridge_connect_timeout_ms=300), random=0.5
        )
        await daemon.wait_for(lambda: daemon.welcomed())
        await transport.send({"type": "sync", "tracks": []})
        await transport.wait_for(
            lambda e: e["ev"] == "log" and "no welcome within 0.3 s" in e["line"]
        )
        assert daemon.welcomed()[0].messages == []
        assert transport.emits("linkUp") == []
    finally:
        await daemon.stop()


async def test_nothing_is_queued_while_the_link_is_down(
    fake_daemon: FakeDaemon, run_transport: Run
) -> None:
    transport = await run_transport(convars(fake_daemon.url), random=0.5)
    await transport.wait_for(is_emit("linkUp"))
    await fake_daemon.stop()
    await transport.wait_for(is_emit("linkDown"))
    for i in range(300):
        await transport.send(
            {"type": "positions", "items": [{"subject": "player:1", "x": i, "y": 0, "z": 0}]}
        )
    await fake_daemon.start()
    await transport.wait_count(is_emit("linkUp"), 2, timeout=3)
    await transport.send({"type": "sync", "tracks": []})
    second = fake_daemon.welcomed()[1]
    await fake_daemon.wait_for(lambda: second.messages)
    # Real sleep: nothing more may come: the real Node process gets time to send it.
    await asyncio.sleep(0.1)
    assert second.messages == [{"type": "sync", "tracks": []}]


async def test_daemon_messages_reach_lua_and_errors_are_logged(
    fake_daemon: FakeDaemon, run_transport: Run
) -> None:
    transport = await run_transport(convars(fake_daemon.url))
    await transport.wait_for(is_emit("linkUp"))
    conn = fake_daemon.welcomed()[0]
    await fake_daemon.call_state(conn, 501, "pushed", "moved")
    await conn.ws.send(
        '{"type":"error","code":"bad_message","message":"Expected int >= 1 - at $.call_id"}'
    )
    await conn.ws.send("not json")
    await transport.wait_for(is_emit("daemonMessage"))
    await transport.wait_for(lambda e: e["ev"] == "log" and "not a JSON object" in e["line"])
    assert transport.emits("daemonMessage") == [
        ['{"type": "call_state", "call_id": 501, "state": "pushed", "detail": "moved"}']
    ]
    assert (
        "[sonoran_bridge] daemon error bad_message: Expected int >= 1 - at $.call_id"
        in transport.logs()
    )


async def test_oversized_frames_are_not_sent(fake_daemon: FakeDaemon, run_transport: Run) -> None:
    transport = await run_transport(convars(fake_daemon.url))
    await transport.wait_for(is_emit("linkUp"))
    items = [{"subject": f"entity:{i}", "x": 1.0, "y": 2.0, "z": 3.0} for i in range(1500)]
    await transport.send({"type": "positions", "items": items})
    await transport.send({"type": "untrack", "call_id": 1})
    conn = fake_daemon.welcomed()[0]
    await fake_daemon.wait_for(lambda: conn.messages)
    assert conn.messages == [{"type": "untrack", "call_id": 1}]
    await transport.wait_for(
        lambda e: e["ev"] == "log" and "exceeds the daemon's 64 KiB limit" in e["line"]
    )
    assert len(fake_daemon.welcomed()) == 1  # the link stayed up


async def test_keepalive_while_silent(fake_daemon: FakeDaemon, run_transport: Run) -> None:
    transport = await run_transport(convars(fake_daemon.url, sonoran_bridge_keepalive_ms=150))
    await transport.wait_for(is_emit("linkUp"))
    conn = fake_daemon.welcomed()[0]
    await fake_daemon.wait_for(lambda: len(conn.messages) >= 2)
    assert conn.messages[:2] == [{"type": "positions", "items": []}] * 2


async def test_resource_stop_closes_the_link_and_stops_retrying(
    fake_daemon: FakeDaemon, run_transport: Run
) -> None:
    transport = await run_transport(convars(fake_daemon.url))
    await transport.wait_for(is_emit("linkUp"))
    await transport.trigger("__stop__")  # unknown events are ignored
    await transport._command(
        {"cmd": "trigger", "name": "onResourceStop", "args": ["other_resource"]}
    )
    # Real sleep: nothing may happen: the real Node process gets time to (wrongly) close.
    await asyncio.sleep(0.05)
    assert not fake_daemon.connections[0].closed.is_set()
    await transport._command(
        {"cmd": "trigger", "name": "onResourceStop", "args": ["sonoran_bridge"]}
    )
    await asyncio.wait_for(fake_daemon.connections[0].closed.wait(), 2)
    assert fake_daemon.connections[0].ws.close_code == 1000
    # Real sleep: nothing may happen: the real Node process gets time to (wrongly) reconnect.
    await asyncio.sleep(0.3)
    assert len(transport.attempts()) == 1


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        (
            {"sonoran_bridge_token": ""},
            'sonoran_bridge_token is not set (server.cfg: set sonoran_bridge_token "...")',
        ),
        (
            {"sonoran_bridge_url": "http://127.0.0.1:1"},
            'sonoran_bridge_url: expected ws://host:port or wss://host:port, got "http://127.0.0.1:1"',
        ),
        (
            {"sonoran_bridge_server_id": "0"},
            'sonoran_bridge_server_id: expected an integer between 1 and 2147483647, got "0"',
        ),
        (
            {"sonoran_bridge_server_id": "two"},
            'sonoran_bridge_server_id: expected an integer between 1 and 2147483647, got "two"',
        ),
    ],
)
async def test_bad_convars_keep_the_link_idle(
    run_transport: Run, settings: dict[str, str], line: str
) -> None:
    transport = await run_transport({**convars("ws://127.0.0.1:1"), **settings})
    # Real sleep: nothing may happen: the real Node process gets time to (wrongly) connect.
    await asyncio.sleep(0.1)
    assert transport.logs() == [
        f"[sonoran_bridge] {line}",
        "[sonoran_bridge] link idle: fix the convars above and restart the resource",
    ]
    assert transport.attempts() == []


async def test_default_url_is_loopback_30125(run_transport: Run) -> None:
    transport = await run_transport({"sonoran_bridge_token": TOKEN})
    await transport.wait_for(lambda e: e["ev"] == "attempt")
    assert transport.attempts() and transport.events[0]["line"] == (
        "[sonoran_bridge] connecting to ws://127.0.0.1:30125 as server id 1"
    )


# -- Lua and JS together, as in FXServer ------------------------------------------------------


async def test_lua_and_transport_together(
    fake_daemon: FakeDaemon, run_transport: Run, make_server: Callable[..., FakeServer]
) -> None:
    server = make_server()
    server.add_player(12, (100.0, 200.0, 30.0))
    assert server.command("trackcall", 0, "501", "12").endswith("it is sent on reconnect)")
    transport = await run_transport(convars(fake_daemon.url), random=0.5)
    link = Link(server, transport)
    await link.run_until(
        lambda: bool(fake_daemon.welcomed()) and bool(fake_daemon.welcomed()[0].messages)
    )
    first = fake_daemon.welcomed()[0]
    assert first.messages[0] == {
        "type": "sync",
        "tracks": [{"call_id": 501, "subject": "player:12"}],
    }
    assert server.export("IsConnected") == (True,)
    server.move_player(12, (150.0, 200.0, 30.0))
    await link.run_until(lambda: bool(first.of_type("positions")), tick_ms=1000)
    assert first.of_type("positions")[0]["items"][0]["x"] == 150.0
    # The daemon restarts: Lua hears linkDown, then syncs the set again on the new connection.
    await fake_daemon.restart()
    await link.run_until(
        lambda: len(fake_daemon.welcomed()) == 2 and bool(fake_daemon.welcomed()[1].messages)
    )
    assert fake_daemon.welcomed()[1].messages[0]["type"] == "sync"
    assert fake_daemon.welcomed()[1].messages[0]["tracks"] == [
        {"call_id": 501, "subject": "player:12"}
    ]
    await fake_daemon.call_state(fake_daemon.welcomed()[1], 501, "pushed")
    await link.run_until(lambda: bool(server.events("sonoran_bridge:callState")))
    assert server.events("sonoran_bridge:callState") == [(501, "pushed", None)]
