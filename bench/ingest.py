"""How many position items per second the running daemon absorbs over a real websocket.

The daemon (with a CAD stand-in behind it) runs in its own process; this process plays the
game server, sending `positions` batches of 256 items for followed subjects as fast as the
socket takes them. Two baselines, measured in the same run on the same frames: a bare
websockets server that only receives them, and one that also `json.loads` each; the ratios
show what validation and tracking cost on top of moving and parsing the bytes.

    python bench/ingest.py [--seconds 5] [--batch 256] [--subjects 512]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import sys
import time
from typing import Any

from websockets.asyncio.client import connect

TOKEN = "bench-token-0123456789"


def _serve_daemon(ready: Any, stop: Any, subjects: int) -> None:
    from bench.kit import Rigs
    from bridge import logs
    from bridge.config import CadConfig, Config, ListenConfig
    from bridge.standin.cad import CadStandIn

    logs.configure("warning", "json")

    def configure(cad: CadStandIn) -> Config:
        for call_id in range(1, subjects + 1):  # so every followed call stays followed
            cad.add_call(1, call_id, {"postal": "100"})
        return Config(
            cad=CadConfig(api_url=cad.url, api_key="bench-key"),
            listen=ListenConfig(port=0, token=TOKEN),
        )

    async def main() -> None:
        rigs = Rigs()
        daemon = (await rigs(api_key="bench-key", window=60.0, configure=configure)).bridge
        ready.put(daemon.port)
        await asyncio.get_running_loop().run_in_executor(None, stop.wait)
        ready.put(len(daemon.tracker))  # proof the positions went to followed calls
        await rigs.stop_all()

    asyncio.run(main())


def _serve_bare(ready: Any, stop: Any, subjects: int, decode: bool = False) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def handler(ws: ServerConnection) -> None:
        async for frame in ws:
            if decode:
                json.loads(frame)
            # Answer a hello or a track as the daemon would, so the client's protocol is the same.
            if '"hello"' in frame[:40]:
                await ws.send('{"type":"welcome","protocol":1,"daemon_version":"bare"}')
            elif '"track"' in frame[:40]:
                await ws.send('{"type":"call_state","call_id":1,"state":"following"}')

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0, max_size=2**16, compression=None) as server:
            ready.put(next(iter(server.sockets)).getsockname()[1])
            await asyncio.get_running_loop().run_in_executor(None, stop.wait)

    asyncio.run(main())


def _serve_decoding(ready: Any, stop: Any, subjects: int) -> None:
    _serve_bare(ready, stop, subjects, decode=True)


def _frames(batch: int, subjects: int, variants: int = 32) -> list[str]:
    frames = []
    for v in range(variants):
        items = [
            {
                "subject": f"player:{(v * batch + i) % subjects + 1}",
                "x": round(-1000 + (v * 37 + i * 13) % 4000 + 0.25, 2),
                "y": round(500 + (v * 53 + i * 7) % 6000 + 0.5, 2),
                "z": 31.5,
                "heading": float((v + i) % 360),
                "speed": 12.5,
            }
            for i in range(batch)
        ]
        frames.append(json.dumps({"type": "positions", "items": items}))
    return frames


async def _drive(port: int, seconds: float, batch: int, subjects: int) -> tuple[int, float]:
    frames = _frames(batch, subjects)
    async with connect(f"ws://127.0.0.1:{port}", max_size=2**16, compression=None) as ws:
        hello = {"type": "hello", "protocol": 1, "token": TOKEN, "server_id": 1}
        await ws.send(json.dumps(hello))
        await ws.recv()
        # With the calls' metaData, so the daemon keeps following all of them (no GET needed).
        tracks = [
            {"call_id": i, "subject": f"player:{i}", "meta": {"postal": "100"}}
            for i in range(1, subjects + 1)
        ]
        await ws.send(json.dumps({"type": "sync", "tracks": tracks}))
        sent = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            for frame in frames:
                await ws.send(frame)
            sent += len(frames)
        # A track answered means every frame before it was processed.
        await ws.send(json.dumps({"type": "track", "call_id": 1, "subject": "player:1"}))
        while '"call_state"' not in (message := await ws.recv()) or '"call_id":1,' not in message:
            pass
        elapsed = time.perf_counter() - started
    return sent * batch, elapsed


def _measure(target: Any, seconds: float, batch: int, subjects: int) -> tuple[float, int | None]:
    """(items per second, calls the server still followed at the end, None if it does not say)."""
    context = multiprocessing.get_context("spawn")
    ready, stop = context.Queue(), context.Event()
    process = context.Process(target=target, args=(ready, stop, subjects), daemon=True)
    process.start()
    followed = None
    try:
        port = ready.get(timeout=30)
        items, elapsed = asyncio.run(_drive(port, seconds, batch, subjects))
        stop.set()
        if target is _serve_daemon:
            followed = ready.get(timeout=30)
    finally:
        stop.set()
        process.join(10)
        if process.is_alive():
            process.kill()
    return items / elapsed, followed


def main(argv: list[str] | None = None) -> int:
    """Measure the daemon and the bare baseline; print items/s and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--subjects", type=int, default=512)
    args = parser.parse_args(argv)
    cores = os.cpu_count()
    print(
        f"ingest: batches of {args.batch} items, {args.subjects} followed subjects, "
        f"{args.seconds:g} s each, {cores} cores, Python {sys.version.split()[0]}"
    )
    bare, _ = _measure(_serve_bare, args.seconds, args.batch, args.subjects)
    decoding, _ = _measure(_serve_decoding, args.seconds, args.batch, args.subjects)
    print(f"  bare websockets server (baseline): {bare:12,.0f} items/s")
    print(f"  bare server + json.loads per frame: {decoding:11,.0f} items/s")
    daemon, followed = _measure(_serve_daemon, args.seconds, args.batch, args.subjects)
    print(
        f"  sonoran-bridge daemon:             {daemon:12,.0f} items/s "
        f"({followed} of {args.subjects} calls still followed at the end)"
    )
    print(
        f"  daemon/bare = {daemon / bare:.2f}, daemon/json.loads = {daemon / decoding:.2f}; "
        f"aim >= 100,000 items/s: "
        f"{'met' if daemon >= 100_000 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
