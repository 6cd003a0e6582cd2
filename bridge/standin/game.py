"""A simulated game server: speaks wire protocol v1 over a real websocket while its units drive."""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bridge import __version__

log = structlog.stdlib.get_logger("bridge.standin.game")


class Movement(Protocol):
    """Where each subject is at a given simulated time (`Fleet`; the benchmark's `TraceFleet`)."""

    subjects: list[str]

    def positions(self, t: float) -> list[tuple[str, float, float, float]]: ...


class SimulatedGame:
    """Connects like the FiveM resource, syncs its calls, and streams its subjects' positions.

    Simulated time runs `time_scale` times faster than the clock, so a demo can show minutes
    of patrol in seconds.
    """

    def __init__(
        self,
        url: str,
        token: str,
        movement: Movement,
        calls: dict[int, str],
        *,
        server_id: int = 1,
        time_scale: float = 1.0,
        tick: float = 1.0,
        min_move: float = 2.0,
        heartbeat: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        meta: dict[int, dict[str, str]] | None = None,
    ) -> None:
        self.url = url
        self.token = token
        self.movement = movement
        self.calls = dict(calls)
        self.server_id = server_id
        self.time_scale = time_scale
        self.tick = tick
        self.min_move = min_move
        self.heartbeat = heartbeat
        self.clock = clock
        self.meta = meta or {}
        self.states: dict[int, str] = {}
        self.errors: list[str] = []
        self.sent_items = 0
        self._started: float | None = None
        self._last_sent: dict[str, tuple[float, float, float]] = {}

    def sim_time(self) -> float:
        """Seconds of simulated time since `run` started."""
        if self._started is None:
            return 0.0
        return (self.clock() - self._started) * self.time_scale

    def true_positions(self) -> dict[str, tuple[float, float, float]]:
        """Where every subject really is now."""
        return {s: (x, y, z) for s, x, y, z in self.movement.positions(self.sim_time())}

    async def run(self, seconds: float) -> None:
        """Connect, hello, sync, then send positions every tick for `seconds` of clock time."""
        self._started = self.clock()
        async with connect(self.url, max_size=2**16, compression=None) as ws:
            await ws.send(
                json.dumps(
                    {
                        "type": "hello",
                        "protocol": 1,
                        "token": self.token,
                        "server_id": self.server_id,
                        "resource_version": f"simulated-{__version__}",
                    }
                )
            )
            reader = asyncio.create_task(self._read(ws))
            await ws.send(json.dumps({"type": "sync", "tracks": self._tracks()}))
            try:
                while self.clock() - self._started < seconds:
                    await self._send_positions(ws)
                    await asyncio.sleep(self.tick)
            finally:
                reader.cancel()

    def _tracks(self) -> list[dict[str, Any]]:
        tracks = []
        for call_id, subject in self.calls.items():
            track: dict[str, Any] = {"call_id": call_id, "subject": subject}
            if call_id in self.meta:
                track["meta"] = self.meta[call_id]
            tracks.append(track)
        return tracks

    async def _send_positions(self, ws: ClientConnection) -> None:
        now = self.sim_time()
        followed = set(self.calls.values())
        items = []
        for subject, x, y, z in self.movement.positions(now):
            if subject not in followed:
                continue
            last = self._last_sent.get(subject)
            if (
                last is not None
                and math.hypot(x - last[0], y - last[1]) < self.min_move
                and (now - last[2] < self.heartbeat)
            ):
                continue
            self._last_sent[subject] = (x, y, now)
            items.append({"subject": subject, "x": round(x, 2), "y": round(y, 2), "z": round(z, 2)})
        if items:
            self.sent_items += len(items)
            await ws.send(json.dumps({"type": "positions", "items": items}))

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for frame in ws:
                message = json.loads(frame)
                if message.get("type") == "call_state":
                    self.states[message["call_id"]] = message["state"]
                elif message.get("type") == "error":
                    self.errors.append(message.get("message", ""))
                    log.warning("daemon reported an error", message=message.get("message"))
        except ConnectionClosed:
            pass


GAME_HELP = """\
With the CAD stand-in and the real daemon, three terminals, in the folder of config.toml:
  python -m bridge.standin.cad --calls 501,502
  sonoran-bridge run          (config.toml: cad.api_url = "http://127.0.0.1:8080",
                               cad.api_key = "standin-key")
  python -m bridge.standin.game --calls 501,502
then watch the calls move on the status page (http://127.0.0.1:30126/).
"""


def main(argv: list[str] | None = None) -> None:
    """Drive simulated units that calls follow, against a running daemon, until interrupted."""
    import argparse
    import contextlib

    from bridge.config import ConfigError, load_config
    from bridge.standin.routes import Fleet

    parser = argparse.ArgumentParser(
        description="A simulated game server: connects to a running sonoran-bridge like the "
        "FiveM resource, and its calls follow units that drive around.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=GAME_HELP,
    )
    parser.add_argument(
        "--config", "-c", default="config.toml", help="the daemon's config: its token and port"
    )
    parser.add_argument("--calls", default="501,502", help="call ids to follow (default 501,502)")
    parser.add_argument("--seconds", type=float, default=600.0, help="how long (default 600)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.config, require_secrets=False)
        calls = [int(c) for c in args.calls.split(",") if c.strip()]
    except (ConfigError, ValueError) as exc:
        parser.exit(2, f"bridge.standin.game: {exc}\n")
    fleet = Fleet(len(calls), seed=7, moving_share=1.0)
    game = SimulatedGame(
        f"ws://127.0.0.1:{config.listen.port}",
        config.listen.token,
        fleet,
        dict(zip(calls, fleet.subjects, strict=True)),
        server_id=config.cad.server_id,
    )

    async def play() -> None:
        task = asyncio.create_task(game.run(args.seconds))
        told: dict[int, str] = {}
        while not task.done():
            for call_id, state in sorted(game.states.items()):
                if told.get(call_id) != state:
                    told[call_id] = state
                    print(f"call {call_id}: {state}", flush=True)
            await asyncio.sleep(0.2)
        await task

    print(f"simulated game server: calls {args.calls} follow units that drive", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(play())


if __name__ == "__main__":
    main()
