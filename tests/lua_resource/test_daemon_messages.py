"""What the daemon tells the resource: call_state, re-fired as the local event
<resource>:callState."""

from __future__ import annotations

from .fivem import FakeServer


def test_call_state_fires_the_local_event(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    linked.daemon_says(
        {"type": "call_state", "call_id": 501, "state": "pushed", "detail": "moved 40 m"}
    )
    linked.daemon_says({"type": "call_state", "call_id": 501, "state": "following"})
    assert linked.events("sonoran_bridge:callState") == [
        (501, "pushed", "moved 40 m"),
        (501, "following", None),
    ]


def test_gone_untracks_the_call_locally(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    linked.sent()
    linked.daemon_says({"type": "call_state", "call_id": 501, "state": "gone", "detail": "404"})
    assert linked.events("sonoran_bridge:callState") == [(501, "gone", "404")]
    assert len(linked.export("GetTrackedCalls")[0]) == 0
    assert linked.sent() == []  # the daemon knows already
    linked.link_up()
    assert linked.sent() == [{"type": "sync", "tracks": []}]


def test_failed_keeps_the_call(linked: FakeServer) -> None:
    linked.export("TrackCall", 501, 12)
    linked.daemon_says(
        {"type": "call_state", "call_id": 501, "state": "failed", "detail": "rate limited"}
    )
    assert len(linked.export("GetTrackedCalls")[0]) == 1


def test_malformed_daemon_messages_are_ignored_with_a_line(linked: FakeServer) -> None:
    linked.trigger("sonoran_bridge:daemonMessage", "{nope")
    linked.daemon_says({"type": "call_state", "call_id": "x", "state": "pushed"})
    linked.daemon_says({"type": "call_state", "call_id": 5, "state": "exploded"})
    assert linked.events("sonoran_bridge:callState") == []
    prefix = "[sonoran_bridge] ignored a daemon message: "
    assert [line for line in linked.prints if line.startswith(prefix)] == [
        prefix + "not a JSON object",
        prefix + "call_state.call_id: expected an integer >= 1, got x",
        prefix + "call_state.state: expected following, pushed, gone or failed, got exploded",
    ]
