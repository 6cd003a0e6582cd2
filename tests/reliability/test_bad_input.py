"""Garbage on the socket: every bad frame draws an `error` naming the problem, the daemon lives
on, no connection's tracked state moves, and no client can starve or hold the others.

The frames come from `bench.frames.KINDS` (hypothesis strategies), sent to a daemon that serves
from its own thread while another game server's calls sit beside the prober's connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator

import pytest
from conftest import API_KEY, Game, MakeDaemon, Running, make_config
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from bench.frames import KINDS, check, oversized
from bench.kit import until
from bench.live import LiveDaemon, Probe, settle_bystander
from bridge.config import Config, ListenConfig
from bridge.standin.cad import CadStandIn

BYSTANDER = 1
"""The game server whose calls must never change."""
PROBER = 2
"""The game server that sends the bad frames; its own state must stay empty."""
ODD = 3
"""The game server that sends the odd but valid frames."""
OVERSIZED = 4
"""The game server whose connections the oversized batches close (one id per live link)."""
META = {"postal": "9002", "uuid": "u-1"}
EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def live() -> Iterator[LiveDaemon]:
    with LiveDaemon() as daemon:
        # The probes here wait on hypothesis between frames, for seconds on a loaded machine;
        # idleness is not what these tests are about (the quiet-client tests below are).
        daemon.call(lambda: setattr(daemon.daemon.listener, "idle_timeout", 120.0))
        yield daemon


@pytest.fixture(scope="module")
def bystander(live: LiveDaemon) -> Iterator[Probe]:
    """A game server following three calls, each pushed once and then at rest."""
    with Probe(live.url, BYSTANDER) as probe:
        settle_bystander(live, probe, (11, 12, 13))
        yield probe


@pytest.fixture(scope="module")
def prober(live: LiveDaemon) -> Iterator[Probe]:
    with Probe(live.url, PROBER) as probe:
        yield probe


@pytest.fixture(scope="module")
def odd(live: LiveDaemon) -> Iterator[Probe]:
    with Probe(live.url, ODD) as probe:
        yield probe


@pytest.mark.parametrize("kind", [k for k in KINDS if "(valid)" not in k])
@EXAMPLES
@given(data=st.data())
def test_every_bad_frame_draws_an_error_naming_it_and_changes_nothing(
    live: LiveDaemon, bystander: Probe, prober: Probe, kind: str, data: st.DataObject
) -> None:
    before = live.state(BYSTANDER)
    bad = data.draw(KINDS[kind])
    problem = check(bad, prober.errors_for(bad.frame))
    assert problem is None, problem
    assert live.state(PROBER) == []
    assert live.state(BYSTANDER) == before


@pytest.mark.parametrize("kind", [k for k in KINDS if "(valid)" in k])
@EXAMPLES
@given(data=st.data())
def test_odd_but_valid_frames_pass_without_an_error(
    live: LiveDaemon, bystander: Probe, odd: Probe, kind: str, data: st.DataObject
) -> None:
    before = live.state(BYSTANDER)
    frame = data.draw(KINDS[kind])
    problem = check(frame, odd.errors_for(frame.frame))
    assert problem is None, problem
    assert live.state(BYSTANDER) == before


def test_the_daemon_is_alive_after_all_that(live: LiveDaemon, bystander: Probe) -> None:
    assert live.alive()
    assert [c[0] for c in live.state(BYSTANDER)] == [11, 12, 13]


@pytest.mark.parametrize("kind", ["positions", "sync"])
def test_an_oversized_batch_closes_only_its_connection_with_1009(
    live: LiveDaemon, bystander: Probe, kind: str
) -> None:
    before = live.state(BYSTANDER)
    with Probe(live.url, OVERSIZED) as probe:
        probe.ws.send(oversized(kind))
        with pytest.raises(ConnectionClosed) as closed:
            probe.ws.recv(5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert "exceeds limit" in closed.value.rcvd.reason
    assert live.state(BYSTANDER) == before
    assert live.alive()


# -- floods and clients that go quiet ------------------------------------------------------


async def chatty(game: Game) -> None:
    """Keep a connection busy as the resource does, a batch of positions each tick."""
    while True:
        await game.send(type="positions", items=[{"subject": "player:7", "x": 1, "y": 2, "z": 3}])
        # Real sleep: the resource's tick, in real time: the daemon's idle timer is real.
        await asyncio.sleep(0.2)


def short_idle(standin: CadStandIn) -> Config:
    config = make_config(standin)
    config.listen = ListenConfig(
        port=0, token=config.listen.token, hello_timeout_seconds=1.0, idle_timeout_seconds=1.0
    )
    return config


async def test_a_flood_of_bad_frames_does_not_starve_another_server(daemon: Running) -> None:
    daemon.standin.add_call(1, 501, dict(META))
    noisy = await daemon.game(server_id=4)
    quiet = await daemon.game(server_id=1)
    frames = ['{"type": "positions", "items": [{"subject": "s", "x": NaN}]}', "garbage", b"\x00"]

    async def flood() -> None:
        for i in range(15_000):
            await noisy.ws.send(frames[i % 3])

    flooding = asyncio.create_task(flood())
    links = daemon.bridge.listener.links
    await until(lambda: links[4].frames >= 200)
    await quiet.send(type="track", call_id=501, subject="player:1", meta=META)
    await quiet.send(type="positions", items=[{"subject": "player:1", "x": 10, "y": 20, "z": 0}])
    await quiet.expect("call_state", call_id=501, state="pushed", timeout=5.0)
    assert links[4].frames < 15_000  # answered while the flood was still going
    await flooding
    await until(lambda: links[4].frames >= 15_000, within=10)
    assert links[4].errors == links[4].frames  # every frame of the flood was refused
    assert daemon.standin.call(1, 501)["metaData"]["postal"] == "9002"


async def test_a_client_that_says_nothing_is_dropped_without_touching_others(
    make_daemon: MakeDaemon,
) -> None:
    running = await make_daemon(configure=short_idle)
    other = await running.game(server_id=1)
    busy = asyncio.create_task(chatty(other))
    async with connect(running.url) as silent:
        await asyncio.wait_for(silent.wait_closed(), 5)  # the hello timeout
        assert silent.close_code == 1008
    hello = {"type": "hello", "protocol": 1, "token": running.token, "server_id": 2}
    async with connect(running.url) as idle:
        await idle.send(json.dumps(hello))
        assert json.loads(await idle.recv())["type"] == "welcome"
        await asyncio.wait_for(idle.wait_closed(), 5)  # the idle timeout: nothing after hello
        assert idle.close_code == 1001
    await other.send(type="track", call_id=7, subject="player:7")
    await other.expect("call_state", call_id=7, state="following")
    busy.cancel()


async def test_a_client_that_stops_reading_is_dropped_without_touching_others(
    make_daemon: MakeDaemon,
) -> None:
    running = await make_daemon(configure=short_idle)
    other = await running.game(server_id=1)
    busy = asyncio.create_task(chatty(other))
    deaf = await connect(running.url, ping_interval=None)
    await deaf.send(json.dumps({"type": "hello", "protocol": 1, "token": running.token,
                                "server_id": 2}))
    assert json.loads(await deaf.recv())["type"] == "welcome"
    deaf.transport.pause_reading()  # still sending, never reading again: pings go unanswered

    async def chatter() -> None:
        with contextlib.suppress(ConnectionClosed):
            while True:
                await deaf.send(json.dumps({"type": "untrack", "call_id": 1}))
                # Real sleep: a deaf client still sending, paced in real time as its socket is real.
                await asyncio.sleep(0.01)

    chatting = asyncio.create_task(chatter())
    links = running.bridge.listener.links
    # A ping each idle time (1 s), unanswered within another.
    await until(lambda: 2 not in links, within=4)
    chatting.cancel()
    await other.send(type="track", call_id=7, subject="player:7")
    await other.expect("call_state", call_id=7, state="following")
    busy.cancel()
    deaf.transport.abort()


def test_the_api_key_is_not_in_any_error(live: LiveDaemon) -> None:
    assert API_KEY not in " ".join(str(e) for e in live.loop_errors)
