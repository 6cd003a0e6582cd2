"""`sonoran-bridge demo`: daemon, CAD stand-in and a simulated game server, all on loopback.

Beside the bridge, a naive loop (what an integration around the official SDK does: every call
every `naive_interval` seconds, 429s retried as the SDK retries them) moves the same calls of
the same simulated world on a second stand-in, so the summary can show both side by side.
"""

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
from bridge.build import build_daemon
from bridge.cad import CadClient
from bridge.config import BudgetConfig, CadConfig, Config, ListenConfig, TrackingConfig
from bridge.meta import drawn_at
from bridge.naive import NaiveLoop, NaiveStats
from bridge.standin.cad import CadStandIn
from bridge.standin.game import SimulatedGame
from bridge.standin.routes import Fleet

FIRST_CALL = 501
SAMPLE_EVERY = 0.5
STATUS_PORT = 30126
NAIVE_INTERVAL = 30.0
"""Simulated seconds between the naive loop's rounds over every call."""


@dataclass
class CallReport:
    """What the demo saw of one call."""

    call_id: int
    subject: str
    errors: list[float] = field(default_factory=list)
    pushes: int = 0
    keys_kept: bool = True
    naive_errors: list[float] = field(default_factory=list)
    naive_pushes: int = 0


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
    naive: NaiveStats = field(default_factory=NaiveStats)
    naive_interval: float = NAIVE_INTERVAL
    naive_max_in_window: int = 0
    status_url: str | None = None

    @property
    def mean_error(self) -> float:
        """Time-averaged map error over all calls, in metres."""
        samples = [e for c in self.calls for e in c.errors]
        return statistics.fmean(samples) if samples else math.nan

    @property
    def naive_mean_error(self) -> float:
        """The same for the naive loop's calls."""
        samples = [e for c in self.calls for e in c.naive_errors]
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
    status_port: int | None = STATUS_PORT,
    naive_interval: float = NAIVE_INTERVAL,
) -> DemoReport:
    """Run the whole product on loopback for `seconds`, printing progress, and report.

    The status page is served on `status_port` (any free port when it is taken or 0; none
    when None); the naive loop runs beside the bridge on its own stand-in.
    """
    out = out or sys.stdout
    window = 60.0 / speedup
    api_key = secrets.token_urlsafe(24)
    token = secrets.token_urlsafe(24)
    fleet = Fleet(calls, seed=7, moving_share=0.5)
    followed = {FIRST_CALL + i: subject for i, subject in enumerate(fleet.subjects)}
    metas = {call_id: _call_meta(call_id, i + 1) for i, call_id in enumerate(sorted(followed))}
    async with (
        CadStandIn(api_key=api_key, window=window) as cad,
        CadStandIn(api_key=api_key, window=window) as naive_cad,
        CadClient(naive_cad.url, api_key) as naive_client,
    ):
        for call_id, meta in metas.items():
            cad.add_call(1, call_id, dict(meta), title=f"Demo call {call_id}")
            naive_cad.add_call(1, call_id, dict(meta), title=f"Demo call {call_id}")
        config = Config(
            cad=CadConfig(api_url=cad.url, api_key=api_key),
            listen=ListenConfig(port=0, token=token),
            budget=BudgetConfig(window_seconds=window, state_file=""),
            tracking=TrackingConfig(max_stale_seconds=180.0 / speedup),
        )
        daemon = build_daemon(config)
        await daemon.start()
        status_url = await _serve_status(daemon, status_port)
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
        if status_url is not None:
            print(f"watch it: {status_url} (the live map, calls, budget and requests)", file=out)
        naive = NaiveLoop(
            naive_client,
            game.true_positions,
            followed,
            metas,
            interval=naive_interval,
            time_scale=speedup,
            radius=config.tracking.default_radius,
        )
        started = time.monotonic()
        game_task = asyncio.create_task(game.run(seconds))
        naive_stop = asyncio.Event()
        naive_task = asyncio.create_task(naive.run(naive_stop))
        next_progress = started + progress_every
        try:
            while not game_task.done():
                await asyncio.sleep(SAMPLE_EVERY)
                _sample(cad, game, reports, naive_cad)
                if time.monotonic() >= next_progress:
                    next_progress += progress_every
                    _progress(out, time.monotonic() - started, daemon, cad, reports)
            await game_task
        finally:
            naive_stop.set()
            await naive_task
            await daemon.stop()
        for call_id, report in reports.items():
            stored = cad.call(1, call_id)["metaData"]
            report.keys_kept = all(stored.get(k) == v for k, v in metas[call_id].items())
            report.pushes = _landed(cad, call_id)
            report.naive_pushes = _landed(naive_cad, call_id)
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
            naive=naive.stats,
            naive_interval=naive_interval,
            naive_max_in_window=_max_in_window(
                [r.t for r in naive_cad.requests if r.route == "update_call" and r.status != 429],
                window,
            ),
            status_url=status_url,
        )


async def _serve_status(daemon: Daemon, port: int | None) -> str | None:
    if port is None:
        return None
    try:
        return await daemon.serve_status("127.0.0.1", port)
    except OSError:  # taken, e.g. by a daemon already running here
        return await daemon.serve_status("127.0.0.1", 0)


def _landed(cad: CadStandIn, call_id: int) -> int:
    return sum(
        1
        for r in cad.requests
        if r.route == "update_call" and r.status == 200 and r.path.endswith(f"/{call_id}")
    )


def _sample(
    cad: CadStandIn, game: SimulatedGame, reports: dict[int, CallReport], naive: CadStandIn
) -> None:
    truth = game.true_positions()
    for call_id, report in reports.items():
        x, y, _ = truth[report.subject]
        drawn = drawn_at(cad.call(1, call_id)["metaData"])
        if drawn is not None:
            report.errors.append(math.hypot(x - drawn[0], y - drawn[1]))
        drawn = drawn_at(naive.call(1, call_id)["metaData"])
        if drawn is not None:
            report.naive_errors.append(math.hypot(x - drawn[0], y - drawn[1]))


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
    """The closing tables: per call, then the bridge beside the naive loop."""
    out = out or sys.stdout
    print(
        f"\nsummary after {report.seconds:.0f} s "
        f"({report.simulated_seconds / 60:.1f} simulated minutes)",
        file=out,
    )
    print(
        f"  {'call':>6} {'subject':<10} {'pushes':>6} {'mean error':>11}  other metaData keys"
        f"  | naive: {'pushes':>6} {'mean error':>11}",
        file=out,
    )
    for call in report.calls:
        kept = "intact" if call.keys_kept else "LOST"
        print(
            f"  {call.call_id:>6} {call.subject:<10} {call.pushes:>6} {_mean(call.errors):>11}  "
            f"{kept:<19}  |        {call.naive_pushes:>6} {_mean(call.naive_errors):>11}",
            file=out,
        )
    print(
        f"  requests {report.requests}, most in any window {report.max_in_window} "
        f"(limit {report.limit}), 429s {report.rate_limited}, "
        f"mean map error {report.mean_error:.0f} m",
        file=out,
    )
    naive = report.naive
    rows = [
        ("", "sonoran-bridge", f"naive loop ({report.naive_interval:g} s)"),
        ("update requests", str(report.requests), str(naive.requests)),
        ("429s", str(report.rate_limited), str(naive.rate_limited)),
        ("updates given up", "-", str(naive.given_up)),
        ("most in any window", str(report.max_in_window), str(report.naive_max_in_window)),
        ("mean map error", f"{report.mean_error:.0f} m", f"{report.naive_mean_error:.0f} m"),
    ]
    print(
        f"\nside by side, same simulated world: the bridge, and a loop that sends every call every "
        f"{report.naive_interval:g} simulated s\n(what an integration around the official SDK "
        f"does; a 429 retried twice, as the SDK does, then given up)",
        file=out,
    )
    for name, bridge, loop in rows:
        print(f"  {name:<20} {bridge:>16} {loop:>22}", file=out)
    print(
        "\nmean map error: how far, on average, a call on the dispatcher's map is from where "
        "what it follows really is.\nA call's circle has a 50 m radius by default: within it, "
        "the dispatcher's circle still covers the unit;\nat three times that, it is a block "
        "away and units are sent to the wrong place. The naive loop\nalso spends requests on "
        "calls that did not move, and with more calls than the limit lets it send\neach "
        "round, draws 429s: updates lost.",
        file=out,
    )


def _mean(errors: list[float]) -> str:
    return f"{statistics.fmean(errors):.0f} m" if errors else "-"
