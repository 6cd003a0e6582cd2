"""911 calls, metaData the resource cannot relay, and closes no event tells of: the daemon end
to end over real sockets (websocket client -> daemon -> HTTP CAD stand-in)."""

from __future__ import annotations

import asyncio

from conftest import MakeDaemon

from bench.kit import until

KEYS = {"callerPlayerId": "12", "uuid": "abc-123", "postal": "9002"}
META_911 = {"phone": "555-0100", "postal": "9001", "x": "0", "y": "0", "z": "0"}


async def test_a_911_call_is_moved_and_its_state_names_its_kind(make_daemon: MakeDaemon) -> None:
    running = await make_daemon(close_check_seconds=0.0)
    running.standin.add_call(1, 501, dict(KEYS))
    running.standin.add_emergency_call(1, 302, dict(META_911))
    game = await running.game()
    await game.send(type="track", call_id=302, kind="emergency", subject="player:3",
                    meta=META_911)  # fmt: skip
    following = await game.expect("call_state", call_id=302, state="following")
    assert following["kind"] == "emergency"
    await game.send(type="positions", items=[{"subject": "player:3", "x": 40, "y": 50, "z": 1}])
    pushed = await game.expect("call_state", call_id=302, state="pushed")
    assert pushed["kind"] == "emergency"
    stored = running.standin.emergency_call(1, 302)["metaData"]
    assert stored["phone"] == "555-0100" and (stored["x"], stored["y"]) == ("40", "50")
    assert running.standin.call(1, 501)["metaData"] == KEYS  # the dispatch call untouched
    patches = [r for r in running.standin.requests if r.route == "update_call"]
    assert all("postal" not in (r.body or {}) for r in patches)  # never on top for a 911 call


async def test_a_stale_notice_makes_the_next_push_carry_the_cads_edit(
    make_daemon: MakeDaemon,
) -> None:
    running = await make_daemon(close_check_seconds=0.0)
    running.standin.add_call(1, 501, dict(KEYS))
    game = await running.game()
    await game.send(type="track", call_id=501, subject="player:1", meta=KEYS)
    await game.send(type="positions", items=[{"subject": "player:1", "x": 10, "y": 0, "z": 0}])
    await game.expect("call_state", call_id=501, state="pushed")
    # A dispatcher's edit the resource cannot relay: an empty table, {} or [] it cannot tell.
    edited = {**running.standin.call(1, 501)["metaData"], "tags": []}
    running.standin.edit_meta(1, 501, edited)
    await game.send(type="call_meta_stale", call_id=501)
    await game.send(type="positions", items=[{"subject": "player:1", "x": 90, "y": 0, "z": 0}])
    await until(lambda: running.standin.call(1, 501)["metaData"].get("x") == "90", within=8.0)
    stored = running.standin.call(1, 501)["metaData"]
    assert stored["tags"] == [] and stored["uuid"] == "abc-123"
    routes = [r.route for r in running.standin.requests]
    assert routes[-2:] == ["get_calls", "update_call"]  # read, then pushed


async def test_a_call_closed_through_the_api_is_dropped_without_an_event(
    make_daemon: MakeDaemon,
) -> None:
    running = await make_daemon(close_check_seconds=1.0)
    running.standin.add_call(1, 501, dict(KEYS))
    running.standin.closed_patch = 200  # the answer a PATCH of it would get is not documented
    game = await running.game()
    await game.send(type="track", call_id=501, subject="player:1", meta=KEYS)
    await game.send(type="positions", items=[{"subject": "player:1", "x": 10, "y": 0, "z": 0}])
    await game.expect("call_state", call_id=501, state="pushed")
    running.standin.close_call(1, 501)
    closed_at = running.standin.requests[-1].t
    gone = await game.expect("call_state", call_id=501, state="gone", timeout=8.0)
    assert "closed" in gone["detail"]
    await game.send(type="positions", items=[{"subject": "player:1", "x": 500, "y": 0, "z": 0}])
    # Real sleep: nothing may happen: a push would go at once (the budget is far from spent).
    await asyncio.sleep(0.3)
    late = [r for r in running.standin.requests if r.route == "update_call" and r.t > closed_at]
    assert all(r.status == 200 for r in late) and len(late) <= 1
    assert running.bridge.planner.call(1, 501) is None
