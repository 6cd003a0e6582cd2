"""Every way the CAD misbehaves, run against a `Rig`, and a long churn for memory.

`run_cad_fault` drives one `CadFault` through warm-up, outage and recovery and returns the rig's
`Outcome`; `run_cad_faults` runs many side by side. `churn` tracks and drops calls for a long
while and measures the state and memory the daemon keeps.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import bridge
from bench.kit import build_daemon
from bench.rig import SERVER_ID, Outcome, Pace, Rig
from bridge.driver import Driver, ListAnswer, PatchAnswer, Sleep
from bridge.outcomes import CallList, Meta, Updated
from bridge.planner import Fetch
from bridge.protocol import CallClosed, Position, Positions, Sync, Track, TrackSpec, Untrack
from bridge.standin.cad import Fault

FOREVER = 1_000_000
"""Injected faults fire this many times: until `clear_faults()` ends the outage."""


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


async def run_cad_fault(fault: CadFault, pace: Pace, seed: int = 11) -> Outcome:
    """Warm up one window, run the fault (a late call needs a GET meanwhile), clear, settle."""
    rig = Rig(pace, quota_headers=fault.quota_headers, neighbour=fault.neighbour, seed=seed)
    async with rig:
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
            if rig.daemon.planner.call(SERVER_ID, call_id) is not None:
                outcome.notes.append(f"call {call_id} closed in the CAD is still followed")
        return outcome


async def run_cad_faults(
    faults: list[CadFault], pace: Pace, parallel: int = 16, seed: int = 11
) -> list[Outcome]:
    """Run faults side by side (each has its own stand-in and daemon); errors the event loop
    caught unseen, such as a task that died with nobody awaiting it, mark every outcome."""
    loop = asyncio.get_running_loop()
    unseen: list[str] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unseen.append(str(context["message"])))
    gate = asyncio.Semaphore(parallel)

    async def one(fault: CadFault, seed: int) -> Outcome:
        async with gate:
            return await run_cad_fault(fault, pace, seed)

    try:
        outcomes = await asyncio.gather(*(one(f, seed + i) for i, f in enumerate(faults)))
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


def churn(rounds: int = 20_000, live: int = 20) -> Churn:
    """Track a new call every round and drop the oldest, with subjects nobody follows passing by,
    pushes and fetches answered, a sync now and then; measure what state and memory remain."""
    clock = [0.0]
    config = Pace().config("http://127.0.0.1:9")
    # No request leaves: the churn drives the daemon's driver directly.
    daemon = build_daemon(config, clock=lambda: clock[0])
    planner = daemon.planner
    driver = Driver(planner)
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
                        for c in planner.calls_of(server)]
                daemon.on_message(server, Sync(tracks=kept))
            action = driver.step(clock[0])
            if not isinstance(action, Sleep):
                driver.begin(action, clock[0])
                if isinstance(action, Fetch):
                    listed: dict[int, Meta | None] = {
                        c.call_id: meta for c in planner.calls_of(action.server_id)
                    }
                    driver.complete(
                        ListAnswer(action, CallList(calls=listed), None, clock[0], clock[0])
                    )
                else:
                    updated = Updated(call={}, meta=action.meta)
                    driver.complete(PatchAnswer(action, updated, None, clock[0], clock[0]))
        end = tracemalloc.take_snapshot()
        # Only what the daemon's own code allocated: not the log lines a test runner keeps.
        mine = [tracemalloc.Filter(True, str(Path(bridge.__file__).parent / "*"))]
        diff = end.filter_traces(mine).compare_to(base.filter_traces(mine), "filename")
        growth = sum(stat.size_diff for stat in diff) / 1024
    finally:
        tracemalloc.stop()
    held = planner.held()
    marks = held["read_marks"]
    return Churn(rounds, held["calls"], held["fixes"], held["followers"], marks, growth)
