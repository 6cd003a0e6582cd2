"""The one rig: a real daemon on loopback, in front of the real CAD stand-in, and game servers.

`build_daemon` is the one place a `Daemon` is built from a config, for every test and
benchmark; `Rigs` starts stand-in + daemon pairs and stops them all afterwards; `Game` speaks
protocol v1 to the daemon as the resource would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.kit.cad import API_KEY
from bridge.app import Daemon
from bridge.config import BudgetConfig, CadConfig, Config, ListenConfig, TrackingConfig
from bridge.pusher import Cad, Wait, wait_for_input
from bridge.scheduler import Policy
from bridge.standin.cad import CadStandIn

TOKEN = "test-shared-token-0123456789"
SHORT_WINDOW = 2.0
"""Rigs run the real budget on a short window, so a minute's behaviour fits in seconds."""


def make_config(standin: CadStandIn | str, **tracking: Any) -> Config:
    """A config pointing at the stand-in (or a URL), with the short window and `tracking`
    overrides."""
    url = standin if isinstance(standin, str) else standin.url
    return Config(
        cad=CadConfig(api_url=url, api_key=API_KEY, timeout_seconds=1.0),
        listen=ListenConfig(port=0, token=TOKEN, hello_timeout_seconds=1.0),
        budget=BudgetConfig(window_seconds=SHORT_WINDOW, margin_seconds=0.1, state_file=""),
        tracking=TrackingConfig(**{"min_move": 1.0, "max_stale_seconds": 10.0, **tracking}),
    )


def build_daemon(
    config: Config,
    *,
    cad: Cad | None = None,
    clock: Callable[[], float] | None = None,
    policy: Policy | None = None,
    wait: Wait = wait_for_input,
) -> Daemon:
    """The daemon a config describes (the one place tests and benchmarks build one)."""
    if clock is None:
        return Daemon(config, cad=cad, policy=policy, wait=wait)
    return Daemon(config, cad=cad, clock=clock, policy=policy, wait=wait)


class Game:
    """A websocket client speaking protocol v1 as the resource would; reads in the background."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in self.ws:
                self.inbox.put_nowait(json.loads(frame))

    async def send(self, **message: Any) -> None:
        """Send one JSON frame."""
        await self.ws.send(json.dumps(message))

    async def expect(
        self,
        kind: str,
        timeout: float = 5.0,  # noqa: ASYNC109 - one bound per expectation reads best in a test
        **match: Any,
    ) -> dict[str, Any]:
        """The next frame of `kind` (with matching fields), skipping others."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.inbox.get()
                self.seen.append(message)
                if message.get("type") == kind and all(
                    message.get(k) == v for k, v in match.items()
                ):
                    return message


@dataclass
class Running:
    """A daemon and its CAD stand-in, both listening on loopback."""

    bridge: Daemon
    standin: CadStandIn
    token: str = TOKEN
    server_id: int = 1
    clients: list[ClientConnection] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The daemon's websocket URL."""
        return f"ws://127.0.0.1:{self.bridge.port}"

    async def game(self, server_id: int | None = None, token: str | None = None) -> Game:
        """A connected game server that has said hello and read the welcome."""
        ws = await connect(self.url, max_size=2**20)
        self.clients.append(ws)
        game = Game(ws)
        await game.send(
            type="hello",
            protocol=1,
            token=self.token if token is None else token,
            server_id=server_id or self.server_id,
            resource_version="test",
        )
        welcome = await game.expect("welcome")
        assert welcome["protocol"] == 1
        return game

    async def stop(self) -> None:
        """Close the game links, stop the daemon, then the stand-in."""
        for ws in self.clients:
            await ws.close()
        await self.bridge.stop(grace=1.0)
        await self.standin.stop()


class Rigs:
    """Starts stand-in + daemon pairs; `stop_all` stops every one it started."""

    def __init__(self) -> None:
        self.started: list[Running] = []

    async def __call__(
        self,
        *,
        configure: Callable[[CadStandIn], Config] | None = None,
        standin: CadStandIn | None = None,
        prepare: Callable[[Daemon], None] | None = None,
        api_key: str = API_KEY,
        window: float = SHORT_WINDOW,
        **tracking: Any,
    ) -> Running:
        """A started daemon in front of a started stand-in (`configure` makes its config from
        the listening stand-in; `prepare` sees the daemon before it starts). The stand-in takes
        `api_key` and its rate-limit `window`; `standin`, when given instead, must not be
        listening yet."""
        if standin is None:
            standin = CadStandIn(api_key=api_key, window=window)
        await standin.start()
        config = configure(standin) if configure else make_config(standin, **tracking)
        daemon = build_daemon(config)
        if prepare is not None:
            prepare(daemon)
        await daemon.start()
        running = Running(daemon, standin)
        self.started.append(running)
        return running

    async def stop_all(self) -> None:
        """Stop every pair started, newest last."""
        for running in self.started:
            await running.stop()
        self.started.clear()
