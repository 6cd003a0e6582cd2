"""Shared fixtures: a real daemon on loopback, in front of the real CAD stand-in."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bridge import logs
from bridge.app import Daemon
from bridge.build import build_daemon
from bridge.config import BudgetConfig, CadConfig, Config, ListenConfig, TrackingConfig
from bridge.standin.cad import CadStandIn

API_KEY = "test-api-key-0123456789abcdef"
TOKEN = "test-shared-token-0123456789"
WINDOW = 2.0
"""Tests run the real budget on a short window, so a minute's behaviour fits in seconds."""



@pytest.fixture(autouse=True)
def _secrets_registered_by_a_test_end_with_it() -> Iterator[None]:
    """The log scrubber's secrets are process-wide: one test's key must not mask another's text
    (a one-letter key registered by one test turned every 'k' of later pages into '***')."""
    before = set(logs._secrets)
    yield
    logs._secrets.clear()
    logs._secrets.update(before)

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

    async def expect(self, kind: str, timeout: float = 5.0, **match: Any) -> dict[str, Any]:
        """The next frame of `kind` (with matching fields), skipping others."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.inbox.get()
                self.seen.append(message)
                if message.get("type") == kind and all(
                    message.get(k) == v for k, v in match.items()
                ):
                    return message


def make_config(standin: CadStandIn, **tracking: Any) -> Config:
    """A config pointing at the stand-in, with the test window."""
    return Config(
        cad=CadConfig(api_url=standin.url, api_key=API_KEY, timeout_seconds=1.0),
        listen=ListenConfig(port=0, token=TOKEN, hello_timeout_seconds=1.0),
        budget=BudgetConfig(window_seconds=WINDOW, margin_seconds=0.1, state_file=""),
        tracking=TrackingConfig(**{"min_move": 1.0, "max_stale_seconds": 10.0, **tracking}),
    )


MakeDaemon = Callable[..., Awaitable[Running]]


@pytest.fixture
async def make_daemon() -> AsyncIterator[MakeDaemon]:
    """Start daemons (with config tweaks) that are stopped after the test."""
    started: list[Running] = []

    async def make(
        *, configure: Callable[[CadStandIn], Config] | None = None, **tracking: Any
    ) -> Running:
        standin = CadStandIn(api_key=API_KEY, window=WINDOW)
        await standin.start()
        config = configure(standin) if configure else make_config(standin, **tracking)
        daemon = build_daemon(config)
        await daemon.start()
        running = Running(daemon, standin)
        started.append(running)
        return running

    yield make
    for running in started:
        for ws in running.clients:
            await ws.close()
        await running.bridge.stop(grace=1.0)
        await running.standin.stop()


@pytest.fixture
async def daemon(make_daemon: MakeDaemon) -> Running:
    """A running daemon in front of a CAD stand-in with a 2 s window of 10 updates."""
    return await make_daemon()
