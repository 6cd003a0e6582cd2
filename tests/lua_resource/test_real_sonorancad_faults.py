"""The real faults of sonorancad v4.0.104, each reproduced by running its code beside ours, and
survived by our resource (issue 18, part 4). Every scenario runs in both handler orders."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .cad_world import ORDERS, CadWorld, cad_world
from .sonorancad_real import SKIP_REASON, SONORANCAD

pytestmark = pytest.mark.skipif(SONORANCAD is None, reason=SKIP_REASON)

META = {"postal": "9002", "uuid": "u-501"}
PLAYERS = {3: (1.0, 1.0, 1.0), 12: (100.0, 200.0, 30.0)}


@pytest.fixture(params=ORDERS)
async def game(request: pytest.FixtureRequest) -> AsyncIterator[CadWorld]:
    async with cad_world(request.param, players=PLAYERS, units={7: 3, 8: 12}) as game:
        game.new_call(501, dict(META))
        game.new_call(502, {"postal": "9003"})
        await game.advance(1_000)
        game.ours.link_up()
        game.sent()
        yield game
        assert game.errors() == []


def closed(game: CadWorld) -> list[int]:
    return sorted(call for kind, call, _ in game.tracks() if kind == "call_closed")


async def test_a_bulk_close_untracks_every_call_it_names(game: CadWorld) -> None:
    assert game.ours.export("TrackCall", 501, "player:3")[0] is True
    assert game.ours.export("TrackCall", 502, "player:12")[0] is True
    game.sent()
    game.close_calls(501, 502)  # sonorancad closes only 501 in its cache
    await game.advance(1_000)
    assert closed(game) == [501, 502]
    assert game.tracked() == []


async def test_a_bulk_close_whose_first_call_is_unknown_still_untracks(game: CadWorld) -> None:
    assert game.ours.export("TrackCall", 502, "player:12")[0] is True
    game.sent()
    game.cad.add_call(1, 900, {"a": "b"})  # never announced: not in sonorancad's cache
    game.close_calls(900, 502)
    await game.advance(1_000)
    assert closed(game) == [502]


async def test_turning_track_primary_on_follows_once_without_flapping(game: CadWorld) -> None:
    game.edit_call(501, primary=7, trackPrimary=True)
    await game.advance(1_000)
    assert game.tracks() == [("track", 501, "unit:7")]
    assert not [line for line in game.ours.prints if "track primary was turned off" in line]


async def test_switching_the_primary_and_turning_it_off(game: CadWorld) -> None:
    game.edit_call(501, primary=7, trackPrimary=True)
    await game.advance(1_000)
    game.sent()
    game.edit_call(501, primary=8)
    await game.advance(1_000)
    assert game.tracks() == [("track", 501, "unit:8")]
    game.edit_call(501, trackPrimary=False)
    await game.advance(1_000)
    assert game.tracks() == [("untrack", 501, None)]


async def test_a_unit_logout_stops_its_follow_promptly(game: CadWorld) -> None:
    game.edit_call(501, primary=7, trackPrimary=True)
    await game.advance(1_000)
    game.sent()
    game.unit_logout(7)  # sonorancad keeps unit 7 cached until its next unit poll
    await game.advance(2_000)
    assert game.tracks() == [("untrack", 501, None)]


async def test_removing_a_911_call_leaves_the_dispatch_call_with_its_id(game: CadWorld) -> None:
    assert game.ours.export("TrackCall", 501, "player:3")[0] is True
    game.sent()
    game.call_911(501, caller=12)
    game.remove_911(501)
    await game.advance(1_000)
    assert game.tracks() == []
    assert game.tracked() == [501]


async def test_a_dispatcher_call_with_empty_metadata_is_still_followed(game: CadWorld) -> None:
    game.new_call(503, {}, primary=8, trackPrimary=True)
    await game.advance(1_000)
    assert game.tracks() == [("track", 503, "unit:8")]
    game.move_player(12, (150.0, 250.0, 30.0))
    await game.advance(1_000)
    items = [i for m in game.sent() if m["type"] == "positions" for i in m["items"]]
    assert [(i["subject"], i["x"]) for i in items] == [("unit:8", 150.0)]


async def test_after_a_restart_sonorancad_keeps_the_postal_it_kept(game: CadWorld) -> None:
    game.edit_call(501, primary=7, trackPrimary=True)
    await game.advance(1_000)
    first = [m for m in game.sent() if m["type"] == "track"]
    assert [m.get("cad_postal") for m in first] == [True]
    await game.restart_ours()
    await game.advance(5_000)
    again = [m for m in game.sent() if m["type"] in ("track", "sync")]
    specs = [m for m in again if m["type"] == "track"] + [
        t for m in again if m["type"] == "sync" for t in m["tracks"]
    ]
    assert specs and all(spec.get("cad_postal") is True for spec in specs), specs


@pytest.mark.parametrize("order", ORDERS)
async def test_the_unit_poll_forgets_no_wrong_player(order: str) -> None:
    # Unit 7 (player 2, by apiIds) is index 1 of sonorancad's unit cache; unit 8 is player 1,
    # known only by a community user id that sonorancad resolved and announced (AddPlayer).
    players = {1: (10.0, 10.0, 10.0), 2: (20.0, 20.0, 20.0)}
    async with cad_world(order, players=players) as game:
        game.link(1, "cu-8")
        game.cad.integration.login(1, game.unit(7, 2))
        game.cad.integration.login(1, game.unit(8, 1, community_user="cu-8"))
        await game.advance(60_000)  # the next unit poll lists both
        assert [u["id"] for u in game.sonorancad.unit_cache()] == [7, 8]
        game.new_call(501, dict(META), primary=8, trackPrimary=True)
        game.ours.link_up()
        await game.advance(1_000)
        assert ("track", 501, "unit:8") in game.tracks()
        game.unit_logout(7)
        await game.advance(60_000)  # the poll drops unit 7: RemovePlayer(1, unit 7)
        game.move_player(1, (30.0, 30.0, 30.0))
        await game.advance(2_000)
        sent = game.sent()
        assert [m for m in sent if m["type"] in ("untrack", "track")] == []
        items = [i for m in sent if m["type"] == "positions" for i in m["items"]]
        assert ("unit:8", 30.0) in [(i["subject"], i["x"]) for i in items]
        assert game.errors() == []


@pytest.mark.parametrize("order", ORDERS)
async def test_a_911_call_follows_its_caller_as_a_911_call(order: str) -> None:
    async with cad_world(
        order, players=PLAYERS, units={7: 3, 8: 12}, sonoran_bridge_follow_caller_seconds=60
    ) as game:
        game.new_call(501, dict(META))
        await game.advance(1_000)
        game.ours.link_up()
        assert game.ours.export("TrackCall", 501, "player:3")[0] is True
        game.sent()
        game.call_911(501, caller=12)  # 911 call 501: not dispatch call 501
        await game.advance(0)
        tracks = [m for m in game.sent() if m["type"] == "track"]
        assert [(m["call_id"], m.get("kind"), m["subject"]) for m in tracks] == [
            (501, "emergency", "player:12")
        ]
        game.remove_911(501)
        await game.advance(1_000)
        closed = [m for m in game.sent() if m["type"] == "call_closed"]
        assert closed == [{"type": "call_closed", "call_id": 501, "kind": "emergency"}]
        assert game.tracked() == [501]
        (calls,) = game.ours.export("GetTrackedCalls")
        assert calls[1].kind is None and calls[1].subject == "player:3"
        assert game.errors() == []


@pytest.mark.parametrize("empty", [{}, []], ids=["object", "list"])
async def test_an_edit_it_cannot_relay_tells_the_daemon_its_copy_is_stale(
    game: CadWorld, empty: object
) -> None:
    assert game.ours.export("TrackCall", 501, "player:3")[0] is True
    assert [m.get("meta") for m in game.sent() if m["type"] == "track"] == [META]
    game.edit_call(501, meta={**META, "tags": empty})  # {} or [] reach Lua as one empty table
    await game.advance(1_000)
    assert about_meta(game) == [{"type": "call_meta_stale", "call_id": 501}]
    game.edit_call(501, meta={**META, "note": "ok"})  # one it can relay goes through again
    await game.advance(1_000)
    edited = {**META, "note": "ok"}
    assert about_meta(game) == [{"type": "call_meta", "call_id": 501, "meta": edited}]


def about_meta(game: CadWorld) -> list[dict[str, object]]:
    return [m for m in game.sent() if m["type"] in ("call_meta", "call_meta_stale")]
