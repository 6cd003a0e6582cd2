"""/trackcall and /untrackcall, from a player's chat and from the server console (source 0)."""

from __future__ import annotations

from .fivem import FakeServer


def test_commands_are_registered_ace_restricted(server: FakeServer) -> None:
    for name in ("trackcall", "untrackcall"):
        assert server.fake.commands[name].restricted is True


def test_console_tracks_a_call_for_a_named_player(linked: FakeServer) -> None:
    assert (
        linked.command("trackcall", 0, "501", "12")
        == "[sonoran_bridge] call 501 now follows player:12"
    )
    assert linked.sent() == [{"type": "track", "call_id": 501, "subject": "player:12"}]


def test_console_must_name_a_player(linked: FakeServer) -> None:
    reply = linked.command("trackcall", 0, "501")
    assert "console must name a player" in reply
    assert linked.sent() == []


def test_player_without_player_id_tracks_themselves_and_is_told_in_chat(linked: FakeServer) -> None:
    linked.add_player(3)
    assert linked.command("trackcall", 3, "77") == "call 77 now follows player:3"
    assert linked.sent() == [{"type": "track", "call_id": 77, "subject": "player:3"}]
    event = linked.fake.client_events[1]
    assert (event.name, event.target, event.args[1].args[1]) == (
        "chat:addMessage",
        3,
        "sonoran_bridge",
    )


def test_player_can_name_another_player_or_a_vehicle(linked: FakeServer) -> None:
    linked.add_player(3)
    linked.add_vehicle(345, (1.0, 2.0, 3.0))
    assert linked.command("trackcall", 3, "77", "12") == "call 77 now follows player:12"
    assert linked.command("trackcall", 3, "78", "entity:345") == "call 78 now follows entity:345"


def test_bad_arguments_are_explained(linked: FakeServer) -> None:
    linked.add_player(3)
    assert linked.command("trackcall", 3) == "usage: /trackcall <callId> [playerId]"
    assert (
        linked.command("trackcall", 3, "abc")
        == 'not tracked: callId: expected an integer >= 1, got "abc"'
    )
    assert linked.command("trackcall", 3, "5", "bob").startswith("not tracked: subject: expected")
    assert linked.command("trackcall", 3, "5", "99") == "not tracked: no player with server id 99"
    assert (
        linked.command("trackcall", 3, "5", "entity:1")
        == "not tracked: no networked entity with net id 1"
    )
    assert linked.command("untrackcall", 3) == "usage: /untrackcall <callId>"
    assert linked.command("untrackcall", 3, "5") == "not untracked: call 5 is not tracked"
    assert linked.command("untrackcall", 3, "-5").startswith("not untracked: callId: expected")
    assert linked.sent() == []


def test_untrackcall(linked: FakeServer) -> None:
    linked.command("trackcall", 0, "501", "12")
    assert (
        linked.command("untrackcall", 0, "501") == "[sonoran_bridge] call 501 is no longer tracked"
    )
    assert linked.sent()[-1] == {"type": "untrack", "call_id": 501}
    assert linked.export("GetTrackedCalls")[0] is not None
    assert len(linked.export("GetTrackedCalls")[0]) == 0


def test_while_the_link_is_down_the_reply_says_so_and_nothing_is_sent(server: FakeServer) -> None:
    server.add_player(12)
    reply = server.command("trackcall", 0, "501", "12")
    assert reply.endswith("(daemon link is down: it is sent on reconnect)")
    assert server.sent() == []
