"""The CAD's own workflow moves calls: track primary follows the primary unit's player, a new
call may follow its caller, with a documented precedence. sonorancad's caches and events are
shaped as in its v4 source (tests/lua_resource/fivem.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from .fivem import FakeServer

META = {"postal": "9002", "uuid": "u-501"}


def make_cad(make_server: Callable[..., FakeServer], *plugins: str, **convars: Any) -> FakeServer:
    server = make_server(**convars)
    server.start_sonorancad(*plugins)
    server.add_player(3, (1.0, 1.0, 1.0))
    server.add_player(12, (100.0, 200.0, 30.0))
    server.cad_unit(7, 3)
    server.cad_unit(8, 12)
    server.cad_new_call(501, dict(META))
    server.link_up()
    server.sent()
    return server


@pytest.fixture
def cad(make_server: Callable[..., FakeServer]) -> FakeServer:
    return make_cad(make_server)


def tracks(server: FakeServer) -> list[tuple[str, int, str | None]]:
    """(type, call_id, subject) of the track/untrack/call_closed frames since the last look."""
    return [
        (m["type"], m["call_id"], m.get("subject"))
        for m in server.sent()
        if m["type"] in ("track", "untrack", "call_closed")
    ]


def states(server: FakeServer, call_id: int) -> list[tuple[str, str]]:
    return [
        (args[1], args[2])
        for args in server.events("sonoran_bridge:callState")
        if args[0] == call_id
    ]


# -- track primary: the event path ----------------------------------------------------------


def test_track_primary_follows_the_primary_units_player(cad: FakeServer) -> None:
    cad.cad_edit_call(501, primary=7, trackPrimary=True)
    assert tracks(cad) == [("track", 501, "unit:7")]
    assert ("following", "follows unit 7 (player 3), its primary: track primary is on") in states(
        cad, 501
    )
    assert (
        "[sonoran_bridge] call 501 following: follows unit 7 (player 3), its primary: "
        "track primary is on" in cad.prints
    )
    cad.move_player(3, (300.0, 400.0, 20.0))
    cad.advance(1000)
    assert [(p["subject"], p["x"]) for p in cad.positions()] == [("unit:7", 300.0)]
    assert cad.spending_lookups == 0


def test_the_track_carries_the_calls_meta_verbatim(cad: FakeServer) -> None:
    cad.cad_edit_call(501, primary=7, trackPrimary=True)
    assert [m["meta"] for m in cad.sent() if m["type"] == "track"] == [META]
    cad.cad_edit_call(501, meta={"postal": "1", "n": 2}, primary=8)
    sent = [m for m in cad.sent() if m["type"] == "track"]
    assert sent[-1]["meta"] == {"postal": "1", "n": 2}


def test_switching_the_primary_follows_the_new_unit(cad: FakeServer) -> None:
    cad.cad_edit_call(501, primary=7, trackPrimary=True)
    cad.sent()
    cad.cad_edit_call(501, primary=8)
    assert tracks(cad) == [("track", 501, "unit:8")]
    cad.advance(1000)
    assert [p["subject"] for p in cad.positions()] == ["unit:8"]


def test_track_primary_off_stops_and_the_pin_stays(cad: FakeServer) -> None:
    cad.cad_edit_call(501, primary=7, trackPrimary=True)
    cad.sent()
    cad.cad_edit_call(501, trackPrimary=False)
    assert tracks(cad) == [("untrack", 501, None)]
    assert states(cad, 501)[-1] == (
        "stopped",
        "track primary was turned off; the call stays where it was last put",
    )
    cad.advance(5000)
    assert cad.positions() == []


def test_a_closed_call_stops_and_stays_stopped(cad: FakeServer) -> None:
    cad.cad_edit_call(501, primary=7, trackPrimary=True)
    cad.sent()
    cad.cad_close_call(501)  # left in the cache with status 2, trackPrimary still on
    assert tracks(cad) == [("call_closed", 501, None)]
    cad.advance(20_000)  # periodic re-reads of the cache
    assert tracks(cad) == []


def test_a_logged_out_unit_stops_then_follows_when_back(cad: FakeServer) -> None:
    cad.cad_edit_call(501, primary=7, trackPrimary=True)
    cad.sent()
    cad.cad_unit_logout(7)
    cad.advance(1000)
    assert tracks(cad) == [("untrack", 501, None)]
    assert states(cad, 501)[-2:] == [
        (
            "stopped",
            "its primary unit 7 left the game or logged out; the call stays where it was last put",
        ),
        ("waiting", "its primary unit 7 is not in game; the call follows the unit when it is"),
    ]
    cad.cad_unit(7, 3)
    cad.trigger("SonoranCAD::pushevents:UnitLogin", cad.fake.cad.units[len(cad.fake.cad.units)])
    cad.advance(1000)
    assert tracks(cad) == [("track", 501, "unit:7")]


def test_a_unit_not_in_game_is_said_once_and_followed_when_it_joins(cad: FakeServer) -> None:
    cad.cad_unit(9, None)  # logged in to the CAD, its player not on the server
    cad.cad_edit_call(501, primary=9, trackPrimary=True)
    assert tracks(cad) == []
    cad.advance(20_000)
    waiting = [s for s in states(cad, 501) if s[0] == "waiting"]
    assert waiting == [
        ("waiting", "its primary unit 9 is not in game; the call follows the unit when it is")
    ]
    cad.add_player(77, (5.0, 6.0, 7.0), identifiers=[f"license:{99_999:040x}"])
    cad.trigger("playerJoining", "77")
    cad.advance(1000)
    assert tracks(cad) == [("track", 501, "unit:9")]


def test_the_sonorancad_tracking_event_alone_is_enough(cad: FakeServer) -> None:
    # dispatchnotify's event, then the cache write: the call is read from the cache.
    cad.fake.cad.calls[501] = cad.cad_entry(501, META, primary=8, trackPrimary=True)
    cad.trigger("SonoranCAD::dispatchnotify:CallEdit:Tracking", 501, True, 8)
    assert tracks(cad) == [("track", 501, "unit:8")]


# -- track primary: the poll path -----------------------------------------------------------


@pytest.mark.parametrize("key", [501, "501"])
def test_an_api_made_change_is_seen_at_the_next_cache_read(cad: FakeServer, key: object) -> None:
    """sonorancad's 60 s poll writes its cache without any event; the resource re-reads it."""
    cad.fake.cad.calls[501] = None
    cad.cad_poll(501, key=key, primary=7, trackPrimary=True)
    assert tracks(cad) == []
    cad.advance(5000)
    assert tracks(cad) == [("track", 501, "unit:7")]
    cad.cad_poll(501, key=key, primary="8", trackPrimary=True)  # a string identId, tolerated
    cad.advance(5000)
    assert tracks(cad) == [("track", 501, "unit:8")]
    cad.cad_poll(501, key=key, primary=8, trackPrimary=False)
    cad.advance(5000)
    assert tracks(cad) == [("untrack", 501, None)]


def test_closed_calls_left_in_the_cache_are_never_followed(cad: FakeServer) -> None:
    cad.fake.cad.calls[600] = cad.cad_entry(
        600, META, status=2, dispatch_type=None, primary=7, trackPrimary=True
    )
    cad.advance(10_000)
    assert tracks(cad) == []


# -- convars --------------------------------------------------------------------------------


def test_follow_primary_off_ignores_track_primary(make_server: Callable[..., FakeServer]) -> None:
    server = make_cad(make_server, sonoran_bridge_follow_primary="off")
    server.cad_edit_call(501, primary=7, trackPrimary=True)
    server.advance(10_000)
    assert tracks(server) == []


def test_a_bad_follow_primary_value_is_reported(make_server: Callable[..., FakeServer]) -> None:
    server = make_cad(make_server, sonoran_bridge_follow_primary="maybe")
    assert (
        '[sonoran_bridge] sonoran_bridge_follow_primary: expected on, off or auto, got "maybe"; '
        "using auto" in server.prints
    )
    server.cad_edit_call(501, primary=7, trackPrimary=True)
    assert tracks(server) == [("track", 501, "unit:7")]


def test_without_sonorancad_nothing_is_followed(linked: FakeServer) -> None:
    linked.cad_new_call(501, META, primary=7, trackPrimary=True)  # not started: not read
    linked.advance(10_000)
    assert tracks(linked) == []


# -- precedence -----------------------------------------------------------------------------


def test_an_explicit_track_beats_track_primary(cad: FakeServer) -> None:
    assert cad.export("TrackCall", 501, 12) == (True, "player:12")
    cad.sent()
    cad.cad_edit_call(501, primary=7, trackPrimary=True)
    cad.advance(10_000)
    assert tracks(cad) == []
    listed = cad.export("GetTrackedCalls")[0][1]
    assert (listed.subject, listed.origin) == ("player:12", "manual")


def test_a_manual_untrack_holds_until_the_cad_changes_the_call(cad: FakeServer) -> None:
    cad.cad_edit_call(501, primary=7, trackPrimary=True)
    cad.sent()
    assert cad.command("untrackcall", 0, "501") == "[sonoran_bridge] call 501 is no longer tracked"
    assert tracks(cad) == [("untrack", 501, None)]
    cad.cad_edit_call(501, meta={"postal": "1"})  # an edit that leaves tracking alone
    cad.cad_poll(501)
    cad.advance(20_000)
    assert tracks(cad) == []
    cad.cad_edit_call(501, primary=8)  # the dispatcher changes the call's tracking
    assert tracks(cad) == [("track", 501, "unit:8")]


def test_track_primary_beats_the_caller_rule(make_server: Callable[..., FakeServer]) -> None:
    server = make_cad(make_server, sonoran_bridge_follow_caller_seconds=60)
    server.cad_new_call(502, {"callerPlayerId": "12"})
    assert tracks(server) == [("track", 502, "player:12")]
    assert server.export("GetTrackedCalls")[0][1].origin == "caller"
    server.cad_edit_call(502, primary=7, trackPrimary=True)
    assert tracks(server) == [("track", 502, "unit:7")]
    assert server.export("GetTrackedCalls")[0][1].origin == "primary"
    server.advance(70_000)  # the caller's time is up, but the call is the unit's now
    assert tracks(server) == []


def test_an_explicit_track_beats_the_caller_rule(make_server: Callable[..., FakeServer]) -> None:
    server = make_cad(make_server, sonoran_bridge_follow_caller_seconds=60)
    server.fake.cad.calls[502] = server.cad_entry(502, {"callerPlayerId": "12"})
    server.export("TrackCall", 502, 3)
    server.sent()
    server.trigger("SonoranCAD::pushevents:DispatchEvent", server.fake.cad.calls[502])
    server.advance(70_000)
    assert tracks(server) == []
    assert server.export("GetTrackedCalls")[0][1].subject == "player:3"


# -- the caller rule ------------------------------------------------------------------------


def test_a_911_call_follows_its_caller_for_n_seconds(
    make_server: Callable[..., FakeServer],
) -> None:
    server = make_cad(make_server, sonoran_bridge_follow_caller_seconds=30)
    server.cad_911(700, {"callerPlayerId": "12", "uuid": "x", "silentAlert": "false"})
    sent = [m for m in server.sent() if m["type"] == "track"]
    assert sent == [
        {
            "type": "track",
            "call_id": 700,
            "kind": "emergency",  # a 911 call's id: never taken for dispatch call 700
            "subject": "player:12",
            "meta": {"callerPlayerId": "12", "uuid": "x", "silentAlert": "false"},
        }
    ]
    assert states(server, 700) == [("following", "follows its caller, player 12, for 30 s")]
    server.move_player(12, (150.0, 250.0, 30.0))
    server.advance(29_000)
    assert tracks(server) == []
    server.advance(1000)
    assert tracks(server) == [("untrack", 700, None)]
    assert states(server, 700)[-1] == (
        "stopped",
        "its caller was followed for 30 s; the call stays where it was last put",
    )


def test_the_caller_rule_is_off_by_default(cad: FakeServer) -> None:
    cad.cad_911(700, {"callerPlayerId": "12"})
    cad.cad_new_call(701, {"callerPlayerId": "12"})
    assert tracks(cad) == []


def test_a_caller_not_on_the_server_is_not_followed(make_server: Callable[..., FakeServer]) -> None:
    server = make_cad(make_server, sonoran_bridge_follow_caller_seconds=30)
    server.cad_911(700, {"callerPlayerId": "55"})
    assert tracks(server) == []
    assert (
        "[sonoran_bridge] 911 call 700: its caller is not followed (no player with server id 55)"
        in server.prints
    )


def test_an_edit_or_poll_is_not_a_new_call(make_server: Callable[..., FakeServer]) -> None:
    server = make_cad(make_server, sonoran_bridge_follow_caller_seconds=30)
    server.cad_edit_call(501, meta={"callerPlayerId": "12"})
    server.cad_poll(800, callerPlayerId="12")
    server.advance(10_000)
    assert tracks(server) == []


# -- sonorancad's own postal updates --------------------------------------------------------


def test_dispatchnotify_tracking_marks_the_postal_as_sonorancads(
    make_server: Callable[..., FakeServer],
) -> None:
    server = make_cad(make_server, "dispatchnotify", "postals")
    server.cad_edit_call(501, primary=7, trackPrimary=True)
    sent = [m for m in server.sent() if m["type"] == "track"]
    assert sent[-1]["cad_postal"] is True


def test_without_its_postals_plugin_the_postal_is_the_bridges(
    make_server: Callable[..., FakeServer],
) -> None:
    server = make_cad(make_server, "dispatchnotify")
    server.cad_edit_call(501, primary=7, trackPrimary=True)
    sent = [m for m in server.sent() if m["type"] == "track"]
    assert "cad_postal" not in sent[-1]


def test_a_poll_made_follow_keeps_the_postal_the_bridges(
    make_server: Callable[..., FakeServer],
) -> None:
    """dispatchnotify only starts its postal loop on an edit event; the poll fires none."""
    server = make_cad(make_server, "dispatchnotify", "postals")
    server.cad_poll(501, primary=7, trackPrimary=True)
    server.advance(5000)
    sent = [m for m in server.sent() if m["type"] == "track"]
    assert "cad_postal" not in sent[-1]


# -- restarts -------------------------------------------------------------------------------


def test_a_primary_follow_and_a_hold_survive_a_resource_restart(cad: FakeServer) -> None:
    cad.cad_new_call(502, dict(META), primary=8, trackPrimary=True)
    cad.cad_edit_call(501, primary=7, trackPrimary=True)
    cad.export("UntrackCall", 502)
    after = cad.restarted()
    after.start_sonorancad()
    after.add_player(3, (1.0, 1.0, 1.0))
    after.add_player(12, (100.0, 200.0, 30.0))
    after.cad_unit(7, 3)
    after.cad_unit(8, 12)
    for call_id in (501, 502):
        after.fake.cad.calls[call_id] = cad.fake.cad.calls[call_id] and after.table(
            {"dispatch_type": "CALL_EDIT", "dispatch": dict(cad._dispatch(call_id))}
        )
    after.start()
    after.link_up()
    after.advance(10_000)
    syncs = [m for m in after.sent() if m["type"] == "sync"]
    assert [(t["call_id"], t["subject"]) for t in syncs[0]["tracks"]] == [(501, "unit:7")]
    assert tracks(after) == []  # 502 stays held: nobody changed it


# -- nearest-postal's file, offered to the daemon -------------------------------------------


def test_nearest_postals_file_is_offered_after_the_sync(linked: FakeServer) -> None:
    linked.fake.resources["nearest-postal"] = "started"
    linked.fake.metadata["nearest-postal"] = linked.table({"postal_file": "new-postals.json"})
    linked.fake.paths["nearest-postal"] = "/srv/fx/resources/nearest-postal"
    linked.link_up()
    assert [m["type"] for m in linked.sent()] == ["sync", "postal_file"]
    linked.link_down()
    linked.link_up()
    assert linked.sent()[-1] == {
        "type": "postal_file",
        "path": "/srv/fx/resources/nearest-postal/new-postals.json",
    }


def test_no_offer_without_nearest_postal(linked: FakeServer) -> None:
    linked.link_up()
    assert [m["type"] for m in linked.sent()] == ["sync"]


def test_a_call_the_daemon_reports_gone_is_not_followed_again_until_it_changes(
    cad: FakeServer,
) -> None:
    cad.cad_edit_call(501, primary=7, trackPrimary=True)
    cad.sent()
    cad.daemon_says({"type": "call_state", "call_id": 501, "state": "gone", "detail": "404"})
    cad.advance(20_000)  # the cache still shows track primary on: no retry costing an update
    assert tracks(cad) == []
    cad.cad_edit_call(501, primary=8)
    assert tracks(cad) == [("track", 501, "unit:8")]


def test_a_restart_with_follow_primary_turned_off_drops_primary_follows(cad: FakeServer) -> None:
    cad.cad_edit_call(501, primary=7, trackPrimary=True)
    after = FakeServer({**cad.convars, "sonoran_bridge_follow_primary": "off"}, kvp=cad.kvp())
    after.start()
    assert (
        "[sonoran_bridge] not resumed: call 501 (unit:7): sonoran_bridge_follow_primary is off"
        in after.prints
    )
