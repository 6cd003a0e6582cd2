"""A daemon serving from a thread of its own, and game server connections that probe it.

`LiveDaemon` runs the CAD stand-in and the daemon on an event loop in a background thread, so a
plain (synchronous) hypothesis test can talk to them over real sockets. `Probe` is one game
server connection that sends a frame, then a sentinel whose error marks the end of the answer.
`served_during_flood` and `dropped_after` run on the daemon's loop and time how it treats a
flooding server and clients that go quiet.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from websockets.asyncio.client import connect as connect_async
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from bench.kit import Rigs, until
from bench.rig import API_KEY, TOKEN, Pace

T = TypeVar("T")


class LiveDaemon:
    """The CAD stand-in and the daemon, served from an event loop on a background thread."""

    def __init__(self, pace: Pace | None = None) -> None:
        self.pace = pace or Pace()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.loop_errors: list[str] = []

    def __enter__(self) -> LiveDaemon:
        self._loop.set_exception_handler(lambda _, ctx: self.loop_errors.append(ctx["message"]))
        self._thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.run(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        self.running = await Rigs()(
            api_key=API_KEY,
            window=self.pace.window,
            configure=lambda standin: self.pace.config(standin.url),
        )
        self.standin, self.daemon = self.running.standin, self.running.bridge
        self.url = self.running.url

    async def _stop(self) -> None:
        await self.running.stop()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the daemon's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(30)

    def call(self, fn: Callable[[], T]) -> T:
        """Call `fn` on the daemon's loop (where its state may be read safely)."""

        async def wrapped() -> T:
            return fn()

        return self.run(wrapped())

    def state(self, server_id: int) -> list[tuple[Any, ...]]:
        """What the daemon tracks for one game server: calls and their subjects' fixes."""

        def read() -> list[tuple[Any, ...]]:
            tracker = self.daemon.tracker
            return sorted(
                (c.call_id, c.subject, c.radius, c.meta, tracker.fix_of(c))
                for c in tracker.calls_of(server_id)
            )

        return self.call(read)

    def alive(self) -> bool:
        """The push loop runs, the listener answers, nothing blew up unseen on the loop."""
        task = self.daemon._push_task
        if task is None or task.done() or self.loop_errors:
            return False
        try:
            with Probe(self.url, server_id=2**31):
                return True
        except (OSError, ConnectionClosed, TimeoutError):
            return False


class Probe:
    """One game server connection that sends frames and collects the errors they draw."""

    def __init__(self, url: str, server_id: int, token: str = TOKEN) -> None:
        self.url = url
        self.server_id = server_id
        self.token = token
        self._sent = 0

    def __enter__(self) -> Probe:
        self.ws: ClientConnection = connect(
            self.url, proxy=None, compression=None, max_size=2**20, open_timeout=5, legacy=True
        )
        hello = {"type": "hello", "protocol": 1, "token": self.token, "server_id": self.server_id}
        self.ws.send(json.dumps(hello))
        welcome = json.loads(self.ws.recv(5))
        if welcome.get("type") != "welcome":
            raise ConnectionError(f"not welcomed: {welcome}")
        return self

    def __exit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError, ConnectionClosed):
            self.ws.close()

    def send(self, message: dict[str, Any]) -> None:
        """Send a good message."""
        self.ws.send(json.dumps(message))

    def errors_for(self, frame: str | bytes, timeout: float = 5.0) -> list[str]:
        """Send `frame`, then a sentinel; the error messages that came before the sentinel's."""
        self._sent += 1
        mark = f"sentinel-{self._sent}"
        self.ws.send(frame)
        self.ws.send(json.dumps({"type": mark}))
        errors: list[str] = []
        while True:
            message = json.loads(self.ws.recv(timeout))
            if message.get("type") != "error":
                continue
            if mark in message["message"]:
                return errors
            errors.append(str(message["message"]))


def settle_bystander(live: LiveDaemon, probe: Probe, calls: tuple[int, ...]) -> None:
    """Have `probe`'s game server follow `calls`, each pushed once, then left at rest."""
    meta = {"postal": "9002", "uuid": "u-1"}
    for call_id in calls:
        live.call(functools.partial(live.standin.add_call, probe.server_id, call_id, dict(meta)))
    tracks = [{"call_id": c, "subject": f"player:{c}", "meta": meta} for c in calls]
    probe.send({"type": "sync", "tracks": tracks})
    items = [{"subject": f"player:{c}", "x": 100.0 * c, "y": 5.0, "z": 1.0} for c in calls]
    probe.send({"type": "positions", "items": items})
    pushed: set[int] = set()
    while pushed != set(calls):
        message = json.loads(probe.ws.recv(10))
        if message.get("type") == "call_state" and message["state"] == "pushed":
            pushed.add(message["call_id"])


async def _hello(url: str, server_id: int, **options: Any) -> Any:
    ws = await connect_async(url, proxy=None, compression=None, **options)
    hello = {"type": "hello", "protocol": 1, "token": TOKEN, "server_id": server_id}
    await ws.send(json.dumps(hello))
    welcome = json.loads(await ws.recv())
    if welcome.get("type") != "welcome":
        raise ConnectionError(f"not welcomed: {welcome}")
    return ws


async def served_during_flood(live: LiveDaemon, frames: int = 15_000) -> tuple[float, int]:
    """One server floods bad frames; seconds until another's track is answered meanwhile, and
    how many flood frames the daemon had read by then. Runs on the daemon's loop."""
    noisy = await _hello(live.url, 5)
    quiet = await _hello(live.url, 6)
    garbage = ['{"type": "positions", "items": [{"subject": "s", "x": NaN}]}', "garbage", b"\x00"]

    async def flood() -> None:
        for i in range(frames):
            await noisy.send(garbage[i % 3])

    flooding = asyncio.create_task(flood())
    links = live.daemon.listener.links
    await until(lambda: links[5].frames >= 200)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await quiet.send(json.dumps({"type": "track", "call_id": 601, "subject": "p"}))
    async for frame in quiet:
        if json.loads(frame).get("call_id") == 601:
            break
    took, read = loop.time() - started, links[5].frames
    await quiet.send(json.dumps({"type": "untrack", "call_id": 601}))
    await flooding
    await noisy.close()
    await quiet.close()
    return took, read


async def dropped_after(live: LiveDaemon, how: str) -> float:
    """Seconds until the daemon drops a client that says nothing after connecting ("silent"),
    nothing after its hello ("idle"), or keeps sending but never reads again ("deaf")."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    if how == "silent":
        ws = await connect_async(live.url, proxy=None)
        await ws.wait_closed()
        return loop.time() - started
    server_id = {"idle": 7, "deaf": 8}[how]
    ws = await _hello(live.url, server_id, ping_interval=None)
    links = live.daemon.listener.links
    if how == "deaf":
        ws.transport.pause_reading()

    async def chatter() -> None:
        with contextlib.suppress(ConnectionClosed):
            while how == "deaf":
                await ws.send(json.dumps({"type": "untrack", "call_id": 1}))
                await asyncio.sleep(0.01)

    chatting = asyncio.create_task(chatter())
    await until(lambda: server_id not in links, within=60)
    chatting.cancel()
    ws.transport.abort()
    return loop.time() - started
