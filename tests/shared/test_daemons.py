"""The proofs on real servers: daemons on one key through a real mariadbd or redis-server, in
front of one strict CAD stand-in that answers 429 to any request beyond the limit in any window.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import API_KEY, TOKEN
from structlog.testing import capture_logs

from bench.kit import free_port
from bridge.shared.engine import keyspace, open_engine
from bridge.shared.gate import ENGINE_TIMEOUT, UPDATE, terms_for
from bridge.shared.url import parse
from bridge.standin.cad import Fault
from bridge.standin.engines import MariaDbServer, RedisServer, missing
from bridge.standin.window import most_in_window
from shared.sites import (
    WINDOW,
    arrivals,
    fleet,
    join,
    shared_config,
    track,
    until,
)

Server = RedisServer | MariaDbServer
TERMS = terms_for(10, WINDOW, 0.1, 1.0, ENGINE_TIMEOUT)
"""The update route's terms as the test daemons take them."""
UNREACHABLE = (
    "shared budget unreachable: sending nothing until it answers; positions keep coalescing"
)


async def test_three_daemons_keep_to_the_limit_together(server: Server) -> None:
    async with fleet() as running:
        for server_id in (1, 2, 3):
            await running.site(shared_config(running.standin, server.url, server_id), calls=4)
        await asyncio.sleep(3 * WINDOW)
        standin = running.standin
        assert standin.rate_limited == 0
        assert most_in_window(arrivals(standin), WINDOW) <= 10
        assert most_in_window(arrivals(standin, "get_calls"), WINDOW) <= 5
        # The budget was used, by every daemon: shared, not idled.
        assert len(arrivals(standin)) >= 20
        assert all(daemon.tally.pushes > 0 for daemon in running.daemons)
        for daemon in running.daemons:
            assert daemon.status()["shared"]["state"] == "up"


async def test_without_the_shared_budget_three_daemons_draw_429s() -> None:
    async with fleet() as running:
        for server_id in (1, 2, 3):
            await running.site(shared_config(running.standin, "", server_id), calls=4)
        await until(lambda: running.standin.rate_limited > 0, within=2 * WINDOW)


def _start_daemon(
    tmp_path: Path, standin_url: str, shared_url: str, port: int
) -> subprocess.Popen[str]:
    config = tmp_path / "daemon.toml"
    config.write_text(
        f'[cad]\napi_url = "{standin_url}"\napi_key = "{API_KEY}"\nserver_id = 3\n'
        "timeout_seconds = 1.0\n"
        f'[listen]\nport = {port}\ntoken = "{TOKEN}"\n'
        f'[budget]\nwindow_seconds = {WINDOW}\nmargin_seconds = 0.1\nstate_file = ""\n'
        f'shared_url = "{shared_url}"\n'
        "[tracking]\nmin_move = 1.0\nmax_stale_seconds = 10.0\n"
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bridge", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def test_a_daemon_killed_mid_request_leaves_the_others_going_and_its_slot_comes_back(
    server: Server, tmp_path: Path
) -> None:
    async with fleet() as running:
        standin = running.standin
        standin.inject(Fault("hang"), route="update_call")
        port = free_port()
        process = _start_daemon(tmp_path, standin.url, server.url, port)
        try:
            await until(lambda: _listening(port), within=15.0)
            game = await join(port, 3)
            running.games.append(game)
            moving = await track(game, standin, 3, 1)
            await game.send(type="positions", items=moving.items(0.0))
            await until(lambda: any(r.route == UPDATE for r in standin.requests))
            os.kill(process.pid, signal.SIGKILL)  # mid-request: the PATCH hangs unanswered
            killed = asyncio.get_running_loop().time()
        finally:
            process.kill()
            process.communicate(timeout=10)
        hung = [r for r in standin.requests if r.route == UPDATE]
        assert len(hung) == 1 and hung[0].status is None
        for server_id in (1, 2):
            await running.site(shared_config(standin, server.url, server_id), calls=4)
        await asyncio.sleep(1.5)
        for daemon in running.daemons:
            await daemon.stop(grace=1.0)
        running.daemons.clear()
        assert standin.rate_limited == 0
        assert most_in_window(arrivals(standin), WINDOW) <= 10
        assert len(arrivals(standin)) > 5  # the others went on
        # Once the survivors' slots have run out, the dead daemon's still counts: it holds
        # its reservation until the hold is over, then a window more, and no longer.
        terms = TERMS
        engine = open_engine(parse(server.url), keyspace(standin.url, API_KEY))
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(terms.window + 2.0):
                while await engine.used(UPDATE, terms) != 1:
                    await asyncio.sleep(0.05)
            expires = killed + terms.hold + terms.window
            assert loop.time() < expires
            await asyncio.sleep(max(0.0, expires - loop.time()) + 0.2)
            assert await engine.used(UPDATE, terms) == 0
        finally:
            await engine.close()


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


@pytest.fixture(params=["redis", "mariadb"])
def own_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    """A server of this test's own, to stop and start again."""
    if (why := missing(request.param)) is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the {request.param} tests: {why}")
        pytest.skip(why)
    made = RedisServer(tmp_path) if request.param == "redis" else MariaDbServer(tmp_path)
    with made:
        yield made


async def test_the_engine_away_nothing_is_sent_and_all_resume_when_it_is_back(
    own_server: Server,
) -> None:
    async with fleet() as running:
        standin = running.standin
        for server_id in (1, 2):
            await running.site(shared_config(standin, own_server.url, server_id), calls=4)
        await until(lambda: len(arrivals(standin)) >= 10, within=3 * WINDOW)
        with capture_logs() as logged:
            own_server.stop()
            await asyncio.sleep(0.3)  # a request reserved just before may still be leaving
            sent = len(standin.requests)
            await asyncio.sleep(1.5 * WINDOW)
            assert len(standin.requests) == sent  # fail closed: no request without a slot
            for daemon in running.daemons:
                assert daemon.status()["shared"]["state"] == "unreachable"
                assert daemon.positions_received > 0  # still coalescing
            own_server.start()
            # A Redis without persistence comes back empty: a window plus the hold of waiting.
            await until(lambda: len(standin.requests) > sent + 3, within=TERMS.hold + 3 * WINDOW)
        events = [e["event"] for e in logged]
        assert events.count(UNREACHABLE) == 2  # one line per daemon for the whole outage
        assert events.count("resolved") >= 2
        # Stopped and started at once, between requests: a Redis without persistence forgets
        # the window, the daemons notice the new state and wait it out, so no 429.
        await until(lambda: most_in_window(arrivals(standin)[-10:], WINDOW) >= 8, within=3 * WINDOW)
        own_server.stop()
        own_server.start()
        before = len(standin.requests)
        await until(lambda: len(standin.requests) > before + 5, within=TERMS.hold + 3 * WINDOW)
        assert standin.rate_limited == 0
        assert most_in_window(arrivals(standin), WINDOW) <= 10
        for daemon in running.daemons:
            assert daemon.status()["shared"]["state"] == "up"
