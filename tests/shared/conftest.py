"""Real Redis and MariaDB servers for the shared-budget tests, started once per session.

A missing binary skips these tests with the reason on a developer's machine, and fails them in
CI (CI=true), where .ci/run installs both: CI never passes by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bench.kit_services import MariaDbServer, RedisServer, missing
from bridge.build import open_engine
from bridge.shared.engine import Engine, keyspace
from bridge.shared.url import parse


def _server(kind: str, folder: Path) -> Iterator[RedisServer | MariaDbServer]:
    why = missing(kind)
    if why is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the {kind} tests: {why}")
        pytest.skip(why)
    server = RedisServer(folder) if kind == "redis" else MariaDbServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer | MariaDbServer]:
    """A redis-server on a unix socket for the whole session."""
    yield from _server("redis", tmp_path_factory.mktemp("redis"))


@pytest.fixture(scope="session")
def mariadb_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RedisServer | MariaDbServer]:
    """A mariadbd on a unix socket for the whole session."""
    yield from _server("mariadb", tmp_path_factory.mktemp("mariadb"))


@pytest.fixture(params=["redis", "mariadb"])
def server(request: pytest.FixtureRequest) -> RedisServer | MariaDbServer:
    """Each real engine in turn."""
    found: RedisServer | MariaDbServer = request.getfixturevalue(f"{request.param}_server")
    return found


def fresh_space() -> str:
    """A keyspace no other test uses (each test is an API key of its own)."""
    return keyspace("http://test", uuid.uuid4().hex)


@pytest.fixture(params=["fakeredis", "redis", "mariadb"])
async def engines(request: pytest.FixtureRequest) -> AsyncIterator[list[Engine]]:
    """Three daemons' connections to one engine, on a key of their own."""
    space = fresh_space()
    made: list[Engine] = []
    if request.param == "fakeredis":
        import fakeredis

        from bridge.shared.redis_budget import RedisEngine

        shared = fakeredis.FakeServer()
        for i in range(3):
            client = fakeredis.FakeAsyncRedis(server=shared)
            made.append(RedisEngine.from_client(client, space, member=f"d{i}"))
    else:
        found: RedisServer | MariaDbServer = request.getfixturevalue(f"{request.param}_server")
        location = parse(found.url)
        made = [open_engine(location, space, member=f"d{i}") for i in range(3)]
    yield made
    for engine in made:
        await engine.close()
