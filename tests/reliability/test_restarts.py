"""Restarts: `kill -9` mid-run and a fresh start, SIGTERM with a request hanging in the CAD.

The daemon runs as the operator runs it (`python -m bridge run --config ...`) in front of the
CAD stand-in in this process; a feeder plays the resource, reconnecting and syncing.
"""

from __future__ import annotations

import asyncio

from conftest import Running

from bench.kit import until
from bench.restarts import kill_and_restart, terminate_in_flight
from bench.rig import Pace
from bridge.standin.cad import Fault

PACE = Pace()


async def test_after_kill_9_the_resource_resyncs_and_the_new_daemon_reads_before_it_writes() -> (
    None
):
    result = await kill_and_restart(PACE)
    assert result.exit_code == -9
    assert result.reconnect is not None and result.reconnect < 10
    assert result.blind_writes == 0, "PATCHed a call whose metaData it had not read"
    assert result.keys_lost == 0
    assert result.settle is not None, "some call never caught up after the restart"
    assert result.notes == []


async def test_sigterm_with_a_request_hanging_exits_cleanly_within_the_grace() -> None:
    stop = await terminate_in_flight(PACE, hang=True)
    assert stop.exit_code == 0
    assert stop.seconds < 4.0  # grace: min(5 s, the 1 s client timeout), plus the close
    assert stop.stopped_cleanly


async def test_a_request_that_outlasts_the_grace_is_abandoned_and_counted(
    daemon: Running,
) -> None:
    daemon.standin.add_call(1, 501, {"postal": "1"})
    daemon.standin.inject(Fault("hang"), 1_000)
    game = await daemon.game()
    await game.send(type="track", call_id=501, subject="player:1", meta={"postal": "1"})
    await game.send(type="positions", items=[{"subject": "player:1", "x": 5, "y": 6, "z": 0}])
    bridge = daemon.bridge
    await until(lambda: bridge.pusher.in_flight is not None, within=5)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await bridge.stop(grace=0.2)
    assert loop.time() - started < 1.0
    assert bridge.pusher.in_flight is None
    # It may have reached the CAD: it still holds its place in the window.
    assert bridge.planner.update_budget.used(loop.time()) == 1
