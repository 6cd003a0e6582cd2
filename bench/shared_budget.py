"""Two game servers on one API key, uneven load: the shared budget against a static 5 + 5 split.

    python -m bench.shared_budget [--windows 8] [--engines redis,mariadb]

Server 1 has 8 calls whose subjects drive all the time, server 2 has 2 calls whose subjects
are mostly parked (`bridge.standin.routes.Fleet`, the street-grid workload of the replay
benchmark). Each server has its own daemon (real `Daemon`s, real websockets, the real CAD client)
in front of one strict CAD stand-in: 10 updates and 5 reads in any window, a 429 beyond.

The baseline, measured in the same run: each daemon owns half the key (5 updates, 2 and 3
reads), as a community splits it by hand. Then both daemons share the whole key through a real
redis-server and a real mariadbd, started on unix sockets in a temporary folder.

Real engines count on their own clock, which cannot be made virtual: the run is on a short real
window (3 s stands for the API's 60 s) with the world moving 20 times faster, so distances and
how often each call is pushed per window are those of production. The map error of a call is
how far its subject is from where the CAD draws it, sampled ten times a second over every call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from bench.kit import build_daemon
from bridge.config import BudgetConfig, CadConfig, Config, ListenConfig, LogConfig, TrackingConfig
from bridge.logs import configure
from bridge.meta import drawn_at
from bridge.standin.cad import CadStandIn
from bridge.standin.engines import MariaDbServer, RedisServer, missing
from bridge.standin.routes import Fleet
from bridge.standin.window import most_in_window

API_KEY = "shared-bench-api-key-5d0c2e71"
TOKEN = "shared-bench-token-0123456789"
WINDOW = 3.0
"""Real seconds standing for the API's 60 s window."""
SPEEDUP = 60.0 / WINDOW
"""Game seconds per real second."""
FEED_EVERY = 0.1
"""Real seconds between positions frames (two game seconds, about the resource's sampling)."""
SAMPLE_EVERY = 0.1
SERVERS = {1: Fleet(8, seed=121, moving_share=1.0), 2: Fleet(2, seed=122, moving_share=0.1)}
"""Server id -> its subjects: 8 always driving; 2 mostly parked."""


@dataclass
class Result:
    """What one arrangement of the budget achieved."""

    name: str
    most_in_window: int
    rate_limited: int
    updates: int
    windows: float
    errors: dict[int, float]
    """Server id -> mean map error of its calls, metres."""
    overall: float
    """Mean map error over all calls, metres."""

    @property
    def budget_used(self) -> float:
        """Share of the key's update budget the daemons spent."""
        return self.updates / (10 * self.windows)



def config_for(standin: CadStandIn, server_id: int, budget: BudgetConfig) -> Config:
    """A daemon's config for one game server on the bench's window."""
    return Config(
        cad=CadConfig(
            api_url=standin.url, api_key=API_KEY, server_id=server_id, timeout_seconds=1.0
        ),
        listen=ListenConfig(port=0, token=TOKEN, hello_timeout_seconds=2.0),
        budget=budget,
        # Staleness in real seconds of the sped-up world; no metaData refresh reads (the
        # benchmark is about the update budget; reads are budgeted apart).
        tracking=TrackingConfig(max_stale_seconds=180.0 / SPEEDUP, meta_max_age_seconds=0.0),
        log=LogConfig(level="warning", status_seconds=0.0),
    )


class Game:
    """One game server: its subjects' positions sent to its daemon, as the resource would."""

    def __init__(self, server_id: int, fleet: Fleet, standin: CadStandIn) -> None:
        self.server_id = server_id
        self.fleet = fleet
        self.standin = standin
        self.calls = {100 * server_id + i: s for i, s in enumerate(fleet.subjects, start=1)}
        for call_id, (_, x, y, z) in zip(self.calls, fleet.positions(0.0), strict=True):
            meta = {"x": f"{x:.2f}", "y": f"{y:.2f}", "z": f"{z:.2f}", "postal": "900"}
            standin.add_call(server_id, call_id, meta)

    async def connect(self, port: int) -> ClientConnection:
        """Say hello and hand the daemon the calls to follow."""
        ws = await connect(f"ws://127.0.0.1:{port}", max_size=2**20)
        await ws.send(
            json.dumps(
                {
                    "type": "hello",
                    "protocol": 1,
                    "token": TOKEN,
                    "server_id": self.server_id,
                    "resource_version": "bench",
                }
            )
        )
        await ws.recv()
        tracks = [{"call_id": c, "subject": s} for c, s in self.calls.items()]
        await ws.send(json.dumps({"type": "sync", "tracks": tracks}))
        return ws

    def frame(self, g: float) -> str:
        """The positions frame at game time `g`, with velocities in real seconds."""
        items = []
        later = self.fleet.positions(g + 0.5)
        for (subject, x, y, z), (_, x2, y2, _) in zip(self.fleet.positions(g), later, strict=True):
            vx, vy = (x2 - x) * 2 * SPEEDUP, (y2 - y) * 2 * SPEEDUP
            items.append({"subject": subject, "x": x, "y": y, "z": z, "vx": vx, "vy": vy})
        return json.dumps({"type": "positions", "items": items})

    def errors(self, g: float) -> list[float]:
        """How far each subject is from where the CAD draws its call, at game time `g`."""
        found = []
        positions = self.fleet.positions(g)
        for (call_id, _), (_, x, y, _) in zip(self.calls.items(), positions, strict=True):
            drawn = drawn_at(self.standin.call(self.server_id, call_id)["metaData"])
            assert drawn is not None
            found.append(math.hypot(x - drawn[0], y - drawn[1]))
        return found


async def run(name: str, windows: float, budgets: dict[int, BudgetConfig]) -> Result:
    """Both game servers with their daemons for `windows` windows; measure the map."""
    async with CadStandIn(api_key=API_KEY, window=WINDOW) as standin:
        games = {sid: Game(sid, fleet, standin) for sid, fleet in SERVERS.items()}
        daemons = [build_daemon(config_for(standin, sid, budgets[sid])) for sid in games]
        for daemon in daemons:
            await daemon.start()
        sockets = [await games[d.config.cad.server_id].connect(d.port) for d in daemons]
        loop = asyncio.get_running_loop()
        start = loop.time()
        samples: dict[int, list[float]] = {sid: [] for sid in games}
        try:
            next_sample = start + WINDOW  # the first window fills the map; measure after it
            while (now := loop.time()) < start + (windows + 1) * WINDOW:
                g = (now - start) * SPEEDUP
                for ws, daemon in zip(sockets, daemons, strict=True):
                    await ws.send(games[daemon.config.cad.server_id].frame(g))
                if now >= next_sample:
                    for sid, game in games.items():
                        samples[sid].extend(game.errors(g))
                    next_sample += SAMPLE_EVERY
                await asyncio.sleep(FEED_EVERY)
        finally:
            end = loop.time()
            for ws in sockets:
                await ws.close()
            for daemon in daemons:
                await daemon.stop(grace=1.0)
        updates = [r.t for r in standin.requests if r.route == "update_call"]
        every = [e for found in samples.values() for e in found]
        return Result(
            name=name,
            most_in_window=most_in_window(updates, WINDOW),
            rate_limited=standin.rate_limited,
            updates=sum(1 for t in updates if start <= t < end),
            windows=(end - start) / WINDOW,
            errors={sid: sum(found) / len(found) for sid, found in samples.items()},
            overall=sum(every) / len(every),
        )


def budget(update_call: int, get_calls: int, shared_url: str = "") -> BudgetConfig:
    """The daemon's budget on the bench's window."""
    return BudgetConfig(
        window_seconds=WINDOW,
        margin_seconds=0.1,
        update_call=update_call,
        get_calls=get_calls,
        state_file="",
        shared_url=shared_url,
    )


def line(result: Result) -> str:
    """One result as a table row."""
    return (
        f"{result.name:<16} {result.most_in_window:>6} {result.rate_limited:>5} "
        f"{result.budget_used:>7.0%} {result.errors[1]:>9.1f} {result.errors[2]:>9.1f} "
        f"{result.overall:>9.1f}"
    )


async def main_async(windows: float, kinds: list[str]) -> int:
    """Run the baseline and each engine; print the table and the ratios."""
    results = [
        await run("static 5 + 5", windows, {1: budget(5, 3), 2: budget(5, 2)}),
    ]
    with tempfile.TemporaryDirectory(prefix="shared-bench-") as folder:
        for kind in kinds:
            if (why := missing(kind)) is not None:
                print(f"{kind}: skipped, {why}", file=sys.stderr)
                continue
            made: type[RedisServer | MariaDbServer] = (
                RedisServer if kind == "redis" else MariaDbServer
            )
            with made(Path(folder) / kind) as server:
                assert isinstance(server, RedisServer | MariaDbServer)
                shared = budget(10, 5, server.url)
                results.append(await run(f"shared ({kind})", windows, {1: shared, 2: shared}))
    print(
        f"Two game servers on one key: server 1 has 8 calls always driving, server 2 has 2 calls "
        f"mostly parked; {windows:g} windows of {WINDOW:g} s (one API minute each), world "
        f"{SPEEDUP:g}x, strict CAD stand-in of 10 updates / window.\n"
    )
    print(
        f"{'budget':<16} {'max/w':>6} {'429s':>5} {'used':>7} {'err s1 m':>9} {'err s2 m':>9} "
        f"{'err all m':>9}"
    )
    for result in results:
        print(line(result))
    base = results[0]
    failed = False
    for result in results[1:]:
        ratio = result.overall / base.overall
        cut = 1 - ratio
        print(
            f"ratio {result.name} / {base.name}: mean map error {ratio:.2f} "
            f"({cut:.0%} cut; target >= 25%)"
        )
        failed |= cut < 0.25 or result.rate_limited > 0 or result.most_in_window > 10
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments and run the benchmark."""
    parser = argparse.ArgumentParser(prog="python -m bench.shared_budget")
    parser.add_argument("--windows", type=float, default=8.0, help="windows measured per run")
    parser.add_argument("--engines", default="redis,mariadb", help="comma-separated engines")
    args = parser.parse_args(argv)
    configure("warning", "console", stream=sys.stderr)
    started = time.monotonic()
    with contextlib.suppress(KeyboardInterrupt):
        code = asyncio.run(main_async(args.windows, args.engines.split(",")))
        print(f"({time.monotonic() - started:.0f} s)")
        raise SystemExit(code)


if __name__ == "__main__":
    main()
