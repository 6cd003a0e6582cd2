"""`sonoran-bridge demo`: daemon, CAD stand-in and a simulated game server, all on loopback."""

from __future__ import annotations

import asyncio
import math
import secrets
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

from bridge.app import Daemon
from bridge.config import BudgetConfig, CadConfig, Config, ListenConfig, TrackingConfig
from bridge.meta import drawn_at
from bridge.standin.cad import CadStandIn
from bridge.standin.game import SimulatedGame
from bridge.standin.routes import Fleet

FIRST_CALL = 501
SAMPLE_EVERY = 0.5


@dataclass
class CallReport:
    """What the demo saw of one call."""

    call_id: int
    subject: str
    errors: list[float] = field(default_factory=list)
    pushes: int = 0
    keys_kept: bool = True


@dataclass
class DemoReport:
    """The demo's summary figures."""

    seconds: float
    simulated_seconds: float
    calls: list[CallReport]
    requests: int
    rate_limited: int
    max_in_window: int
    limit: int

    @property
    def mean_error(self) -> float:
        """Time-averaged map error over all calls, in metres."""
        samples = [e for c in self.calls for e in c.errors]
        return statistics.fmean(samples) if samples else math.nan


def _call_meta(call_id: int, player: int) -> dict[str, str]:
    # What the official resource writes when it creates a call: keys a careless update erases.
    return {
        "callerPlayerId": str(player),
        "uuid": f"demo-{call_id}",
        "postal": str(8000 + call_id % 1000),
        "useCallLocation": "false",
        "silentAlert": "false",
    }


async def run_demo(
    seconds: float = 45.0,
    calls: int = 8,
    speedup: float = 4.0,
    out: TextIO | None = None,
    progress_every: float = 5.0,
) -> DemoReport:
    """Run the whole product on loopback for `seconds`, printing progress, and report."""
    out = out or sys.stdout
    window = 60.0 / speedup
    api_key = secrets.token_urlsafe(24)
    token = secrets.token_urlsafe(24)
    fleet = Fleet(calls, seed=7, moving_share=0.5)
    followed = {FIRST_CALL + i: subject for i, subject in enumerate(fleet.subjects)}
    metas = {call_id: _call_meta(call_id, i + 1) for i, call_id in enumerate(sorted(followed))}
    async with CadStandIn(api_key=api_key, window=window) as cad:
        for call_id, meta in metas.items():
            cad.add_call(1, call_id, dict(meta), title=f"Demo call {call_id}")
        config = Config(
            cad=CadConfig(api_url=cad.url, api_key=api_key),
            listen=ListenConfig(port=0, token=token),
            budget=BudgetConfig(window_seconds=window, state_file=""),
            tracking=TrackingConfig(max_stale_seconds=180.0 / speedup),
        )
        daemon = Daemon(config)
        await daemon.start()
        game = SimulatedGame(
            f"ws://127.0.0.1:{daemon.port}",
            token,
            fleet,
            followed,
            time_scale=speedup,
            tick=1.0 / speedup,
            meta=metas,
        )
        reports = {c: CallReport(c, s) for c, s in followed.items()}
        print(
            f"demo: {calls} calls follow simulated units for {seconds:g} s "
            f"({seconds * speedup / 60:.1f} simulated minutes; time runs {speedup:g}x, so the CAD "
            f"stand-in allows 10 updates per {window:g} s)",
            file=out,
        )
        started = time.monotonic()
        game_task = asyncio.create_task(game.run(seconds))
        next_progress = started + progress_every
        try:
            while not game_task.done():
                await asyncio.sleep(SAMPLE_EVERY)
                _sample(cad, game, reports)
                if time.monotonic() >= next_progress:
                    next_progress += progress_every
                    _progress(out, time.monotonic() - started, daemon, cad, reports)
            await game_task
        finally:
            await daemon.stop()
        for call_id, report in reports.items():
            stored = cad.call(1, call_id)["metaData"]
            report.keys_kept = all(stored.get(k) == v for k, v in metas[call_id].items())
            report.pushes = sum(
                1
                for r in cad.requests
                if r.route == "update_call" and r.status == 200 and r.path.endswith(f"/{call_id}")
            )
        return DemoReport(
            seconds=time.monotonic() - started,
            simulated_seconds=game.sim_time(),
            calls=list(reports.values()),
            requests=sum(1 for r in cad.requests if r.route == "update_call"),
            rate_limited=cad.rate_limited,
            max_in_window=_max_in_window(
                [r.t for r in cad.requests if r.route == "update_call" and r.status != 429], window
            ),
            limit=config.budget.update_call,
        )


def _sample(cad: CadStandIn, game: SimulatedGame, reports: dict[int, CallReport]) -> None:
    truth = game.true_positions()
    for call_id, report in reports.items():
        drawn = drawn_at(cad.call(1, call_id)["metaData"])
        x, y, _ = truth[report.subject]
        if drawn is not None:
            report.errors.append(math.hypot(x - drawn[0], y - drawn[1]))


def _progress(
    out: TextIO, elapsed: float, daemon: Daemon, cad: CadStandIn, reports: dict[int, CallReport]
) -> None:
    recent = [r.errors[-1] for r in reports.values() if r.errors]
    error = f"{statistics.fmean(recent):.0f} m" if recent else "-"
    status = daemon.status()
    print(
        f"  {elapsed:5.1f} s  pushes {status['pushes']:3d}  requests {status['requests']:3d}  "
        f"429s {cad.rate_limited}  map error now {error}",
        file=out,
        flush=True,
    )


def _max_in_window(times: list[float], window: float) -> int:
    """The most requests the stand-in saw inside any window of that length."""
    best, start = 0, 0
    ordered = sorted(times)
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def print_summary(report: DemoReport, out: TextIO | None = None) -> None:
    """The closing table: pushes per call, 429s, mean map error."""
    out = out or sys.stdout
    print(
        f"\nsummary after {report.seconds:.0f} s "
        f"({report.simulated_seconds / 60:.1f} simulated minutes)",
        file=out,
    )
    print(
        f"  {'call':>6} {'subject':<10} {'pushes':>6} {'mean error':>11}  other metaData keys",
        file=out,
    )
    for call in report.calls:
        error = f"{statistics.fmean(call.errors):.0f} m" if call.errors else "-"
        kept = "intact" if call.keys_kept else "LOST"
        print(
            f"  {call.call_id:>6} {call.subject:<10} {call.pushes:>6} {error:>11}  {kept}", file=out
        )
    print(
        f"  requests {report.requests}, most in any window {report.max_in_window} "
        f"(limit {report.limit}), 429s {report.rate_limited}, "
        f"mean map error {report.mean_error:.0f} m",
        file=out,
    )
