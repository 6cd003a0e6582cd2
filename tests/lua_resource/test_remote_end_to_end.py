"""The daemon on another host, end to end over real TLS on loopback: the resource's Lua (lupa) ->
the real transport.js (Node's WebSocket, trusting a test CA made here) -> wss:// -> the real
daemon -> the CAD stand-in."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from conftest import MakeDaemon, make_config
from tls_ca import Pair, TestCa, requires_openssl

from bridge.config import Config, TlsConfig
from bridge.standin.cad import CadStandIn

from .conftest import requires_node
from .fivem import FakeServer
from .node_transport import Link, NodeTransport

pytestmark = [requires_node, requires_openssl]

Run = Callable[..., Any]
KEYS = {"callerPlayerId": "4", "uuid": "u-601", "postal": "9002", "silentAlert": "false"}


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCa:
    return TestCa(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def pair(ca: TestCa) -> Pair:
    """The daemon's certificate, for the name the game server dials (and loopback's address)."""
    return ca.issue("bridge", ("localhost", "127.0.0.1"))


def over_tls(pair: Pair) -> Callable[[CadStandIn], Config]:
    def configure(standin: CadStandIn) -> Config:
        return msgspec.structs.replace(
            make_config(standin),
            tls=TlsConfig(cert_file=str(pair.cert), key_file=str(pair.key), check_seconds=0),
        )

    return configure


def convars(url: str, token: str, server_id: int) -> dict[str, Any]:
    return {
        "sonoran_bridge_url": url,
        "sonoran_bridge_token": token,
        "sonoran_bridge_server_id": server_id,
        "sonoran_bridge_backoff_min_ms": 50,
        "sonoran_bridge_backoff_max_ms": 200,
    }


async def test_a_call_follows_its_player_over_wss(
    make_daemon: MakeDaemon,
    ca: TestCa,
    pair: Pair,
    run_transport: Run,
    make_server: Callable[..., FakeServer],
) -> None:
    daemon = await make_daemon(configure=over_tls(pair))
    daemon.standin.add_call(daemon.server_id, 601, dict(KEYS))
    server = make_server()
    server.start_sonorancad()
    server.cad_new_call(601, dict(KEYS))
    server.add_player(12, (100.0, 200.0, 30.0))
    assert server.command("trackcall", 0, "601", "12").startswith(
        "[sonoran_bridge] call 601 now follows player:12"
    )

    transport: NodeTransport = await run_transport(
        convars(f"wss://localhost:{daemon.bridge.port}", daemon.token, daemon.server_id),
        random=0.5,
        env={"NODE_EXTRA_CA_CERTS": str(ca.cert)},
    )
    link = Link(server, transport, heard=lambda: daemon.bridge.positions_received)
    await link.run_until(lambda: server.export("IsConnected") == (True,))
    assert any(line.startswith("[sonoran_bridge] link up") for line in transport.logs())
    await link.run_until(
        lambda: (601, "following", None) in server.events("sonoran_bridge:callState")
    )
    for step in range(1, 9):
        server.move_player(
            12, (100.0 + 41.3125 * step, 200.0 - 147.7625 * step, 30.0 + step * 0.125)
        )
        server.advance(1000)
        await link.delivered()
    final = {"x": "430.5", "y": "-982.1", "z": "31"}

    def arrived() -> bool:
        meta = daemon.standin.call(daemon.server_id, 601)["metaData"]
        return all(meta.get(k) == v for k, v in final.items())

    await link.run_until(arrived, tick_ms=1000, timeout=10)
    stored = daemon.standin.call(daemon.server_id, 601)["metaData"]
    assert {k: stored[k] for k in KEYS} == KEYS
    assert any(args[:2] == (601, "pushed") for args in server.events("sonoran_bridge:callState"))
    # The link was TLS: the daemon's side of it says so.
    (held,) = daemon.bridge.listener.links.values()
    assert held.ws.transport.get_extra_info("ssl_object") is not None


async def test_a_certificate_the_game_server_does_not_trust_keeps_the_link_down(
    make_daemon: MakeDaemon, pair: Pair, run_transport: Run
) -> None:
    daemon = await make_daemon(configure=over_tls(pair))
    transport: NodeTransport = await run_transport(
        convars(f"wss://localhost:{daemon.bridge.port}", daemon.token, daemon.server_id)
    )
    await transport.wait_count(lambda e: e["ev"] == "attempt", 2, timeout=5)
    assert transport.emits("linkUp") == []
    assert daemon.bridge.listener.links == {}
    assert any("retry in" in line for line in transport.logs())
    hints = [line for line in transport.logs() if "certificate is valid for localhost" in line]
    assert len(hints) == 1  # once per outage: Node itself only says "network error"


async def test_plain_ws_to_a_daemon_beyond_this_network_is_warned_about(
    run_transport: Run,
) -> None:
    transport: NodeTransport = await run_transport(
        convars("ws://203.0.113.7:30125", "s3cret-token-123", 1)
        | {"sonoran_bridge_connect_timeout_ms": 100}
    )
    await transport.wait_for(lambda e: e["ev"] == "attempt")
    warnings = [line for line in transport.logs() if "in clear" in line]
    assert len(warnings) == 1 and "wss://" in warnings[0]
    for quiet in ("ws://127.0.0.1:30125", "ws://sonoran-bridge:30125", "ws://172.18.0.1:30125"):
        other: NodeTransport = await run_transport(
            convars(quiet, "s3cret-token-123", 1) | {"sonoran_bridge_connect_timeout_ms": 100}
        )
        await other.wait_for(lambda e: e["ev"] == "attempt")
        assert not any("in clear" in line for line in other.logs()), quiet
