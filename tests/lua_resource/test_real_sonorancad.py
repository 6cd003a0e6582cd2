"""Our resource beside the official sonorancad v4.0.104, unmodified: its server-side Lua runs in
the emulator (tests/lua_resource/world.py, sonorancad_real.py), its HTTP answered by the CAD
stand-in on the daemon's key, its push events fed as the CAD sends them. Every scenario runs
in both handler orders. Skipped, saying why, where the resource is not on the machine."""

from __future__ import annotations

import pytest

from .cad_world import ORDERS, CadWorld, cad_world
from .sonorancad_real import SKIP_REASON, SONORANCAD

pytestmark = pytest.mark.skipif(SONORANCAD is None, reason=SKIP_REASON)

META = {"postal": "9002", "uuid": "u-501"}


@pytest.fixture(params=ORDERS)
async def game(request: pytest.FixtureRequest) -> CadWorld:
    players = {3: (1.0, 1.0, 1.0), 12: (100.0, 200.0, 30.0)}
    async with cad_world(request.param, players=players, units={7: 3, 8: 12}) as game:
        game.new_call(501, dict(META))
        await game.advance(1_000)
        game.ours.link_up()
        game.sent()
        yield game
        assert game.errors() == []


async def test_sonorancad_starts_against_the_stand_in(game: CadWorld) -> None:
    routes = [r.route for r in game.cad.requests]
    assert "get_version" in routes and "get_units" in routes and "get_calls" in routes
    assert all(r.status == 200 for r in game.cad.requests), [
        (r.route, r.status) for r in game.cad.requests
    ]
    assert [u["id"] for u in game.sonorancad.unit_cache()] == [7, 8]
    assert 501 in game.sonorancad.call_cache()


async def test_its_polls_share_the_daemons_get_budget(game: CadWorld) -> None:
    before = game.gets()
    await game.advance(180_000)
    assert game.gets() - before == 3  # GET .../calls every 60 s, counted on the key's window
    assert game.cad.own_overruns("get_calls") == []
