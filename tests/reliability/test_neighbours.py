"""What a neighbour holding the token (or merely able to connect) can make the daemon do.

Real daemon, real websocket clients and the CAD stand-in, all on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import MakeDaemon, Running, make_config
from structlog.testing import capture_logs
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.kit import until
from bridge.config import Config, PostalConfig
from bridge.postal import PostalSource
from bridge.standin.cad import CadStandIn

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
    planner = running.bridge.planner
    assert planner.count_of(1) == 40
    assert planner.count_of(2) == 1
    assert {c.call_id for c in planner.calls_of(1)} == set(range(1000, 1040))


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
    assert running.bridge.planner.count_of(1) == 3


# -- the postal offer ------------------------------------------------------------------------


def _with_offer_folder(folder: Path) -> Callable[[CadStandIn], Config]:
    def configure(standin: CadStandIn) -> Config:
        config = make_config(standin)
        config.postal = PostalConfig(offer_folder=str(folder))
        return config

    return configure


async def _answer_seconds(running: Running, call_id: int) -> float:
    """Seconds another game server waits for its `track` to be answered."""
    other = await running.game(server_id=2)
    start = time.monotonic()
    await other.send(type="track", call_id=call_id, subject="player:1")
    await other.expect("call_state", call_id=call_id, state="following", timeout=30)
    return time.monotonic() - start


async def test_an_offered_fifo_never_freezes_the_daemon(
    make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    fifo = tmp_path / "new-postals.json"
    os.mkfifo(fifo)

    checked = threading.Event()

    def release() -> None:
        # A daemon that opened the FIFO would block its loop in open() until a writer comes:
        # this one frees it after 2 s (late enough that the block is seen), or at once when
        # the test has seen the daemon answer.
        checked.wait(2.0)
        with open(fifo, "w") as writer:
            writer.write("[]")

    writer = threading.Thread(target=release, daemon=True)
    writer.start()
    running = await make_daemon(configure=_with_offer_folder(tmp_path))
    game = await running.game()
    await game.send(type="postal_file", path=str(fifo))
    frozen = await _answer_seconds(running, 7)
    print(f"a FIFO offered as the postal file: another server waited {frozen:.2f} s")
    assert frozen < 1.0
    await asyncio.gather(*running.bridge.postal_reads)
    assert running.bridge.planner.postals is None
    checked.set()
    # The daemon never read the FIFO: a reader of our own lets the writer finish.
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    await asyncio.to_thread(writer.join, 10)
    os.close(reader)


async def test_an_offered_file_past_the_size_cap_is_not_read(
    make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    huge = tmp_path / "new-postals.json"
    os.truncate(huge.touch() or huge, 256 * 1024 * 1024)  # sparse: no disk used
    running = await make_daemon(configure=_with_offer_folder(tmp_path))
    game = await running.game()
    tracemalloc.start()
    try:
        await game.send(type="postal_file", path=str(huge))
        await _answer_seconds(running, 8)
        await asyncio.gather(*running.bridge.postal_reads)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"a 256 MiB postal file offered: peak {peak / 2**20:.1f} MiB traced")
    assert peak < 32 * 2**20
    assert running.bridge.planner.postals is None


@pytest.mark.parametrize(
    "offered",
    ["/dev/zero", "/etc/passwd", "\\\\\\\\attacker.example\\\\share\\\\postals.json",
     "//attacker.example/share/postals.json", "relative/postals.json", "{folder}/../outside.json",
     "{folder}/link-to-zero.json", "{folder}/link-out.json", "{folder}"],
)
async def test_an_offer_outside_the_folder_or_not_a_regular_file_is_never_opened(
    tmp_path: Path, offered: str
) -> None:
    folder = tmp_path / "resources"
    folder.mkdir()
    (tmp_path / "outside.json").write_text(json.dumps([{"x": 0, "y": 0, "code": "1"}]))
    (folder / "link-to-zero.json").symlink_to("/dev/zero")
    (folder / "link-out.json").symlink_to(tmp_path / "outside.json")
    source = PostalSource(PostalConfig(offer_folder=str(folder)))
    assert await source.offered(1, offered.format(folder=folder)) is None
    assert source.index is None


async def test_an_offer_inside_the_folder_is_read(tmp_path: Path) -> None:
    (tmp_path / "nearest-postal").mkdir()
    good = tmp_path / "nearest-postal" / "new-postals.json"
    good.write_text(json.dumps([{"x": 0, "y": 0, "code": "100"}]))
    source = PostalSource(PostalConfig(offer_folder=str(tmp_path)))
    index = await source.offered(1, str(good))
    assert index is not None and index.nearest(1, 1) == "100"


# -- connections -----------------------------------------------------------------------------


def _descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
async def test_idle_connections_hold_few_descriptors_and_the_game_server_gets_in(
    daemon: Running,
) -> None:
    port = daemon.bridge.listener.port
    before = _descriptors()
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(300)]
    stop = asyncio.Event()
    churned = [0]

    async def churn() -> None:
        # Bare sockets opened and dropped as fast as can be: they must not push the game
        # server's connection out while it says hello.
        while not stop.is_set():
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                # Real sleep: the backlog of a real socket is full for a moment of real time.
                await asyncio.sleep(0.001)
                continue
            writer.transport.abort()
            churned[0] += 1

    churners = [asyncio.create_task(churn()) for _ in range(8)]
    await until(lambda: churned[0] >= 200)  # the churn is in full swing
    start = time.monotonic()
    game = await daemon.game()
    welcomed = time.monotonic() - start
    stop.set()
    await asyncio.gather(*churners)
    await game.send(type="track", call_id=5, subject="player:5")
    await game.expect("call_state", call_id=5, state="following")
    held = _descriptors() - before - len(idle) - 1  # the game server's own end
    print(f"300 idle sockets and a churn: {held} descriptors held; welcomed in {welcomed:.3f} s")
    assert held <= 16 + 2
    assert welcomed < 2.0
    for _, writer in idle:
        writer.close()


async def test_refused_connections_log_a_few_lines_then_one_summary(daemon: Running) -> None:
    with capture_logs() as logged:
        for _ in range(200):
            async with connect(daemon.url) as ws:
                await ws.send(json.dumps({"type": "hello", "protocol": 1, "token": "wrong" * 3}))
                with contextlib.suppress(ConnectionClosed):
                    while True:
                        await ws.recv()
    lines = [e for e in logged if str(e["event"]).startswith("refused connection")]
    print(f"200 connections with a wrong token: {len(lines)} log lines")
    assert len(lines) == 3
    listener = daemon.bridge.listener
    summed = listener.refusals.summary(asyncio.get_running_loop().time() + 10.0)
    assert summed == {"unauthorized": 200}
    metrics = daemon.bridge.metrics.render().decode()
    assert 'sonoran_bridge_connections_refused_total{reason="unauthorized"} 200.0' in metrics


async def test_a_burst_of_offers_is_read_one_file_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bridge import postal

    active, peak = 0, 0
    real = postal._load_offer

    def load(folder: str, path: str) -> postal.PostalIndex:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        # Real sleep: a slow read in the worker thread, so that overlapping ones would show.
        time.sleep(0.02)
        active -= 1
        return real(folder, path)

    monkeypatch.setattr(postal, "_load_offer", load)
    paths = []
    for n in range(6):
        path = tmp_path / f"postals-{n}.json"
        path.write_text(json.dumps([{"x": 0, "y": 0, "code": str(n)}]))
        paths.append(str(path))
    source = PostalSource(PostalConfig(offer_folder=str(tmp_path)))
    await asyncio.gather(*(source.offered(1, path) for path in paths))
    assert peak == 1
    assert source.index is not None and len(source.index) == 1
