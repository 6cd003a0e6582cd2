"""What a hostile neighbour can do to the daemon: one figure per attack, on loopback only.

    python -m bench.neighbours                 # every attack, about a minute
    python -m bench.neighbours --attack 2      # one of them

Each attack is bounded (a FIFO released after 10 s, floods of a fixed size, a reconnect timed
out at 20 s) so the run ends on any code. The script uses only what every version of the daemon
has, so it measures the code before a fix too: run it from an older checkout's root with
`python /path/to/bench/neighbours.py`.

1. postal offer: a FIFO offered (another server's wait for an answer), a sparse 256 MiB file
   offered (peak memory traced).
2. connections: a daemon process limited to 256 file descriptors, 1 000 idle sockets held
   open: seconds until a game server that retries every 0.25 s is welcomed; then 2 000
   connections with a wrong token: the daemon's log lines and bytes.
3. shared engine: a real redis-server with a pause ten years ahead, and a demand that is not a
   number: the wait the daemon takes, and whether it can reserve at all.
4. CAD answer: a 127 KiB gzip body of zeros: peak memory traced while reading it.
5. proxy: HTTP_PROXY set, a plain-http CAD on loopback: what reaches the proxy.
6. tracked calls: 3 000 tracks of ~55 KiB of metaData each from one game server: calls held and
   peak memory traced.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a file, e.g. from another checkout's root
    sys.path.insert(0, os.getcwd())

import msgspec
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.kit import RawServer, Rigs, free_port, gzip_bomb
from bridge import logs
from bridge.cad import CadClient
from bridge.config import BudgetConfig, CadConfig, Config, ListenConfig, PostalConfig
from bridge.standin.cad import CadStandIn

KEY = "sk-bench-neighbours-7f6e5d4c"
TOKEN = "bench-token-0123456789"
Figures = list[tuple[str, str]]


def _config(api_url: str, **postal: Any) -> Config:
    return Config(
        cad=CadConfig(api_url=api_url, api_key=KEY, timeout_seconds=5.0),
        listen=ListenConfig(port=0, token=TOKEN),
        budget=BudgetConfig(state_file=""),
        postal=PostalConfig(**postal),
    )


async def _game(port: int, server_id: int) -> Any:
    ws = await connect(f"ws://127.0.0.1:{port}", max_size=2**20, max_queue=None)
    await ws.send(json.dumps({"type": "hello", "protocol": 1, "token": TOKEN,
                              "server_id": server_id}))  # fmt: skip
    assert json.loads(await ws.recv())["type"] == "welcome"
    return ws


async def _until(ws: Any, test: Callable[[dict[str, Any]], bool], limit: float) -> float:
    start = time.monotonic()
    async with asyncio.timeout(limit):
        while not test(json.loads(await ws.recv())):
            pass
    return time.monotonic() - start


# -- 1. the postal offer ---------------------------------------------------------------------


async def postal_offer() -> Figures:
    folder = Path(tempfile.mkdtemp(prefix="neighbours-"))
    fifo = folder / "new-postals.json"
    os.mkfifo(fifo)
    sparse = folder / "big-postals.json"
    sparse.touch()
    os.truncate(sparse, 256 * 1024 * 1024)
    has_folder = "offer_folder" in PostalConfig.__struct_fields__
    postal = {"offer_folder": str(folder)} if has_folder else {}

    def release() -> None:
        time.sleep(10.0)  # the old daemon's loop waits in open() for a writer
        with open(fifo, "w") as writer:
            writer.write("[]")

    threading.Thread(target=release, daemon=True).start()
    figures: Figures = []
    rigs = Rigs()
    running = await rigs(
        api_key=KEY, window=60.0, configure=lambda standin: _config(standin.url, **postal)
    )
    daemon = running.bridge
    try:
        port = daemon.listener.port
        offerer, other = await _game(port, 1), await _game(port, 2)
        await offerer.send(json.dumps({"type": "postal_file", "path": str(fifo)}))
        await other.send(json.dumps({"type": "track", "call_id": 7, "subject": "p:1"}))
        waited = await _until(other, lambda m: m.get("call_id") == 7, 30.0)
        figures.append(("1. FIFO offered: another server waited for an answer",
                        f"{waited:.2f} s"))  # fmt: skip
        tracemalloc.start()
        await offerer.send(json.dumps({"type": "postal_file", "path": str(sparse)}))
        await other.send(json.dumps({"type": "track", "call_id": 8, "subject": "p:1"}))
        await _until(other, lambda m: m.get("call_id") == 8, 30.0)
        for task in list(getattr(daemon, "postal_reads", ())):
            with contextlib.suppress(Exception):
                await task
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        figures.append(("1. sparse 256 MiB file offered: peak memory traced",
                        f"{peak / 2**20:.1f} MiB"))  # fmt: skip
        await offerer.close()
        await other.close()
    finally:
        await rigs.stop_all()
    return figures


# -- 2. connections --------------------------------------------------------------------------


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def _start_daemon(config: Path, output: Path) -> subprocess.Popen[bytes]:
    """`bridge run` of the code in the current folder, limited to 256 file descriptors."""
    with open(output, "wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "bridge", "run", "--config", str(config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=os.getcwd(),
            preexec_fn=_limit_descriptors,
        )


async def _welcomed_after(port: int, limit: float) -> float | None:
    """Seconds until a game server retrying every 0.25 s is welcomed (None: not within limit)."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        try:
            async with asyncio.timeout(2.0):
                ws = await _game(port, 1)
            await ws.close()
            return time.monotonic() - start
        except (OSError, TimeoutError, ConnectionClosed, AssertionError, Exception):
            await asyncio.sleep(0.25)
    return None


async def _hold_idle(port: int, count: int, stop: asyncio.Event) -> None:
    """Keep `count` idle sockets open to the daemon, reopening any it closes, until `stop`."""
    held: list[asyncio.StreamWriter] = []
    while not stop.is_set():
        held = [w for w in held if not w.is_closing() and not w.transport.is_closing()]
        while len(held) < count and not stop.is_set():
            try:
                _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
            except (OSError, TimeoutError):
                break
            held.append(writer)
        await asyncio.sleep(0.05)
    for writer in held:
        writer.close()


async def _churn(port: int, stop: asyncio.Event) -> int:
    """Open connections and drop them at once, as fast as one task can, until `stop`."""
    opened = 0
    while not stop.is_set():
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        opened += 1
        writer.transport.abort()
    return opened


async def connections() -> Figures:
    folder = Path(tempfile.mkdtemp(prefix="neighbours-"))
    port = free_port()
    config = folder / "config.toml"
    config.write_text(
        f'[cad]\napi_url = "http://127.0.0.1:9"\napi_key = "{KEY}"\n'
        f'[listen]\nport = {port}\ntoken = "{TOKEN}"\n[budget]\nstate_file = ""\n'
        '[log]\nformat = "json"\nstatus_seconds = 0\n'
    )
    output = folder / "daemon.log"
    figures: Figures = []
    process = _start_daemon(config, output)
    try:
        if await _welcomed_after(port, 20.0) is None:
            raise RuntimeError(f"the daemon did not start: {output.read_text()[-2000:]}")
        stop = asyncio.Event()
        flood = asyncio.create_task(_hold_idle(port, 1000, stop))
        await asyncio.sleep(2.0)
        welcomed = await _welcomed_after(port, 20.0)
        stop.set()
        await flood
        figures.append((
            "2. 1 000 idle sockets held open (daemon limited to 256 descriptors): "
            "a game server retrying every 0.25 s is welcomed after",
            "not within 20 s" if welcomed is None else f"{welcomed:.2f} s",
        ))  # fmt: skip
        stop = asyncio.Event()
        churners = [asyncio.create_task(_churn(port, stop)) for _ in range(8)]
        await asyncio.sleep(1.0)
        welcomed = await _welcomed_after(port, 20.0)
        stop.set()
        opened = sum(await asyncio.gather(*churners))
        figures.append((
            "2. 8 tasks connecting and dropping as fast as they can: a game server retrying "
            "every 0.25 s is welcomed after",
            ("not within 20 s" if welcomed is None else f"{welcomed:.2f} s")
            + f" ({opened} connections in the flood)",
        ))  # fmt: skip
        lines_before = len(output.read_bytes().splitlines())
        bytes_before = output.stat().st_size
        start = time.monotonic()
        for _ in range(2000):
            try:
                async with connect(f"ws://127.0.0.1:{port}") as ws:
                    await ws.send(json.dumps({"type": "hello", "protocol": 1,
                                              "token": "wrong-token-00000"}))  # fmt: skip
                    with contextlib.suppress(ConnectionClosed):
                        while True:
                            await ws.recv()
            except (OSError, ConnectionClosed, TimeoutError):
                pass
        spent = time.monotonic() - start
        await asyncio.sleep(11.0)  # a summary line comes within 10 s
        lines = len(output.read_bytes().splitlines()) - lines_before
        size = output.stat().st_size - bytes_before
        figures.append((
            f"2. 2 000 connections with a wrong token ({spent:.1f} s), and 11 s more: "
            "log lines (bytes)",
            f"{lines} ({size / 1024:.1f} KiB)",
        ))  # fmt: skip
    finally:
        process.terminate()
        process.wait(10)
    return figures


# -- 3. the shared engine --------------------------------------------------------------------


async def shared_engine() -> Figures:
    from bridge.budget import Budget
    from bridge.planner import Planner, Push
    from bridge.protocol import DISPATCH
    from bridge.scheduler import PacedAccumulator
    from bridge.shared.engine import Reservation, Wait, keyspace, open_engine
    from bridge.shared.gate import UPDATE, SharedGate, terms_for
    from bridge.shared.url import parse
    from bridge.standin.engines import RedisServer, missing

    if missing("redis") is not None:
        return [("3. shared engine", f"skipped: {missing('redis')}")]
    figures: Figures = []
    server = RedisServer(Path(tempfile.mkdtemp(prefix="neighbours-")))
    server.start()
    try:
        import redis.asyncio as aioredis

        terms = terms_for(10, 60.0, 1.0, 10.0, 1.0)
        for case, field, value in (
            ("a pause ten years ahead", "paused_until", f"{time.time() + 3.15e8:.6f}"),
            ("a demand that is not a number", "d:intruder", "a lot"),
        ):
            space = keyspace("http://bench", case)
            engine = open_engine(parse(server.url), space, member="a")
            await engine.reserve(UPDATE, terms)
            raw = aioredis.Redis(unix_socket_path=str(server.socket))
            await raw.hset(f"{space}:{UPDATE}:state", field, value)
            await raw.aclose()
            await asyncio.sleep(terms.spacing + 0.2)  # past the pacing of that first reserve
            planner = Planner(policy=PacedAccumulator(1.0, 180.0),
                              update_budget=Budget(10, 60.0, 1.0), get_budget=None)  # fmt: skip
            now = time.monotonic()
            gate = SharedGate(open_engine(parse(server.url), space, member="b"),
                              {UPDATE: terms}, planner, clock=time.monotonic)  # fmt: skip
            push = Push((1, DISPATCH, 501), {}, 0.0, 0.0, 0.0, 50.0)
            admitted = await gate.admit(push, now)
            answer = await gate.engine.reserve(UPDATE, terms)
            resumes = planner.update_budget.next_slot(time.monotonic()) - time.monotonic()
            if isinstance(answer, Reservation) or admitted:
                said = "sends at once"
            elif isinstance(answer, Wait):
                said = (
                    f"asks again in {resumes:,.0f} s ({answer.reason}: told "
                    f"{answer.seconds:,.0f} s)"
                )
            else:
                said = f"cannot reserve ({answer.reason[:70]}); retries in {resumes:.2f} s"
            figures.append((f"3. Redis holds {case}: a daemon", said))
            await engine.close()
            await gate.engine.close()
    finally:
        server.stop()
    return figures


# -- 4. and 5. the CAD client ----------------------------------------------------------------


async def cad_answer() -> Figures:
    answer = gzip_bomb(128)
    body = answer[answer.index(b"\r\n\r\n") + 4 :]
    async with (
        RawServer(answer) as raw,
        CadClient(f"http://127.0.0.1:{raw.port}", KEY, timeout=30.0) as cad,
    ):
        tracemalloc.start()
        result = (await cad.get_calls(1)).result
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return [(f"4. a {len(body) / 1024:.0f} KiB gzip answer (128 MiB of zeros): peak memory "
             "traced", f"{peak / 2**20:.0f} MiB ({type(result).__name__})")]  # fmt: skip


async def proxy() -> Figures:
    refusal = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    saved = {name: os.environ.pop(name, None) for name in ("NO_PROXY", "no_proxy")}
    async with RawServer(refusal) as raw:
        os.environ["HTTP_PROXY"] = os.environ["http_proxy"] = f"http://127.0.0.1:{raw.port}"
        try:
            async with CadStandIn(api_key=KEY) as standin:
                standin.add_call(1, 501, {"x": "1"})
                async with CadClient(standin.url, KEY, timeout=5.0) as cad:
                    result = (await cad.update_call(1, 501, {"x": "2"})).result
        finally:
            for name in ("HTTP_PROXY", "http_proxy"):
                os.environ.pop(name, None)
            for name, value in saved.items():
                if value is not None:
                    os.environ[name] = value
    keys = bytes(raw.received).count(KEY.encode())
    return [("5. HTTP_PROXY set, plain-http CAD: bytes the proxy read (API keys among them)",
             f"{len(raw.received)} ({keys}); the update: {type(result).__name__}")]  # fmt: skip


# -- 6. tracked calls ------------------------------------------------------------------------


async def tracked_calls() -> Figures:
    meta = {f"k{i:03d}": "v" * 250 for i in range(200)}
    rigs = Rigs()
    running = await rigs(api_key=KEY, window=60.0, configure=lambda s: _config(s.url))
    daemon = running.bridge
    try:
        game = await _game(daemon.listener.port, 1)
        tracemalloc.start()
        start = time.monotonic()
        for call_id in range(1, 3001):
            await game.send(msgspec.json.encode({"type": "track", "call_id": call_id,
                                                 "subject": f"p:{call_id}",
                                                 "meta": meta}).decode())  # fmt: skip
        await game.send(json.dumps({"type": "untrack", "call_id": 999_999}))
        with contextlib.suppress(TimeoutError):
            await _until(game, lambda m: False, 3.0)  # let the daemon read them all
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        held = len(daemon.tracker)
        spent = time.monotonic() - start
        await game.close()
    finally:
        await rigs.stop_all()
    return [("6. 3 000 tracks with ~55 KiB of metaData each: calls held, peak memory traced",
             f"{held}, {peak / 2**20:.0f} MiB ({spent:.1f} s)")]  # fmt: skip


ATTACKS = {1: postal_offer, 2: connections, 3: shared_engine, 4: cad_answer, 5: proxy,
           6: tracked_calls}  # fmt: skip


async def main(chosen: list[int]) -> None:
    logs.configure("warning", "json")
    for number in chosen:
        for what, figure in await ATTACKS[number]():
            print(f"{what}: {figure}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attack", type=int, action="append", choices=sorted(ATTACKS))
    args = parser.parse_args()
    asyncio.run(main(args.attack or sorted(ATTACKS)))
