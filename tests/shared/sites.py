"""Daemons sharing one key through a real engine, each feeding moving calls from a game server.

A `Site` is a real `Daemon` (its own engine connection, listener and push loop) with a game
server connected over its websocket, tracking calls whose subjects move all the time, so every
daemon wants more than its part of the budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import msgspec
from conftest import API_KEY, TOKEN, Game, make_config
from websockets.asyncio.client import connect

from bridge.app import Daemon
from bridge.build import build_daemon
from bridge.config import Config
from bridge.standin.cad import CadStandIn

WINDOW = 2.0
"""The test window: 10 updates and 5 reads in any 2 s, on the stand-in as on the daemons."""
KEYS = {"postal": "100", "uuid": "shared-test"}
_ids = itertools.count(1000)


def shared_config(standin: CadStandIn, url: str, server_id: int, **budget: object) -> Config:
    """A daemon's config on the test window, sharing the key through `url`."""
    base = make_config(standin)
    return msgspec.structs.replace(
        base,
        cad=msgspec.structs.replace(base.cad, server_id=server_id),
        budget=msgspec.structs.replace(base.budget, shared_url=url, **budget),
    )


def strict_standin() -> CadStandIn:
    """The CAD: a 429 for any request beyond the limit in any window, whoever sent it."""
    return CadStandIn(api_key=API_KEY, window=WINDOW)


@dataclass
class Moving:
    """Subjects that move 20 m/s east from the moment they are tracked, all the time."""

    calls: dict[int, str]
    t0: float = 0.0

    def items(self, t: float) -> list[dict[str, float | str]]:
        """This moment's positions frame."""
        return [
            {"subject": subject, "x": 20.0 * (t - self.t0), "y": 100.0 * i, "z": 30.0}
            for i, subject in enumerate(self.calls.values())
        ]


async def feed(game: Game, moving: Moving, stop: asyncio.Event) -> None:
    """Send the subjects' positions ten times a second until `stop`."""
    loop = asyncio.get_running_loop()
    moving.t0 = loop.time()
    while not stop.is_set():
        await game.send(type="positions", items=moving.items(loop.time()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.1)


async def track(game: Game, standin: CadStandIn, server_id: int, count: int) -> Moving:
    """Create `count` calls on the CAD and track them (their metaData read from the CAD)."""
    calls = {next(_ids): f"player:{server_id}{i}" for i in range(count)}
    for call_id in calls:
        standin.add_call(server_id, call_id, dict(KEYS))
    await game.send(type="sync", tracks=[{"call_id": c, "subject": s} for c, s in calls.items()])
    return Moving(calls)


async def join(port: int, server_id: int) -> Game:
    """A game server connected to the daemon on `port`, past its welcome."""
    ws = await connect(f"ws://127.0.0.1:{port}", max_size=2**20)
    game = Game(ws)
    await game.send(
        type="hello", protocol=1, token=TOKEN, server_id=server_id, resource_version="test"
    )
    await game.expect("welcome")
    return game


@dataclass
class Fleet:
    """Running sites and their feeders, stopped together."""

    standin: CadStandIn
    daemons: list[Daemon] = field(default_factory=list)
    games: list[Game] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def site(self, config: Config, calls: int) -> Daemon:
        """Start a daemon with a game server feeding `calls` moving calls."""
        daemon = build_daemon(config)
        await daemon.start()
        self.daemons.append(daemon)
        await self.attach(daemon.port, config.cad.server_id, calls)
        return daemon

    async def attach(self, port: int, server_id: int, calls: int) -> None:
        """Connect a game server to the daemon on `port` and feed it moving calls."""
        game = await join(port, server_id)
        self.games.append(game)
        moving = await track(game, self.standin, server_id, calls)
        self.tasks.append(asyncio.create_task(feed(game, moving, self.stop)))

    async def close(self) -> None:
        """Stop feeding, close the games and stop the daemons."""
        self.stop.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for game in self.games:
            await game.ws.close()
        for daemon in self.daemons:
            await daemon.stop(grace=1.0)


@contextlib.asynccontextmanager
async def fleet() -> AsyncIterator[Fleet]:
    """A strict stand-in and the sites started against it, all stopped afterwards."""
    async with strict_standin() as standin:
        running = Fleet(standin)
        try:
            yield running
        finally:
            await running.close()


def arrivals(standin: CadStandIn, route: str = "update_call") -> list[float]:
    """When each request of `route` reached the stand-in."""
    return [r.t for r in standin.requests if r.route == route]


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Poll until `condition()` holds."""
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.02)
