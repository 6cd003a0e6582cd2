"""What a neighbour holding the token (or merely able to connect) can make the daemon do.

Real daemon, real websocket clients and the CAD stand-in, all on loopback.
"""

from __future__ import annotations

import pytest
from conftest import MakeDaemon

TOO_MANY_CALLS = "too_many_calls"


async def test_tracked_calls_per_game_server_are_capped_with_an_error_naming_the_key(
    make_daemon: MakeDaemon,
) -> None:
    running = await make_daemon(max_calls_per_server=40)
    game = await running.game()
    for call_id in range(1, 301):
        await game.send(type="track", call_id=call_id, subject=f"player:{call_id}")
    error = await game.expect("error", code=TOO_MANY_CALLS)
    assert "tracking.max_calls_per_server" in error["message"]
    assert "call 41" in error["message"]
    await game.send(
        type="sync",
        tracks=[{"call_id": c, "subject": f"entity:{c}"} for c in range(1000, 1400)],
    )
    while "360 more not followed" not in error["message"]:
        error = await game.expect("error", code=TOO_MANY_CALLS)
    other = await running.game(server_id=2)
    await other.send(type="track", call_id=7, subject="player:7")
    await other.expect("call_state", call_id=7, state="following")
    tracker = running.bridge.tracker
    assert tracker.count_of(1) == 40
    assert tracker.count_of(2) == 1
    assert {c.call_id for c in tracker.calls_of(1)} == set(range(1000, 1040))


@pytest.mark.parametrize("start", [0, 1])
async def test_a_call_already_followed_may_be_tracked_again_at_the_cap(
    make_daemon: MakeDaemon, start: int
) -> None:
    running = await make_daemon(max_calls_per_server=3)
    game = await running.game()
    for call_id in range(1, 4):
        await game.send(type="track", call_id=call_id, subject="player:1")
    await game.send(type="track", call_id=1 + start, subject="player:2")
    await game.send(type="untrack", call_id=3)
    await game.send(type="track", call_id=9, subject="player:9")
    await game.expect("call_state", call_id=9, state="following")
    assert not [m for m in game.seen if m.get("type") == "error"]
    assert running.bridge.tracker.count_of(1) == 3
