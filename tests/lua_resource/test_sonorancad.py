"""With the official sonorancad resource started: metaData from its call cache, edits, closes,
units."""

from __future__ import annotations

import pytest

from bridge import protocol

from .fivem import FakeServer

META = {
    "x": "10.5",
    "y": "-20",
    "postal": "101",
    "callerPlayerId": "4",
    "silentAlert": False,
    "priority": 2,
}
AS_SENT = META  # verbatim: no value is turned into a string


@pytest.fixture
def cad(linked: FakeServer) -> FakeServer:
    linked.start_sonorancad()
    linked.cad_new_call(501, META)
    return linked


def test_track_sends_the_calls_meta_verbatim(cad: FakeServer) -> None:
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
        {"type": "call_meta", "call_id": 501, "meta": {**AS_SENT, "postal": "202", "note": 7}}
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
    cad.cad_unit(7, 3)  # matched by sonorancad's identity rules: apiIds hold player 3's license
    assert cad.export("TrackCall", 501, "unit:7") == (True, "unit:7")
    cad.advance(1000)
    assert cad.positions() == [
        {
            "subject": "unit:7",
            "x": 1.0,
            "y": 1.0,
            "z": 1.0,
            "heading": 90.0,
            "speed": 0.0,
            "vx": 0.0,
            "vy": 0.0,
        }
    ]
    # Resolved at sample time: the unit is now played by player 12.
    cad.fake.cad.units[1].data.apiIds[1] = f"{12:040x}"
    cad.advance(1000)
    assert [(p["subject"], p["x"]) for p in cad.positions()] == [("unit:7", 100.0)]
    # Nobody plays it: skipped, the call stays.
    cad.fake.cad.units[1].data.apiIds[1] = "nobody"
    cad.move_player(12, (900.0, 900.0, 9.0))
    cad.advance(40_000)
    assert cad.positions() == []
    assert cad.export("GetTrackedCalls")[0][1].subject == "unit:7"
    assert cad.spending_lookups == 0


def test_a_unit_known_by_community_user_id_is_found_through_sonorancads_announcement(
    cad: FakeServer,
) -> None:
    cad.cad_unit(7, 12, by="communityUserId")  # only sonorancad could match it: it said so
    cad.export("TrackCall", 501, "unit:7")
    cad.advance(1000)
    assert [p["subject"] for p in cad.positions()] == ["unit:7"]
    cad.trigger("SonoranCAD::core:RemovePlayer", "12", cad.fake.cad.units[1])
    cad.move_player(12, (900.0, 900.0, 9.0))
    cad.advance(1000)
    assert cad.positions() == []
    assert cad.spending_lookups == 0


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


# -- metaData verbatim ---------------------------------------------------------------------

RICH = {
    "postal": "101",
    "priority": 2,
    "weight": 0.25,
    "silentAlert": False,
    "units": [7, 9],
    "caller": {"name": "J. Doe", "phones": ["555-0100"], "flags": {"vip": True}},
}


def test_an_edit_with_any_json_values_is_relayed_verbatim(cad: FakeServer) -> None:
    cad.export("TrackCall", 501, 12)
    cad.sent()
    cad.cad_edit_call(501, RICH)
    assert cad.sent() == [{"type": "call_meta", "call_id": 501, "meta": RICH}]
    # The same values again (json.decode gives fresh tables): nothing to send.
    cad.cad_edit_call(501, RICH)
    assert cad.sent() == []


def test_the_daemon_decodes_the_relay_with_its_values_as_they_were(cad: FakeServer) -> None:
    cad.export("TrackCall", 501, 12)
    cad.cad_edit_call(501, RICH)
    decoded = protocol.decode(cad.frames()[-1])
    assert isinstance(decoded, protocol.CallMeta)
    assert decoded.meta == RICH


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        ({"a": "1", "tags": {}}, "metaData.tags is an empty table"),
        ({"a": "1", "deep": {"b": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}}, "nests deeper than 16"),
        ({f"k{i}": "v" for i in range(257)}, "more than 256 keys"),
    ],
)
def test_an_edit_the_wire_cannot_carry_as_it_is_marks_the_daemons_copy_stale(
    cad: FakeServer, meta: dict[str, object], reason: str
) -> None:
    cad.export("TrackCall", 501, 12)
    cad.sent()
    cad.cad_edit_call(501, meta)
    cad.cad_edit_call(501, meta)  # the same again: nothing new to say
    # Not relayed (a guess would overwrite the CAD's), but the daemon must not push its old
    # copy back over the edit: it reads the call first.
    assert cad.sent() == [{"type": "call_meta_stale", "call_id": 501}]
    said = [line for line in cad.prints if "metaData not relayed" in line]
    assert len(said) == 1 and reason in said[0], said
    (calls,) = cad.export("GetTrackedCalls")
    cad.link_down()
    cad.link_up()  # the sync after a reconnect carries no stale meta either
    assert [t.get("meta") for m in cad.sent() if m["type"] == "sync" for t in m["tracks"]] == [None]
    assert len(calls) == 1
    # A later edit the wire can carry goes through again.
    cad.cad_edit_call(501, {"a": "2"})
    assert cad.sent() == [{"type": "call_meta", "call_id": 501, "meta": {"a": "2"}}]


def test_a_non_finite_number_in_a_lua_made_entry_is_refused(cad: FakeServer) -> None:
    entry = cad.cad_entry(503, {"a": "1"})
    entry.dispatch.metaData.bad = float("nan")
    cad.fake.cad.calls[503] = entry
    assert cad.export("TrackCall", 503, 12) == (True, "player:12")
    assert cad.sent() == [{"type": "track", "call_id": 503, "subject": "player:12"}]


def test_track_whose_meta_does_not_fit_in_a_frame_goes_without_it(cad: FakeServer) -> None:
    cad.cad_new_call(504, {f"k{i}": "v" * 250 for i in range(250)})
    assert cad.export("TrackCall", 504, 12) == (True, "player:12")
    assert cad.sent() == [{"type": "track", "call_id": 504, "subject": "player:12"}]
    assert any("call 504: its metaData does not fit in one frame" in p for p in cad.prints)
