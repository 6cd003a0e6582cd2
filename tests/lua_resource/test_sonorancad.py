"""With the official sonorancad resource started: metaData from its call cache, edits, closes,
units."""

from __future__ import annotations

import pytest

from .fivem import FakeServer

META = {
    "x": "10.5",
    "y": "-20",
    "postal": "101",
    "callerPlayerId": "4",
    "silentAlert": False,
    "priority": 2,
}
AS_SENT = {
    "x": "10.5",
    "y": "-20",
    "postal": "101",
    "callerPlayerId": "4",
    "silentAlert": "false",
    "priority": "2",
}


@pytest.fixture
def cad(linked: FakeServer) -> FakeServer:
    linked.start_sonorancad()
    linked.cad_new_call(501, META)
    return linked


def test_track_sends_the_calls_meta_as_strings(cad: FakeServer) -> None:
    assert cad.export("TrackCall", 501, 12) == (True, "player:12")
    assert cad.sent() == [
        {"type": "track", "call_id": 501, "subject": "player:12", "meta": AS_SENT}
    ]


@pytest.mark.parametrize("key", ["501", 501.0])
def test_cache_keyed_by_strings_or_floats_is_read_too(linked: FakeServer, key: object) -> None:
    linked.start_sonorancad()
    linked.cad_new_call(501, META, key=key)
    linked.export("TrackCall", 501, 12)
    assert linked.sent()[0]["meta"] == AS_SENT


def test_call_missing_from_the_cache_is_tracked_without_meta(cad: FakeServer) -> None:
    assert cad.export("TrackCall", 777, 12) == (True, "player:12")
    assert cad.sent() == [{"type": "track", "call_id": 777, "subject": "player:12"}]


def test_call_with_empty_meta_is_tracked_without_meta(cad: FakeServer) -> None:
    cad.cad_new_call(502, {})
    cad.export("TrackCall", 502, 12)
    assert cad.sent() == [{"type": "track", "call_id": 502, "subject": "player:12"}]


def test_an_edit_sends_call_meta_once(cad: FakeServer) -> None:
    cad.export("TrackCall", 501, 12)
    cad.sent()
    cad.cad_edit_call(501, {**META, "postal": "202", "note": 7})
    # DispatchEdit, CallCacheUpdated and DispatchEvent all fire; one message.
    assert cad.sent() == [
        {"type": "call_meta", "call_id": 501, "meta": {**AS_SENT, "postal": "202", "note": "7"}}
    ]


def test_an_edit_that_leaves_meta_alone_sends_nothing(cad: FakeServer) -> None:
    cad.export("TrackCall", 501, 12)
    cad.sent()
    cad.cad_edit_call(501, dict(META))
    assert cad.sent() == []


def test_edits_of_untracked_calls_are_ignored(cad: FakeServer) -> None:
    cad.cad_new_call(600, {"a": "b"})
    cad.cad_edit_call(600, {"a": "c"})
    cad.cad_close_call(600)
    assert cad.sent() == []


def test_a_new_call_arriving_after_tracking_brings_its_meta(linked: FakeServer) -> None:
    linked.start_sonorancad()
    linked.export("TrackCall", 900, 12)
    linked.sent()
    linked.cad_new_call(900, {"postal": "5"})
    assert linked.sent() == [{"type": "call_meta", "call_id": 900, "meta": {"postal": "5"}}]


def test_closing_sends_call_closed_and_untracks(cad: FakeServer) -> None:
    cad.export("TrackCall", 501, 12)
    cad.sent()
    cad.cad_close_call(501)
    assert cad.sent() == [{"type": "call_closed", "call_id": 501}]
    assert len(cad.export("GetTrackedCalls")[0]) == 0
    assert "[sonoran_bridge] call 501 was closed in the CAD; no longer tracked" in cad.prints
    cad.advance(2000)
    assert cad.positions() == []


def test_a_closed_call_cannot_be_tracked(cad: FakeServer) -> None:
    cad.cad_close_call(501)
    assert cad.export("TrackCall", 501, 12) == (False, "call 501 is closed in the CAD")


def test_changes_while_the_link_is_down_arrive_with_the_sync(cad: FakeServer) -> None:
    cad.cad_new_call(502, {"a": "1"})
    cad.export("TrackCall", 501, 12)
    cad.export("TrackCall", 502, 12)
    cad.link_down()
    cad.cad_edit_call(502, {"a": "2"})
    cad.cad_close_call(501)
    cad.link_up()
    assert cad.sent()[-1] == {
        "type": "sync",
        "tracks": [{"call_id": 502, "subject": "player:12", "meta": {"a": "2"}}],
    }


def test_cache_update_without_a_push_event_is_read(cad: FakeServer) -> None:
    cad.export("TrackCall", 501, 12)
    cad.sent()
    cad.fake.cad.calls[501] = cad.cad_entry(501, {"postal": "999"}, dispatch_type="CALL_EDIT")
    cad.trigger("SonoranCAD::pushevents:CallCacheUpdated")
    assert cad.sent() == [{"type": "call_meta", "call_id": 501, "meta": {"postal": "999"}}]


def test_without_sonorancad_no_meta_and_its_events_are_harmless(linked: FakeServer) -> None:
    linked.cad_new_call(501, META)  # in the fake's cache, but the resource is not started
    linked.export("TrackCall", 501, 12)
    assert linked.sent() == [{"type": "track", "call_id": 501, "subject": "player:12"}]
    linked.trigger("SonoranCAD::pushevents:DispatchEvent", "garbage")
    linked.trigger("SonoranCAD::pushevents:DispatchEdit", None, 42)
    linked.trigger("SonoranCAD::pushevents:CallCacheUpdated")
    assert linked.sent() == []


def test_a_unit_follows_the_player_who_plays_it(cad: FakeServer) -> None:
    cad.add_player(3, (1.0, 1.0, 1.0))
    cad.cad_unit(7, 3)
    assert cad.export("TrackCall", 501, "unit:7") == (True, "unit:7")
    cad.advance(1000)
    assert cad.positions() == [
        {"subject": "unit:7", "x": 1.0, "y": 1.0, "z": 1.0, "heading": 90.0, "speed": 0.0,
         "vx": 0.0, "vy": 0.0}
    ]
    # Resolved at sample time: the unit is now played by player 12.
    cad.fake.cad.unit_of_player["3"] = None
    cad.fake.cad.unit_of_player["12"] = 7
    cad.advance(1000)
    assert [(p["subject"], p["x"]) for p in cad.positions()] == [("unit:7", 100.0)]
    # Nobody plays it: skipped, the call stays.
    cad.fake.cad.unit_of_player["12"] = None
    cad.move_player(12, (900.0, 900.0, 9.0))
    cad.advance(40_000)
    assert cad.positions() == []
    assert cad.export("GetTrackedCalls")[0][1].subject == "unit:7"


def test_legacy_get_unit_by_player_id_returning_the_id(cad: FakeServer) -> None:
    cad.fake.cad.legacy_unit_ids = True
    cad.cad_unit(7, 12)
    cad.export("TrackCall", 501, "unit:7")
    cad.advance(1000)
    assert [p["subject"] for p in cad.positions()] == ["unit:7"]


def test_unknown_unit_is_refused(cad: FakeServer) -> None:
    assert cad.export("TrackCall", 501, "unit:8") == (False, "no unit 8 in sonorancad's unit cache")


def test_sonorancad_stopping_later_is_survived(cad: FakeServer) -> None:
    cad.cad_unit(7, 12)
    cad.export("TrackCall", 501, "unit:7")
    cad.fake.resources["sonorancad"] = "stopped"
    cad.advance(3000)
    assert cad.positions() == []
    cad.trigger("SonoranCAD::pushevents:CallCacheUpdated")
    assert cad.errors == []
