"""The daemon on loopback in front of a misbehaving CAD stand-in, and what that costs.

A `Rig` is the whole product on loopback: the CAD stand-in, the real `Daemon`, and a `Feeder`
that plays the game server's resource (hello, sync, positions every tick, reconnects). Time runs
`Pace.speedup` times faster than in production: the budget window, the client timeout, the
back-offs and the refetch interval are all divided by it, so a 60 s window lasts 2 s at 30x.

`run_cad_fault` drives one `CadFault` through warm-up, outage and recovery and returns an
`Outcome`: crashes, 429s of the daemon's own making, metaData keys lost, how long every call took
to converge once the fault cleared, and how often the push loop looked at its planner.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

import bridge
from bridge.app import Daemon
from bridge.budget import Backoff
from bridge.config import BudgetConfig, CadConfig, Config, ListenConfig, TrackingConfig
from bridge.meta import drawn_at
from bridge.outcomes import Meta
from bridge.planner import Planner
from bridge.standin.cad import CadStandIn, Fault
from bridge.standin.routes import Fleet

API_KEY = "reliability-api-key-5f2c9a7e41d8b3"
TOKEN = "reliability-token-93be10c4a7"
SERVER_ID = 1
FIRST_CALL = 701
MIN_MOVE = 1.0
FOREVER = 1_000_000
"""Injected faults fire this many times: until `clear_faults()` ends the outage."""


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
            budget=BudgetConfig(window_seconds=self.window, margin_seconds=self.scaled(1.0)),
            tracking=TrackingConfig(min_move=MIN_MOVE, max_stale_seconds=self.scaled(180.0)),
        )

    def apply(self, planner: Planner) -> None:
        """Scale the planner's back-offs and refetch interval as the window is scaled.

        They are constants in production seconds; left alone, a 2 s window would meet a 15 s
        auth pause, and every recovery figure would measure that instead of the daemon.
        """
        planner._rate_backoff = Backoff(initial=self.scaled(6.0), cap=self.scaled(60.0))
        planner._fault_backoff = Backoff(initial=self.scaled(1.0), cap=self.scaled(60.0))
        planner._auth_backoff = Backoff(initial=self.scaled(15.0), cap=self.scaled(300.0))
        planner.settings = replace(planner.settings, fetch_interval=self.scaled(15.0))


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
        await self.standin.start()
        if self.neighbour:  # already on the key, at its steady rate, when the daemon starts
            self.start_neighbour(self.neighbour)
            await self.windows(1.0)
        for call_id, meta in self.meta.items():
            self.standin.add_call(SERVER_ID, call_id, dict(meta))
        self.daemon = Daemon(self.pace.config(self.standin.url))
        self.pace.apply(self.daemon.planner)
        self._count_looks(self.daemon.planner)
        await self.daemon.start()
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
        await self.daemon.stop(grace=1.0)
        await self.standin.stop()

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
        rng = random.Random(5)
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


@dataclass(frozen=True)
class CadFault:
    """One way the CAD misbehaves: how it starts, and how it clears."""

    name: str
    begin: Callable[[Rig], None]
    end: Callable[[Rig], None] = lambda rig: rig.standin.clear_faults()
    quota_headers: bool = False
    neighbour: int = 0
    """Updates per window another integration spends on the key, from the start until `end`."""
    windows: float = 3.0
    """How long the fault lasts, in budget windows."""


def _inject(fault: Fault | Callable[[], Fault]) -> Callable[[Rig], None]:
    def begin(rig: Rig) -> None:
        rig.standin.inject(fault() if callable(fault) else fault, FOREVER)

    return begin


def _in_two_seconds() -> Fault:
    return Fault(429, retry_after=datetime.now(UTC) + timedelta(seconds=2))


def _nothing(rig: Rig) -> None:
    pass


def _close_first(rig: Rig) -> None:
    rig.close_in_cad(rig.known[0])


def cad_faults(pace: Pace) -> list[CadFault]:
    """Every CAD misbehaviour the matrix tries, sized for `pace`."""
    retry = max(1, round(pace.scaled(30.0)))
    return [
        CadFault("429, Retry-After in seconds", _inject(Fault(429, retry_after=retry))),
        CadFault("429, Retry-After as an HTTP date", _inject(_in_two_seconds)),
        CadFault("429, no Retry-After", _inject(Fault(429))),
        CadFault(
            "429s: another integration spends 4 of the 10",
            _nothing,
            lambda rig: rig.stop_neighbour(),
            neighbour=4,
            windows=8.0,
        ),
        CadFault(
            "same, and the CAD sends RateLimit-* headers",
            _nothing,
            lambda rig: rig.stop_neighbour(),
            quota_headers=True,
            neighbour=4,
            windows=8.0,
        ),
        CadFault("500", _inject(Fault(500))),
        CadFault("502", _inject(Fault(502))),
        CadFault("503", _inject(Fault(503))),
        CadFault("hangs past the timeout", _inject(Fault("hang"))),
        CadFault("connection reset, no answer", _inject(Fault("reset"))),
        CadFault("200 with a body that is not JSON", _inject(Fault("bad_json"))),
        CadFault(
            "401: key revoked mid-run, then restored",
            lambda rig: rig.standin.revoke_key(),
            lambda rig: rig.standin.restore_key(),
        ),
        CadFault("404: a call closed in the CAD", _close_first, _nothing),
        CadFault(
            "slow answers (60% of the timeout)",
            lambda rig: rig.standin.inject(
                Fault("slow", delay=0.6 * rig.daemon.config.cad.timeout_seconds), FOREVER
            ),
        ),
    ]


async def run_cad_fault(fault: CadFault, pace: Pace) -> Outcome:
    """Warm up one window, run the fault (a late call needs a GET meanwhile), clear, settle."""
    async with Rig(pace, quota_headers=fault.quota_headers, neighbour=fault.neighbour) as rig:
        await rig.windows(1.0)
        fault.begin(rig)
        await rig.track_late()
        await rig.windows(fault.windows)
        fault.end(rig)
        settle = await rig.settle()
        outcome = rig.outcome(fault.name, settle)
        for call_id in rig.closed:
            if rig.feeder.states.get(call_id) != "gone":
                outcome.notes.append(f"call {call_id} closed in the CAD but not reported gone")
            if rig.daemon.tracker.get(SERVER_ID, call_id) is not None:
                outcome.notes.append(f"call {call_id} closed in the CAD is still followed")
        return outcome


async def run_cad_faults(faults: list[CadFault], pace: Pace, parallel: int = 16) -> list[Outcome]:
    """Run faults side by side (each has its own stand-in and daemon); errors the event loop
    caught unseen, such as a task that died with nobody awaiting it, mark every outcome."""
    loop = asyncio.get_running_loop()
    unseen: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unseen.append(str(context["message"])))
    gate = asyncio.Semaphore(parallel)

    async def one(fault: CadFault) -> Outcome:
        async with gate:
            return await run_cad_fault(fault, pace)

    try:
        outcomes = await asyncio.gather(*(one(fault) for fault in faults))
    finally:
        loop.set_exception_handler(previous)
    for outcome in outcomes:
        if unseen:
            outcome.crashed = True
            outcome.notes.append("unseen errors on the event loop: " + "; ".join(unseen[:3]))
    return outcomes


@dataclass
class Churn:
    """What a long run of tracks, untracks and passing subjects left behind."""

    rounds: int
    calls: int
    fixes: int
    followers: int
    fetch_marks: int
    growth_kib: float
    """Memory the daemon's code allocated and still held, from a tenth of the run to its end."""


class _AnsweringCad:
    """A CAD that accepts every request at once: the churn measures the daemon's own state."""

    last_quota = None

    async def update_call(self, server_id: int, call_id: int, meta: Meta) -> Any:
        raise AssertionError("the churn drives the planner directly")

    async def get_calls(self, server_id: int) -> Any:
        raise AssertionError("the churn drives the planner directly")


def churn(rounds: int = 20_000, live: int = 20) -> Churn:
    """Track a new call every round and drop the oldest, with subjects nobody follows passing by,
    pushes and fetches answered, a sync now and then; measure what state and memory remain."""
    import tracemalloc

    from bridge.outcomes import CallList, Updated
    from bridge.planner import Fetch
    from bridge.protocol import CallClosed, Position, Positions, Sync, Track, TrackSpec, Untrack

    clock = [0.0]
    config = Pace().config("http://127.0.0.1:9")
    daemon = Daemon(config, cad=_AnsweringCad(), clock=lambda: clock[0])
    planner = daemon.planner
    meta = {"postal": "1"}
    growth = 0.0
    tracemalloc.start()
    try:
        for i in range(rounds):
            if i == rounds // 10:
                base = tracemalloc.take_snapshot()
            clock[0] += 0.05
            server = 1 + i % 3
            daemon.on_message(server, Track(call_id=i + 1, subject=f"p:{i}", meta=meta))
            strangers = [Position(subject=f"x:{i}:{k}", x=k, y=k, z=0) for k in range(5)]
            fix = Position(subject=f"p:{i}", x=float(i % 997), y=float(i % 991), z=0)
            daemon.on_message(server, Positions(items=[fix, *strangers]))
            gone = i + 1 - live
            if gone > 0:
                message = CallClosed(call_id=gone) if i % 2 else Untrack(call_id=gone)
                daemon.on_message(1 + (gone - 1) % 3, message)
            if i % 1000 == 999:
                kept = [TrackSpec(call_id=c.call_id, subject=c.subject)
                        for c in daemon.tracker.calls_of(server)]
                daemon.on_message(server, Sync(tracks=kept))
            action = planner.next_action(clock[0])
            if action is not None:
                planner.begin(action, clock[0])
                if isinstance(action, Fetch):
                    listed = {c.call_id: meta for c in daemon.tracker.calls_of(action.server_id)}
                    planner.finish_fetch(action, CallList(calls=listed), clock[0])
                else:
                    answer = Updated(call={}, meta=action.meta)
                    planner.finish_push(action, answer, clock[0])
        end = tracemalloc.take_snapshot()
        # Only what the daemon's own code allocated: not the log lines a test runner keeps.
        mine = [tracemalloc.Filter(True, str(Path(bridge.__file__).parent / "*"))]
        diff = end.filter_traces(mine).compare_to(base.filter_traces(mine), "filename")
        growth = sum(stat.size_diff for stat in diff) / 1024
    finally:
        tracemalloc.stop()
    tracker = daemon.tracker
    return Churn(rounds, len(tracker.calls), len(tracker.fixes), len(tracker._followers),
                 len(planner._fetched_at) + len(planner._fetch_started), growth)
