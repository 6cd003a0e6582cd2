"""Where unix sockets or geteuid are missing (Windows), the test engines listen on loopback TCP."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from bench import kit_services
from bench.kit_services import MariaDbServer, RedisServer, missing
from bridge.build import open_engine
from bridge.shared.engine import Reservation, Terms, keyspace
from bridge.shared.url import parse

TERMS = Terms(limit=2, window=1.0, hold=2.0)


@pytest.mark.parametrize("kind", ["redis", "mariadb"])
async def test_without_af_unix_each_engine_serves_on_loopback_tcp(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if (why := missing(kind)) is not None:
        pytest.skip(why)
    monkeypatch.delattr(socket, "AF_UNIX")
    server = RedisServer(tmp_path) if kind == "redis" else MariaDbServer(tmp_path)
    assert server.tcp and server.url.split("://")[1].split("@")[-1].startswith("127.0.0.1:")
    with server:
        assert not server.socket.exists()
        engine = open_engine(parse(server.url), keyspace("http://t", kind))
        try:
            assert isinstance(await engine.reserve("update_call", TERMS), Reservation)
        finally:
            await engine.close()


def test_without_geteuid_mariadbd_is_not_asked_to_run_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delattr(os, "geteuid")
    command = MariaDbServer(tmp_path, tcp=True)._command()
    assert "--user=root" not in command
    assert "--skip-networking" not in command and "--bind-address=127.0.0.1" in command


def test_signals_missing_on_the_platform_are_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = RedisServer(tmp_path, tcp=True)
    server.process = object()  # type: ignore[assignment]  # any process will do: freeze fails on the missing signal before it signals one
    monkeypatch.delattr(kit_services.signal, "SIGSTOP")
    with pytest.raises(NotImplementedError, match="SIGSTOP does not exist"):
        server.freeze()
