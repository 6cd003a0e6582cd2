"""The exports other resources call: bad arguments give false plus a reason, never an error."""

from __future__ import annotations

import math

import pytest

from .fivem import FakeServer, lua_list


def tracked(server: FakeServer) -> list[dict[str, object]]:
    calls = server.export("GetTrackedCalls")[0]
    return [dict(call.items()) for call in lua_list(calls)]


@pytest.mark.parametrize(
    ("subject", "key"),
    [
        (12, "player:12"),
        ("12", "player:12"),
        ("player:12", "player:12"),
        ("entity:345", "entity:345"),
    ],
)
def test_track_call_subject_forms(linked: FakeServer, subject: object, key: str) -> None:
    linked.add_vehicle(345, (1.0, 2.0, 3.0))
    assert linked.export("TrackCall", 501, subject) == (True, key)
    assert linked.sent() == [{"type": "track", "call_id": 501, "subject": key}]


def test_track_call_with_radius_from_a_js_caller(linked: FakeServer) -> None:
    # Numbers from JS resources arrive as floats.
    assert linked.export("TrackCall", 501.0, 12.0, linked.table({"radius": 75.5})) == (
        True,
        "player:12",
    )
    assert linked.sent() == [
        {"type": "track", "call_id": 501, "subject": "player:12", "radius": 75.5}
    ]
    assert tracked(linked) == [
        {"callId": 501, "subject": "player:12", "radius": 75.5, "origin": "manual"}
    ]


BAD = [
    ((), "callId: expected an integer >= 1, got nothing"),
    (("x", 12), 'callId: expected an integer >= 1, got "x"'),
    ((0, 12), "callId: expected an integer >= 1, got number 0"),
    ((1.5, 12), "callId: expected an integer >= 1, got number 1.5"),
    ((math.nan, 12), "callId: expected an integer >= 1"),
    ((501,), "subject: expected a player server id"),
    ((501, "car:1"), "subject: expected a player server id"),
    ((501, -1), "subject: expected a player server id"),
    ((501, 99), "no player with server id 99"),
    ((501, "entity:9"), "no networked entity with net id 9"),
    ((501, "unit:7"), "unit subjects need the sonorancad resource, which is not started"),
    ((501, 12, "wide"), "opts: expected a table"),
]


@pytest.mark.parametrize(("args", "reason"), BAD)
def test_track_call_bad_arguments_return_false_and_a_reason(
    linked: FakeServer, args: tuple[object, ...], reason: str
) -> None:
    ok, why = linked.export("TrackCall", *args)
    assert ok is False
    assert why.startswith(reason), why
    assert linked.sent() == []
    assert tracked(linked) == []


def test_track_call_bad_options(linked: FakeServer) -> None:
    for opts, reason in [
        ({"radius": 20000}, "opts.radius: expected metres between 0 and 10000"),
        ({"radius": math.inf}, "opts.radius"),
        ({"color": "red"}, 'opts: unknown option "color"'),
    ]:
        ok, why = linked.export("TrackCall", 501, 12, linked.table(opts))
        assert ok is False and why.startswith(reason)


def test_untrack_call(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    linked.sent()
    assert linked.export("UntrackCall", 501) == (True,)
    assert linked.sent() == [{"type": "untrack", "call_id": 501}]
    assert linked.export("UntrackCall", 501) == (False, "call 501 is not tracked")
    assert linked.export("UntrackCall", "five")[0] is False
    assert linked.export("UntrackCall")[0] is False


def test_retracking_a_call_replaces_its_subject(linked: FakeServer) -> None:
    linked.add_player(3)
    linked.export("TrackCall", 501, 12)
    linked.export("TrackCall", 501, 3, linked.table({"radius": 10}))
    assert tracked(linked) == [
        {"callId": 501, "subject": "player:3", "radius": 10, "origin": "manual"}
    ]


def test_get_tracked_calls_is_ordered_and_a_copy(linked: FakeServer) -> None:
    linked.export("TrackCall", 9, 12)
    linked.export("TrackCall", 3, 12)
    calls = linked.export("GetTrackedCalls")[0]
    calls[1].subject = "player:666"  # the caller scribbling on the result changes nothing
    assert tracked(linked) == [
        {"callId": 3, "subject": "player:12", "origin": "manual"},
        {"callId": 9, "subject": "player:12", "origin": "manual"},
    ]


def test_is_connected_follows_the_link(server: FakeServer) -> None:
    assert server.export("IsConnected") == (False,)
    server.link_up()
    assert server.export("IsConnected") == (True,)
    server.link_down()
    assert server.export("IsConnected") == (False,)


def test_an_internal_error_is_returned_not_thrown(linked: FakeServer) -> None:
    linked.lua.execute("GetPlayers = function() error('boom') end")
    ok, why = linked.export("TrackCall", 501, 12)
    assert ok is False
    assert why.startswith("internal error in sonoran_bridge:") and "boom" in why
    assert any("TrackCall failed" in line for line in linked.prints)
