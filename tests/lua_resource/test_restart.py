"""Tracks kept in resource KVP: what a restart of the resource, of FXServer or of the daemon
keeps (docs/resource.md, "What survives what")."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from .fivem import FakeServer

KEY = "sonoran_bridge:tracks"


@pytest.fixture
def before(make_server: Callable[..., FakeServer]) -> FakeServer:
    """A running resource with a player, a vehicle and a unit tracked, and sonorancad."""
    server = make_server()
    server.start_sonorancad()
    server.add_player(12, (100.0, 200.0, 30.0))
    server.add_player(3, (1.0, 1.0, 1.0))
    server.add_vehicle(345, (50.0, 60.0, 7.0))
    server.cad_unit(7, 3)
    for call_id in (501, 502, 503):
        server.cad_new_call(call_id, {"n": call_id})
    server.link_up()
    assert server.export("TrackCall", 501, 12, server.table({"radius": 75})) == (
        True,
        "player:12",
    )
    assert server.export("TrackCall", 502, "entity:345") == (True, "entity:345")
    assert server.export("TrackCall", 503, "unit:7") == (True, "unit:7")
    server.sent()
    return server


def start_again(
    old: FakeServer, *, players: bool, entity_model: int | None = 0x2B6DC64A
) -> FakeServer:
    """The resource started afresh on the old KVP. players=True: a resource restart (everyone
    is still connected, entities still exist); False: FXServer restarted (nobody yet)."""
    new = old.restarted()
    new.start_sonorancad()
    for call_id in (501, 502, 503):
        new.fake.cad.calls[call_id] = new.cad_entry(call_id, {"n": call_id, "fresh": True})
    if players:
        new.add_player(12, (110.0, 210.0, 30.0))
        new.add_player(3, (1.0, 1.0, 1.0))
    if entity_model is not None and players:
        new.add_vehicle(345, (55.0, 60.0, 7.0), model=entity_model)
    new.cad_unit(7, 3)  # its identity is player 3's license, connected or not
    new.start()
    return new


def sync_tracks(server: FakeServer) -> list[dict[str, object]]:
    server.link_up()
    syncs = [m for m in server.sent() if m["type"] == "sync"]
    assert len(syncs) == 1
    return syncs[0]["tracks"]  # type: ignore[return-value]  # the sync message's JSON is Any


def test_every_track_is_kept_in_kvp_as_it_changes(before: FakeServer) -> None:
    saved = json.loads(before.kvp()[KEY])
    assert saved["v"] == 1
    assert [(t["call_id"], t["subject"], t["origin"]) for t in saved["tracks"]] == [
        (501, "player:12", "manual"),
        (502, "entity:345", "manual"),
        (503, "unit:7", "manual"),
    ]
    assert saved["tracks"][0]["radius"] == 75
    assert saved["tracks"][0]["who"] == f"license:{12:040x}"
    assert saved["tracks"][1]["who"] == f"model:{0x2B6DC64A}"
    before.export("UntrackCall", 502)
    assert [t["call_id"] for t in json.loads(before.kvp()[KEY])["tracks"]] == [501, 503]


def test_a_resource_restart_resumes_every_track_with_fresh_meta(before: FakeServer) -> None:
    after = start_again(before, players=True)
    assert "[sonoran_bridge] resumed 3 tracked calls from before the restart" in after.prints
    assert sync_tracks(after) == [
        {"call_id": 501, "subject": "player:12", "radius": 75, "meta": {"n": 501, "fresh": True}},
        {"call_id": 502, "subject": "entity:345", "meta": {"n": 502, "fresh": True}},
        {"call_id": 503, "subject": "unit:7", "meta": {"n": 503, "fresh": True}},
    ]
    after.advance(1000)
    assert {p["subject"] for p in after.positions()} == {"player:12", "entity:345", "unit:7"}


def test_an_fxserver_restart_keeps_unit_tracks_only(before: FakeServer) -> None:
    after = start_again(before, players=False)
    assert sync_tracks(after) == [
        {"call_id": 503, "subject": "unit:7", "meta": {"n": 503, "fresh": True}}
    ]
    said = "\n".join(after.prints)
    assert "not resumed: call 501 (player:12): player:12 is not here any more" in said
    assert "not resumed: call 502 (entity:345): entity:345 is not here any more" in said
    # The unit's player joins (a new server id): the call follows them.
    after.add_player(40, (9.0, 9.0, 9.0), identifiers=["license:" + f"{3:040x}"])
    after.advance(1000)
    assert [(p["subject"], p["x"]) for p in after.positions()] == [("unit:7", 9.0)]
    # What was dropped is dropped from the KVP too.
    assert [t["call_id"] for t in json.loads(after.kvp()[KEY])["tracks"]] == [503]


def test_a_server_id_now_held_by_someone_else_is_not_resumed(before: FakeServer) -> None:
    new = before.restarted()
    new.add_player(12, (0.0, 5.0, 0.0), identifiers=["license:someone-else"])
    new.start()
    assert "not resumed: call 501 (player:12): player:12 is now someone or something else" in (
        "\n".join(new.prints)
    )
    assert 501 not in [t.callId for t in new.export("GetTrackedCalls")[0].values()]


def test_a_net_id_now_another_model_is_not_resumed(before: FakeServer) -> None:
    after = start_again(before, players=True, entity_model=0x1234)
    assert [t["call_id"] for t in sync_tracks(after)] == [501, 503]


def test_untracked_and_closed_calls_are_not_resumed(before: FakeServer) -> None:
    before.export("UntrackCall", 501)
    new = before.restarted()
    new.start_sonorancad()
    new.add_player(3, (1.0, 1.0, 1.0))
    new.add_vehicle(345, (55.0, 60.0, 7.0))
    new.cad_unit(7, 3)
    new.fake.cad.calls[502] = new.cad_entry(502, {"n": 502}, status=2, dispatch_type="CALL_CLOSE")
    new.start()
    assert "[sonoran_bridge] not resumed: call 502 (entity:345): the call is closed in the CAD" in (
        new.prints
    )
    assert [t["call_id"] for t in sync_tracks(new)] == [503]


@pytest.mark.parametrize("junk", ["{not json", '{"v": 99, "tracks": []}', "[]"])
def test_unreadable_kvp_starts_empty_and_says_so(
    make_server: Callable[..., FakeServer], junk: str
) -> None:
    server = FakeServer({"sonoran_bridge_token": "t"}, kvp={KEY: junk})
    server.start()
    assert server.errors == []
    assert (
        "saved tracks are not in a format this version reads; starting empty" in (server.prints[0])
    )
    assert sync_tracks(server) == []


def test_bad_entries_are_left_out_one_by_one(make_server: Callable[..., FakeServer]) -> None:
    doc = {
        "v": 1,
        "tracks": [
            {"call_id": 9, "subject": "unit:4", "origin": "manual"},
            {"call_id": 0, "subject": "unit:4", "origin": "manual"},
            {"call_id": 10, "subject": "ufo:1", "origin": "manual"},
            {"call_id": 11, "subject": "unit:4", "origin": "whim"},
            {
                "call_id": 12,
                "subject": "player:4",
                "origin": "primary",
                "cad_postal": True,
                "who": f"license:{4:040x}",
            },
        ],
        "held": [],
    }
    server = FakeServer({"sonoran_bridge_token": "t"}, kvp={KEY: json.dumps(doc)})
    server.add_player(4, (1.0, 2.0, 3.0))
    server.start()
    assert sync_tracks(server) == [
        {"call_id": 9, "subject": "unit:4"},
        {"call_id": 12, "subject": "player:4", "cad_postal": True},
    ]
    assert sum("saved track left out" in line for line in server.prints) == 3


def test_the_daemon_restarting_loses_nothing(before: FakeServer) -> None:
    before.link_down("closed (1001)")
    before.link_up()
    assert [
        t["call_id"] for t in next(m for m in before.sent() if m["type"] == "sync")["tracks"]
    ] == [
        501,
        502,
        503,
    ]
