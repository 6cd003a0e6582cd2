"""End to end: the CAD's own workflow moves calls. The resource's Lua (lupa) -> transport.js (Node)
-> the real daemon -> the CAD stand-in. A dispatcher sets primary and track primary in the
stand-in; sonorancad (faked in Lua, its caches shaped as in its v4 source) learns it by its
push event or its poll; the call follows the unit's player, and each update carries the postal
of the pushed pin, in the same request."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeDaemon, make_config

from bridge.config import PostalConfig
from bridge.postal import Postal, PostalIndex

from .conftest import requires_node
from .fivem import FakeServer
from .node_transport import Link

pytestmark = requires_node

Run = Callable[..., Any]
KEYS: dict[str, Any] = {"uuid": "u-501", "silentAlert": "false", "units": [7, 8], "weight": 2}
"""Values of any JSON type are carried verbatim end to end."""


def postal_grid() -> list[dict[str, Any]]:
    """A postal every 100 m over the test area, codes opaque strings (some repeated)."""
    return [
        {"x": -200.0 + 100 * i, "y": -200.0 + 100 * j, "code": f"{100 + i}-{'AB'[j % 2]}"}
        for i in range(12)
        for j in range(12)
    ]


def convars(daemon: Any, **extra: Any) -> dict[str, Any]:
    return {
        "sonoran_bridge_url": daemon.url,
        "sonoran_bridge_token": daemon.token,
        "sonoran_bridge_server_id": daemon.server_id,
        "sonoran_bridge_backoff_min_ms": 50,
        **extra,
    }


async def drive(
    link: Link, server: FakeServer, player: int, to: tuple[float, float], steps: int = 6
):
    """The player drives to `to` in `steps` sampling periods."""
    start = server.fake.entities[server.ped(player)]
    x0, y0 = float(start.x), float(start.y)
    for step in range(1, steps + 1):
        f = step / steps
        server.move_player(player, (x0 + (to[0] - x0) * f, y0 + (to[1] - y0) * f, 30.0))
        server.advance(1000)
        await link.delivered()


def stored(daemon: Any, call_id: int, kind: str = "dispatch") -> dict[str, Any]:
    """The stand-in's copy of a dispatch call, or of a 911 call (`kind="emergency"`)."""
    read = daemon.standin.emergency_call if kind == "emergency" else daemon.standin.call
    return read(daemon.server_id, call_id)  # type: ignore[no-any-return]


def pin(daemon: Any, call_id: int, kind: str = "dispatch") -> tuple[float, float]:
    meta = stored(daemon, call_id, kind)["metaData"]
    return float(meta["x"]), float(meta["y"])


def near(
    daemon: Any, call_id: int, to: tuple[float, float], within: float = 1.0, kind: str = "dispatch"
) -> bool:
    meta = stored(daemon, call_id, kind)["metaData"]
    if "x" not in meta:
        return False
    x, y = pin(daemon, call_id, kind)
    return math.hypot(x - to[0], y - to[1]) <= within


@pytest.fixture
async def world(
    make_daemon: MakeDaemon,
    run_transport: Run,
    make_server: Callable[..., FakeServer],
    tmp_path: Path,
) -> tuple[Any, FakeServer, Link, PostalIndex]:
    path = tmp_path / "new-postals.json"
    path.write_text(json.dumps(postal_grid()))

    def configure(standin: Any) -> Any:
        config = make_config(standin, min_move=1.0, lead=False)
        config.postal = PostalConfig(file=str(path))
        return config

    daemon = await make_daemon(configure=configure)
    daemon.standin.add_call(daemon.server_id, 501, dict(KEYS), primary=0, trackPrimary=False)
    server = make_server(start=False, sonoran_bridge_follow_caller_seconds=20)
    server.start()
    server.start_sonorancad()
    server.add_player(3, (0.0, 0.0, 30.0))
    server.add_player(12, (500.0, 500.0, 30.0))
    server.cad_unit(7, 3)
    server.cad_unit(8, 12)
    server.cad_new_call(501, dict(KEYS), primary=0, trackPrimary=False)
    transport = await run_transport(convars(daemon), random=0.5)
    link = Link(server, transport, heard=lambda: daemon.bridge.positions_received)
    await link.run_until(lambda: server.export("IsConnected") == (True,))
    index = PostalIndex([Postal(p["x"], p["y"], p["code"]) for p in postal_grid()])
    return daemon, server, link, index


def dispatcher_sets(daemon: Any, server: FakeServer, call_id: int, **fields: Any) -> None:
    """A dispatcher's edit in the CAD web app: stored by the CAD, pushed to sonorancad."""
    daemon.standin.edit_call(daemon.server_id, call_id, **fields)
    server.cad_edit_call(call_id, **fields)


def patches(daemon: Any, call_id: int) -> list[dict[str, Any]]:
    return [
        r.body
        for r in daemon.standin.requests
        if r.method == "PATCH" and r.path.endswith(f"/{call_id}") and r.status == 200
    ]


async def test_track_primary_moves_the_call_with_the_units_player_and_its_postal(
    world: tuple[Any, FakeServer, Link, PostalIndex],
) -> None:
    daemon, server, link, index = world
    dispatcher_sets(daemon, server, 501, primary=7, trackPrimary=True)
    await drive(link, server, 3, (430.0, 380.0))
    await link.run_until(lambda: near(daemon, 501, (430.0, 380.0)), tick_ms=1000, timeout=10)
    stored = daemon.standin.call(daemon.server_id, 501)
    assert {k: stored["metaData"][k] for k in KEYS} == KEYS  # every other key kept, verbatim
    x, y = pin(daemon, 501)
    assert stored["postal"] == index.nearest(x, y)
    sent = patches(daemon, 501)
    # The postal rides in the same request, and only when it changed.
    codes = [body["postal"] for body in sent if "postal" in body]
    assert codes == [c for i, c in enumerate(codes) if i == 0 or codes[i - 1] != c]
    for body in sent:
        if "postal" in body:
            assert body["postal"] == index.nearest(
                float(body["metaData"]["x"]), float(body["metaData"]["y"])
            )
    assert all(r.route in ("update_call", "get_calls") for r in daemon.standin.requests)
    assert server.spending_lookups == 0
    # Figures (pytest -s shows them): how far the pin is from the player, what it cost.
    error = math.hypot(x - 430.0, y - 380.0)
    requests = len(daemon.standin.requests)
    print(
        f"\nfigures: error to the followed player {error:.2f} m after {len(sent)} updates "
        f"({len(codes)} carrying a postal), {requests} requests in all, "
        f"{sum(r.route == 'get_calls' for r in daemon.standin.requests)} of them reads"
    )
    assert error <= 1.0
    assert requests == len(sent)  # the track carried the metaData: no read, no postal request

    # The dispatcher switches the primary: the call follows unit 8's player.
    dispatcher_sets(daemon, server, 501, primary=8)
    await drive(link, server, 12, (600.0, 700.0))
    await link.run_until(lambda: near(daemon, 501, (600.0, 700.0)), tick_ms=1000, timeout=10)
    x, y = pin(daemon, 501)
    assert daemon.standin.call(daemon.server_id, 501)["postal"] == index.nearest(x, y)

    # Track primary off: the pin stays where it was last put.
    dispatcher_sets(daemon, server, 501, trackPrimary=False)
    await link.run_until(
        lambda: any(a[:2] == (501, "stopped") for a in server.events("sonoran_bridge:callState"))
    )
    before = len(patches(daemon, 501))
    await drive(link, server, 12, (900.0, 900.0))
    # Real sleep: nothing may happen: the real daemon gets time to (wrongly) push.
    await asyncio.sleep(0.3)
    await link.pump()
    assert pin(daemon, 501) == (x, y)
    assert len(patches(daemon, 501)) == before


async def test_a_change_made_through_the_api_is_followed_after_sonorancads_poll(
    world: tuple[Any, FakeServer, Link, PostalIndex],
) -> None:
    daemon, server, link, _ = world
    daemon.standin.edit_call(daemon.server_id, 501, primary=8, trackPrimary=True)
    # sonorancad's 60 s poll copies the CAD's call into its cache, firing no event.
    server.cad_poll(
        501,
        **{k: daemon.standin.call(daemon.server_id, 501)[k] for k in ("primary", "trackPrimary")},
    )
    await drive(link, server, 12, (650.0, 520.0), steps=8)
    await link.run_until(lambda: near(daemon, 501, (650.0, 520.0)), tick_ms=1000, timeout=10)


async def test_a_911_call_follows_its_caller_then_stops(
    world: tuple[Any, FakeServer, Link, PostalIndex],
) -> None:
    daemon, server, link, index = world
    meta = {
        "callerPlayerId": "12",
        "callerCommunityUserId": "cu",
        "uuid": "u-900",
        "silentAlert": "false",
    }
    # A 911 call lives in the CAD's EmergencyCalls, apart from the dispatch calls
    daemon.standin.add_emergency_call(daemon.server_id, 900, dict(meta))
    server.cad_911(900, dict(meta))
    await drive(link, server, 12, (640.0, 480.0))
    await link.run_until(
        lambda: near(daemon, 900, (640.0, 480.0), kind="emergency"), tick_ms=1000, timeout=10
    )
    x, y = pin(daemon, 900, "emergency")
    # a 911 call's postal lives in its metaData (its list item has no top-level postal)
    stored_911 = stored(daemon, 900, "emergency")
    assert stored_911["metaData"]["postal"] == index.nearest(x, y)
    assert "postal" not in stored_911
    await link.run_until(
        lambda: any(a[:2] == (900, "stopped") for a in server.events("sonoran_bridge:callState")),
        tick_ms=1000,
        timeout=10,
    )
    x, y = pin(daemon, 900, "emergency")
    await drive(link, server, 12, (100.0, 100.0))
    # Real sleep: nothing may happen: the real daemon gets time to (wrongly) push.
    await asyncio.sleep(0.3)
    assert pin(daemon, 900, "emergency") == (x, y)


async def test_sonorancads_own_postal_updates_are_left_alone(
    world: tuple[Any, FakeServer, Link, PostalIndex],
) -> None:
    daemon, server, link, _ = world
    server.fake.cad.plugins["dispatchnotify"] = True
    server.fake.cad.plugins["postals"] = True
    dispatcher_sets(daemon, server, 501, primary=7, trackPrimary=True)
    await drive(link, server, 3, (430.0, 380.0))
    await link.run_until(lambda: near(daemon, 501, (430.0, 380.0)), tick_ms=1000, timeout=10)
    assert all("postal" not in body for body in patches(daemon, 501))
    assert daemon.standin.call(daemon.server_id, 501)["postal"] == "9002"
