"""The sampling loop, driven tick by tick: what is read, what is skipped, what is sent and when."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from .fivem import FakeServer

PERIOD = 1000  # the default sonoran_bridge_interval_ms


def test_tracked_subjects_are_sent_each_period_they_move(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    linked.sent()
    linked.advance(PERIOD)
    assert linked.positions() == [
        {
            "subject": "player:12",
            "x": 100.0,
            "y": 200.0,
            "z": 30.0,
            "heading": 90.0,
            "speed": 0.0,
            "vx": 0.0,
            "vy": 0.0,
        }
    ]
    linked.move_player(12, (103.0, 204.0, 30.0), heading=181.26, vx=3.0, vy=4.0, vz=0.0)
    linked.advance(PERIOD)
    assert linked.positions() == [
        {
            "subject": "player:12",
            "x": 103.0,
            "y": 204.0,
            "z": 30.0,
            "heading": 181.3,
            "speed": 5.0,
            "vx": 3.0,
            "vy": 4.0,
        }
    ]


def drive(
    server: FakeServer, seconds: int, at: tuple[float, float], v: tuple[float, float]
) -> list[dict[str, float]]:
    """Move player 12 along a straight line at velocity v for `seconds` periods; what was sent."""
    x, y = at
    sent = []
    for _ in range(seconds):
        x, y = x + v[0], y + v[1]
        server.move_player(12, (x, y, 30.0), vx=v[0], vy=v[1], vz=0.0)
        server.advance(PERIOD)
        sent += server.positions()
    return sent


def test_a_steady_mover_is_sent_by_the_heartbeat_alone(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    sent = drive(linked, 95, (100.0, 200.0), (20.0, 0.0))
    # The start, then one every 30 s: the daemon's prediction stays within min_move.
    assert [(p["x"], p["vx"]) for p in sent] == [
        (120.0, 20.0),
        (720.0, 20.0),
        (1320.0, 20.0),
        (1920.0, 20.0),
    ]


def test_a_stop_a_turn_and_a_start_are_sent_at_once(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    drive(linked, 10, (100.0, 200.0), (20.0, 0.0))  # now at (300, 200)
    turned = drive(linked, 1, (300.0, 200.0), (0.0, 20.0))  # 20 m from the track
    assert [(p["x"], p["y"], p["vx"], p["vy"]) for p in turned] == [(300.0, 220.0, 0.0, 20.0)]
    slowed = drive(linked, 1, (300.0, 220.0), (0.0, 4.0))  # on the track, but braking hard
    assert [(p["y"], p["vy"]) for p in slowed] == [(224.0, 4.0)]
    stopped = drive(linked, 1, (300.0, 224.0), (0.0, 0.0))  # 4 m short of the prediction
    assert [(p["y"], p["vy"]) for p in stopped] == [(224.0, 0.0)]
    assert drive(linked, 20, (300.0, 224.0), (0.0, 0.0)) == []  # parked: nothing
    walking = drive(linked, 1, (300.0, 224.0), (1.5, 0.0))  # sets off on foot
    assert [(p["x"], p["vx"]) for p in walking] == [(301.5, 1.5)]


def test_nothing_is_sampled_before_a_call_is_tracked(linked: FakeServer) -> None:
    linked.advance(5 * PERIOD)
    assert linked.sent() == []


def test_movement_under_min_move_is_not_sent(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    linked.advance(PERIOD)
    linked.sent()
    for x in (101.0, 102.0, 103.0, 104.0):  # 4 m from what was last sent
        linked.move_player(12, (x, 200.0, 30.0))
        linked.advance(PERIOD)
        assert linked.positions() == []
    linked.move_player(12, (105.0, 200.0, 30.0))  # 5 m
    linked.advance(PERIOD)
    assert [p["x"] for p in linked.positions()] == [105.0]


def test_min_move_convar(make_server: Callable[..., FakeServer]) -> None:
    server = make_server(sonoran_bridge_min_move="0.5", sonoran_bridge_interval_ms="250")
    server.add_player(12)
    server.link_up()
    server.export("TrackCall", 501, 12)
    server.advance(250)
    server.sent()
    server.move_player(12, (100.6, 200.0, 30.0))
    server.advance(250)
    assert [p["x"] for p in server.positions()] == [100.6]


def test_bad_convars_fall_back_to_defaults_with_a_console_line(
    make_server: Callable[..., FakeServer],
) -> None:
    server = make_server(sonoran_bridge_interval_ms="often")
    assert server.prints[0] == (
        "[sonoran_bridge] sonoran_bridge_interval_ms: expected an integer between 100 and 60000, "
        'got "often"; using 1000'
    )
    server.add_player(12)
    server.link_up()
    server.export("TrackCall", 501, 12)
    server.sent()
    server.advance(999)
    assert server.positions() == []
    server.advance(1)
    assert len(server.positions()) == 1


def test_a_still_subject_is_sent_again_every_30_seconds(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    linked.advance(PERIOD)
    linked.sent()
    linked.advance(29 * PERIOD)
    assert linked.positions() == []
    linked.advance(PERIOD)
    assert len(linked.positions()) == 1
    linked.advance(29 * PERIOD)
    assert linked.positions() == []
    linked.advance(PERIOD)
    assert len(linked.positions()) == 1


def test_player_without_a_ped_is_skipped_until_it_has_one(linked: FakeServer) -> None:
    linked.add_player(7, pos=None)  # connected, GetPlayerPed == 0
    assert linked.export("TrackCall", 501, 7) == (True, "player:7")
    linked.advance(3 * PERIOD)
    assert linked.positions() == []
    linked.give_ped(7, (10.0, 20.0, 30.0))
    linked.advance(PERIOD)
    assert [(p["subject"], p["x"]) for p in linked.positions()] == [("player:7", 10.0)]


def test_unsynced_position_is_never_sent(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    linked.move_player(12, (0.0, 0.0, -1700.0))
    linked.advance(3 * PERIOD)
    assert linked.positions() == []
    linked.move_player(12, (50.0, 60.0, 20.0))
    linked.advance(PERIOD)
    assert [p["x"] for p in linked.positions()] == [50.0]


@pytest.mark.parametrize(
    "pos", [(math.nan, 1.0, 1.0), (1.0, math.inf, 1.0), (1.0, 1.0, -math.inf), (30000.0, 1.0, 1.0)]
)
def test_impossible_coordinates_are_never_sent(
    linked: FakeServer, pos: tuple[float, float, float]
) -> None:
    linked.export("TrackCall", 501, 12)
    linked.move_player(12, pos)
    linked.advance(3 * PERIOD)
    assert linked.positions() == []  # positions() also fails on any NaN/Infinity token


def test_non_finite_heading_or_speed_are_left_out(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    linked.move_player(12, (100.0, 200.0, 30.0), heading=math.nan, vx=math.inf)
    linked.advance(PERIOD)
    assert linked.positions() == [{"subject": "player:12", "x": 100.0, "y": 200.0, "z": 30.0}]


def test_vehicle_that_is_deleted_is_skipped_and_its_call_stays_tracked(linked: FakeServer) -> None:
    car = linked.add_vehicle(345, (500.0, 600.0, 10.0), heading=45.0)
    linked.export("TrackCall", 502, "entity:345")
    linked.advance(PERIOD)
    assert [p["subject"] for p in linked.positions()] == ["entity:345"]
    linked.delete_entity(car)
    linked.advance(40 * PERIOD)  # past the heartbeat too
    assert linked.positions() == []
    assert linked.export("GetTrackedCalls")[0][1].subject == "entity:345"


def test_entity_handle_that_exists_but_throws_is_skipped(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    linked.lua.execute("GetEntityCoords = function() error('invalid entity handle') end")
    linked.advance(2 * PERIOD)
    assert linked.positions() == []
    assert linked.errors == []


def test_dropped_player_keeps_its_calls_where_last_seen(linked: FakeServer) -> None:
    linked.add_player(3, (1.0, 2.0, 3.0))
    linked.export("TrackCall", 501, 12)
    linked.export("TrackCall", 502, 3)
    linked.advance(PERIOD)
    linked.sent()
    linked.drop_player(12)
    linked.move_player(3, (50.0, 2.0, 3.0))
    linked.advance(40 * PERIOD)
    sent = linked.sent()
    assert {m["type"] for m in sent} == {"positions"}  # no untrack for the dropped player
    assert {i["subject"] for m in sent for i in m["items"]} == {"player:3"}
    assert [c.subject for c in linked.export("GetTrackedCalls")[0].values()] == [
        "player:12",
        "player:3",
    ]


def test_two_calls_on_one_subject_send_it_once(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    linked.export("TrackCall", 502, "player:12")
    linked.advance(PERIOD)
    assert [p["subject"] for p in linked.positions()] == ["player:12"]


def test_many_subjects_go_in_one_batch(linked: FakeServer) -> None:
    for i in range(1, 301):
        linked.add_vehicle(i, (float(i), 2.0, 3.0))
        linked.export("TrackCall", i, f"entity:{i}")
    linked.sent()
    linked.advance(PERIOD)
    batches = linked.sent()
    assert [len(b["items"]) for b in batches] == [300]


def test_nothing_is_sent_or_queued_while_the_link_is_down(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    linked.advance(PERIOD)
    linked.sent()
    linked.link_down()
    linked.move_player(12, (300.0, 200.0, 30.0))
    linked.advance(10 * PERIOD)
    linked.export("TrackCall", 502, 12)
    linked.export("UntrackCall", 501)
    assert linked.sent() == []
    assert linked.export("IsConnected") == (False,)


def test_reconnect_syncs_the_whole_set_and_resends_every_position(linked: FakeServer) -> None:
    linked.add_player(3, (5.0, 6.0, 7.0))
    linked.export("TrackCall", 501, 12, linked.table({"radius": 40}))
    linked.export("TrackCall", 502, 3)
    linked.advance(PERIOD)
    linked.sent()
    linked.link_down()
    linked.export("UntrackCall", 502)  # folded into the next sync
    linked.export("TrackCall", 503, 12)
    linked.advance(5 * PERIOD)
    linked.link_up()
    assert linked.sent() == [
        {
            "type": "sync",
            "tracks": [
                {"call_id": 501, "subject": "player:12", "radius": 40},
                {"call_id": 503, "subject": "player:12"},
            ],
        }
    ]
    linked.advance(PERIOD)  # the daemon may know nothing: positions again, though still
    assert [p["subject"] for p in linked.positions()] == ["player:12"]


def test_empty_set_syncs_as_an_empty_list(linked: FakeServer) -> None:
    linked.link_up()
    assert linked.sent() == [{"type": "sync", "tracks": []}]


def test_without_a_token_the_resource_stays_idle(make_server: Callable[..., FakeServer]) -> None:
    server = make_server(sonoran_bridge_token=None)
    assert len(server.fake.threads) == 0  # no sampling loop
    assert server.prints == []  # the transport (JS) says why, once
    server.add_player(12)
    assert server.export("TrackCall", 501, 12) == (True, "player:12")
    assert server.export("IsConnected") == (False,)


def test_startup_line_names_the_settings(server: FakeServer) -> None:
    assert server.prints == [
        "[sonoran_bridge] sampling every 1000 ms, sending after 5 m of movement"
    ]


def test_a_failing_period_is_logged_and_sampling_goes_on(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    linked.lua.execute("FAKE.saved = GetPlayerPed; GetPlayerPed = nil")  # locate() itself fails
    linked.advance(PERIOD)
    assert any(line.startswith("[sonoran_bridge] sampling failed:") for line in linked.prints)
    linked.lua.execute("GetPlayerPed = FAKE.saved")
    linked.advance(PERIOD)
    assert len(linked.positions()) == 1
