"""A CAD that refuses the daemon's API key shows in game: the console says why a call is not
moving, and `callState` reads `failed` with that reason, not `following`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bridge.app import KEY_REFUSED
from bridge.budget import Backoff

from .conftest import requires_node
from .fivem import FakeServer
from .node_transport import Link
from .test_end_to_end import KEYS, Run, transport_convars


def test_a_failed_call_is_told_in_the_console_once_per_cause(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    refused = {"type": "call_state", "call_id": 501, "state": "failed", "detail": "key refused"}
    linked.daemon_says(refused)
    linked.daemon_says(refused)
    told = [line for line in linked.prints if "not moving" in line]
    assert told == ["[sonoran_bridge] call 501 is not moving: key refused"]
    linked.daemon_says({"type": "call_state", "call_id": 501, "state": "pushed"})
    linked.daemon_says(refused)
    assert len([line for line in linked.prints if "not moving" in line]) == 2
    assert linked.events("sonoran_bridge:callState")[0] == (501, "failed", "key refused")


@requires_node
async def test_a_refused_key_reaches_the_console_and_callstate_then_clears(
    daemon: Any, run_transport: Run, make_server: Callable[..., FakeServer]
) -> None:
    daemon.standin.add_call(daemon.server_id, 501, dict(KEYS))
    # The real pause after a refused key is 15 s, doubling: too long to wait for here.
    daemon.bridge.planner.health.auth_backoff = Backoff(0.3, 0.6)
    daemon.standin.revoke_key()
    server = make_server()
    server.start_sonorancad()
    server.cad_new_call(501, dict(KEYS))
    server.add_player(12, (100.0, 200.0, 30.0))
    server.command("trackcall", 0, "501", "12")
    transport = await run_transport(transport_convars(daemon), random=0.5)
    link = Link(server, transport)
    await link.run_until(lambda: server.export("IsConnected") == (True,))

    def refused() -> bool:
        return any(
            args[:2] == (501, "failed") and KEY_REFUSED in str(args[2])
            for args in server.events("sonoran_bridge:callState")
        )

    for step in range(1, 4):
        server.move_player(12, (100.0 + 50 * step, 200.0, 30.0))
        server.advance(1000)
        await link.pump()
    await link.run_until(refused, tick_ms=1000, timeout=10)
    assert any(
        line.startswith("[sonoran_bridge] call 501 is not moving: " + KEY_REFUSED)
        for line in server.prints
    )
    # The newest state is the refusal, not `following`.
    last = [args for args in server.events("sonoran_bridge:callState") if args[0] == 501][-1]
    assert last[1] == "failed"

    daemon.standin.restore_key()
    await link.run_until(
        lambda: server.events("sonoran_bridge:callState")[-1][:2] in ((501, "pushed"),),
        tick_ms=1000,
        timeout=15,
    )
