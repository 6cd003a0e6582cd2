"""The whole product on loopback, with the measurements every reliability scenario shares.

A `Rig` is the CAD stand-in, the real `Daemon`, and a `Feeder` that plays the game server's
resource (hello, sync, positions every tick, reconnects). Time runs `Pace.speedup` times faster
than in production: the budget window, the client timeout, the back-offs and the refetch
interval are all divided by it, so a 60 s window lasts 2 s at 30x. `Rig.outcome` sums a run up
as an `Outcome`: crashes, 429s of the daemon's own making, metaData keys lost, how long every
call took to converge, and how often the push loop looked at its planner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from bench.kit import Rigs
from bridge.app import Daemon
from bridge.config import BudgetConfig, CadConfig, Config, ListenConfig, TrackingConfig
from bridge.meta import drawn_at
from bridge.outcomes import Meta
from bridge.planner import Planner
from bridge.standin.cad import CadStandIn
from bridge.standin.routes import Fleet

API_KEY = "reliability-api-key-5f2c9a7e41d8b3"
TOKEN = "reliability-token-93be10c4a7"
SERVER_ID = 1
FIRST_CALL = 701
MIN_MOVE = 1.0


def given_meta(call_id: int) -> dict[str, str]:
    """The keys the official resource writes when it creates a call: none may ever be lost."""
    return {
        "callerPlayerId": str(call_id % 97),
        "callerCommunityUserId": f"cu-{call_id}",
        "uuid": f"u-{call_id}",
        "postal": str(8000 + call_id % 1000),
        "silentAlert": "false",
        "useCallLocation": "false",
    }


@dataclass(frozen=True)
class Pace:
    """How much faster than production a run goes; production durations divide by `speedup`."""

    speedup: float = 30.0

    @property
    def window(self) -> float:
        """The budget window, seconds (60 in production)."""
        return 60.0 / self.speedup

    def scaled(self, production_seconds: float) -> float:
        """A production duration at this pace."""
        return production_seconds / self.speedup

    def config(self, api_url: str, port: int = 0) -> Config:
        """The daemon's config for a run: the production one, time scaled."""
        return Config(
            cad=CadConfig(
                api_url=api_url,
                api_key=API_KEY,
                server_id=SERVER_ID,
                # Never below 1 s: a loaded test machine must not turn loopback into timeouts.
                timeout_seconds=max(1.0, self.scaled(10.0)),
            ),
            listen=ListenConfig(
                port=port,
                token=TOKEN,
                hello_timeout_seconds=1.0,
                idle_timeout_seconds=max(1.0, self.scaled(120.0)),
            ),
            budget=BudgetConfig(
                window_seconds=self.window, margin_seconds=self.scaled(1.0), state_file=""
            ),
            tracking=TrackingConfig(min_move=MIN_MOVE, max_stale_seconds=self.scaled(180.0)),
        )

    def apply(self, planner: Planner) -> None:
        """Scale the planner's back-offs and refetch interval as the window is scaled.

        They are constants in production seconds; left alone, a 2 s window would meet a 15 s
        auth pause, and every recovery figure would measure that instead of the daemon.
        """
        settings = planner.settings
        planner.configure(
            replace(
                settings,
                fetch_interval=self.scaled(settings.fetch_interval),
                rate_backoff=self.scaled(settings.rate_backoff),
                rate_backoff_cap=self.scaled(settings.rate_backoff_cap),
                fault_backoff=self.scaled(settings.fault_backoff),
                fault_backoff_cap=self.scaled(settings.fault_backoff_cap),
                auth_backoff=self.scaled(settings.auth_backoff),
                auth_backoff_cap=self.scaled(settings.auth_backoff_cap),
            )
        )


class Feeder:
    """The game server's resource as the daemon sees it: hello, sync, positions each tick.

    It reconnects after any failure and syncs again, as the real resource does, so it also
    serves to restart the daemon under it. `park()` stops every subject where it is.
    """

    def __init__(
        self,
        url: str,
        tracks: dict[int, tuple[str, Meta | None]],
        fleet: Fleet,
        *,
        token: str = TOKEN,
        tick: float = 0.1,
    ) -> None:
        self.url = url
        self.tracks = dict(tracks)
        self.fleet = fleet
        self.token = token
        self.tick = tick
        self.states: dict[int, str] = {}
        self.errors: list[str] = []
        self.connects = 0
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._parked_at: float | None = None
        self._ws: ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start connecting and streaming in the background."""
        self._task = asyncio.create_task(self._run(), name="feeder")

    async def stop(self) -> None:
        """Disconnect and stop."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def park(self) -> None:
        """Every subject stops where it is now."""
        self._parked_at = self._loop.time() - self._t0

    def where(self) -> dict[str, tuple[float, float]]:
        """Every subject's position now."""
        t = self._parked_at if self._parked_at is not None else self._loop.time() - self._t0
        return {s: (x, y) for s, x, y, _ in self.fleet.positions(t)}

    async def track(self, call_id: int, subject: str, meta: Meta | None = None) -> None:
        """Follow one more call (also in every later sync)."""
        self.tracks[call_id] = (subject, meta)
        if self._ws is not None:
            with contextlib.suppress(ConnectionClosed):
                await self._ws.send(json.dumps({"type": "track", **_spec(call_id, subject, meta)}))

    async def _run(self) -> None:
        while True:
            try:
                async with connect(self.url, open_timeout=2, compression=None) as ws:
                    await self._session(ws)
            except (OSError, WebSocketException, TimeoutError):
                pass
            finally:
                self._ws = None
            await asyncio.sleep(0.1)

    async def _session(self, ws: ClientConnection) -> None:
        hello = {"type": "hello", "protocol": 1, "token": self.token, "server_id": SERVER_ID}
        await ws.send(json.dumps({**hello, "resource_version": "reliability"}))
        welcome = json.loads(await asyncio.wait_for(ws.recv(), 2))
        if welcome.get("type") != "welcome":
            return
        self.connects += 1
        self._ws = ws
        tracks = [_spec(c, s, m) for c, (s, m) in self.tracks.items()]
        await ws.send(json.dumps({"type": "sync", "tracks": tracks}))
        reader = asyncio.create_task(self._read(ws))
        try:
            while True:
                followed = {s for s, _ in self.tracks.values()}
                items = [
                    {"subject": s, "x": round(x, 2), "y": round(y, 2), "z": 30.0}
                    for s, (x, y) in self.where().items()
                    if s in followed
                ]
                await ws.send(json.dumps({"type": "positions", "items": items}))
                await asyncio.sleep(self.tick)
        finally:
            reader.cancel()

    async def _read(self, ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for frame in ws:
                message = json.loads(frame)
                if message.get("type") == "call_state":
                    self.states[message["call_id"]] = message["state"]
                elif message.get("type") == "error":
                    self.errors.append(str(message.get("message")))


def _spec(call_id: int, subject: str, meta: Meta | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"call_id": call_id, "subject": subject}
    if meta is not None:
        spec["meta"] = meta
    return spec


@dataclass
class Outcome:
    """What one run came to."""

    name: str
    requests: int = 0
    own_429s: int = 0
    other_429s: int = 0
    """429s from the neighbour's spending or injected by the fault."""
    late_429s: int = 0
    """Of the neighbour's 429s, those over 5 windows after its first: probes of whether it left."""
    keys_lost: int = 0
    """PATCH bodies (and stored calls at the end) missing or changing a key the daemon was given."""
    settle: float | None = None
    """Seconds from the fault clearing until every call was drawn at its subject (None: never)."""
    crashed: bool = False
    busiest_second: int = 0
    """The most times the push loop looked at its planner in one second (a spin is thousands)."""
    notes: list[str] = field(default_factory=list)


class Rig:
    """Stand-in, daemon and feeder on loopback, with the measurements every scenario shares."""

    def __init__(
        self,
        pace: Pace,
        *,
        known: int = 4,
        unknown: int = 2,
        late: int = 1,
        quota_headers: bool = False,
        neighbour: int = 0,
        seed: int = 11,
    ) -> None:
        self.pace = pace
        count = known + unknown + late
        self.seed = seed
        self.fleet = Fleet(count, seed=seed, moving_share=1.0)
        self.calls = {FIRST_CALL + i: s for i, s in enumerate(self.fleet.subjects)}
        ids = list(self.calls)
        self.known = ids[:known]
        self.unknown = ids[known : known + unknown]
        self.late = ids[known + unknown :]
        self.meta = {call_id: given_meta(call_id) for call_id in ids}
        self.closed: set[int] = set()
        self.standin = CadStandIn(api_key=API_KEY, window=pace.window)
        self.standin.send_quota_headers = quota_headers
        self.looks: Counter[int] = Counter()
        self.neighbour = neighbour
        self._neighbour: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Rig:
        if self.neighbour:  # already on the key, at its steady rate, when the daemon starts
            self.start_neighbour(self.neighbour)
            await self.windows(1.0)
        for call_id, meta in self.meta.items():
            self.standin.add_call(SERVER_ID, call_id, dict(meta))

        def prepare(daemon: Daemon) -> None:
            self.pace.apply(daemon.planner)
            self._count_looks(daemon.planner)

        self.running = await Rigs()(
            standin=self.standin,
            configure=lambda standin: self.pace.config(standin.url),
            prepare=prepare,
        )
        self.daemon = self.running.bridge
        tracks: dict[int, tuple[str, Meta | None]] = {
            c: (self.calls[c], self.meta[c] if c in self.known else None)
            for c in self.known + self.unknown
        }
        self.feeder = Feeder(f"ws://127.0.0.1:{self.daemon.port}", tracks, self.fleet)
        self.feeder.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.stop_neighbour()
        await self.feeder.stop()
        await self.running.stop()

    def _count_looks(self, planner: Planner) -> None:
        original = planner.next_action
        loop = asyncio.get_running_loop()

        def counted(now: float) -> Any:
            self.looks[int(loop.time())] += 1
            return original(now)

        planner.next_action = counted  # type: ignore[method-assign]

    async def windows(self, n: float) -> None:
        """Let `n` budget windows pass."""
        await asyncio.sleep(n * self.pace.window)

    async def track_late(self) -> None:
        """Start following the calls kept back, without metaData: the daemon must GET first."""
        for call_id in self.late:
            await self.feeder.track(call_id, self.calls[call_id])

    def close_in_cad(self, call_id: int) -> None:
        """A dispatcher closes the call: its next PATCH answers 404."""
        self.standin.close_call(SERVER_ID, call_id)
        self.closed.add(call_id)

    def start_neighbour(self, per_window: int) -> None:
        """Another integration on the key starts spending `per_window` updates each window."""
        self._neighbour = asyncio.create_task(self._spend(per_window))

    def stop_neighbour(self) -> None:
        """The other integration goes quiet."""
        if self._neighbour is not None:
            self._neighbour.cancel()
            self._neighbour = None

    async def _spend(self, per_window: int) -> None:
        rng = random.Random(self.seed)
        gap = self.pace.window / per_window
        while True:
            await asyncio.sleep(gap * rng.uniform(0.8, 1.2))
            self.standin.spend_external("update_call")

    def converged(self) -> bool:
        """Whether every open followed call is drawn within `MIN_MOVE` of its subject."""
        where = self.feeder.where()
        for call_id in self.feeder.tracks:
            if call_id in self.closed:
                continue
            drawn = drawn_at(self.standin.call(SERVER_ID, call_id)["metaData"])
            if drawn is None:
                return False
            x, y = where[self.calls[call_id]]
            if math.hypot(drawn[0] - x, drawn[1] - y) > MIN_MOVE:
                return False
        return True

    async def settle(self, deadline_windows: float = 20.0) -> float | None:
        """Park every subject; seconds until every call converged, or None by the deadline."""
        loop = asyncio.get_running_loop()
        self.feeder.park()
        start = loop.time()
        while loop.time() - start < deadline_windows * self.pace.window:
            if self.converged():
                return loop.time() - start
            await asyncio.sleep(0.05)
        return None

    def alive(self) -> bool:
        """The push loop still runs."""
        task = self.daemon._push_task
        return task is not None and not task.done()

    def outcome(self, name: str, settle: float | None) -> Outcome:
        """The figures of the run so far."""
        requests = self.standin.requests
        own = self.standin.own_overruns()
        other = [r for r in requests if r.status == 429 and r not in own]
        shared = [r for r in other if r.fault is None]  # the neighbour's spending, not injected
        first = shared[0].t if shared else math.inf
        result = Outcome(
            name,
            requests=len(requests),
            own_429s=len(own),
            other_429s=len(other),
            late_429s=sum(1 for r in shared if r.t > first + 5 * self.pace.window),
            keys_lost=self.keys_lost(),
            settle=settle,
            crashed=not self.alive(),
            busiest_second=max(self.looks.values(), default=0),
        )
        return result

    def keys_lost(self) -> int:
        """PATCH bodies and stored calls that miss or change a key the daemon was given."""
        lost = 0
        for record in self.standin.requests:
            if record.route != "update_call" or not isinstance(record.body, dict):
                continue
            call_id = int(record.path.rsplit("/", 1)[1])
            sent = record.body.get("metaData")
            if not isinstance(sent, dict) or _missing(self.meta.get(call_id, {}), sent):
                lost += 1
        for call_id, meta in self.meta.items():
            lost += bool(_missing(meta, self.standin.call(SERVER_ID, call_id)["metaData"]))
        return lost


def _missing(given: Meta, sent: Meta) -> list[str]:
    return [key for key, value in given.items() if sent.get(key) != value]
