"""Fixtures for the FiveM resource: the real .lua files under lupa, and transport.js under Node."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from .fake_daemon import FakeDaemon
from .fivem import FakeServer
from .node_transport import NODE, NodeTransport

TOKEN = "s3cret"


@pytest.fixture
def make_server() -> Iterator[Callable[..., FakeServer]]:
    """Start the resource with convars (a token by default); fails the test on any Lua error."""
    servers: list[FakeServer] = []

    def make(start: bool = True, **convars: Any) -> FakeServer:
        settings = {"sonoran_bridge_token": TOKEN, **convars}
        server = FakeServer({k: v for k, v in settings.items() if v is not None})
        servers.append(server)
        return server.start() if start else server

    yield make
    for server in servers:
        assert server.errors == [], server.errors


@pytest.fixture
def server(make_server: Callable[..., FakeServer]) -> FakeServer:
    """The resource started with a token and default settings."""
    return make_server()


@pytest.fixture
def linked(server: FakeServer) -> FakeServer:
    """The resource with the daemon link up and player 12 online."""
    server.add_player(12, (100.0, 200.0, 30.0))
    server.link_up()
    server.sent()
    return server


requires_node = pytest.mark.skipif(
    NODE is None, reason="node is not installed: the JS transport tests need it"
)


@pytest.fixture
async def fake_daemon() -> AsyncIterator[FakeDaemon]:
    daemon = await FakeDaemon(TOKEN).start()
    yield daemon
    await daemon.stop()
    assert daemon.protocol_errors == [], daemon.protocol_errors


@pytest.fixture
async def run_transport() -> AsyncIterator[Callable[..., Any]]:
    """Start transport.js with convars; each is stopped at the end of the test."""
    started: list[NodeTransport] = []

    async def run(convars: dict[str, Any], **options: Any) -> NodeTransport:
        transport = await NodeTransport.start(convars, **options)
        started.append(transport)
        return transport

    yield run
    for transport in started:
        await transport.stop()
        assert transport.errors() == [], transport.errors()
