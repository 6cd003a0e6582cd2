"""The reliability matrix: every CAD fault, bad input, restart and secret check, repeated, with
the figures written to docs/reliability.md.

    python -m bench.reliability                # 3 runs of each CAD fault and restart; ~4 min
    python -m bench.reliability --trials 1     # quicker
    python -m bench.reliability --out -        # print the report instead of writing it

Everything runs on loopback against the CAD stand-in (no API key needed), `--speedup` times
faster than production (30: a 60 s window lasts 2 s; timeouts and back-offs are scaled alike
where the daemon runs in this process). Times in the report are production-equivalent seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

if __package__ in (None, ""):  # run as a file: python bench/reliability.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hypothesis import HealthCheck, given, settings
from hypothesis.strategies import SearchStrategy
from websockets.exceptions import ConnectionClosed

from bench.faults import cad_faults, churn, run_cad_faults
from bench.frames import KINDS, BadFrame, check, oversized
from bench.live import LiveDaemon, Probe, dropped_after, served_during_flood, settle_bystander
from bench.restarts import Restart, expose_secrets, kill_and_restart, terminate_in_flight
from bench.rig import API_KEY, TOKEN, Outcome, Pace
from bridge import logs

ROOT = Path(__file__).resolve().parent.parent
HAND_WRITTEN = "## Ordinary trouble, fixed and pinned"
"""Where the generated part of docs/reliability.md ends: from here on the file is kept."""
NEIGHBOUR_WINDOWS = 40.0
"""How long the runs with another integration on the key last, in windows (40 minutes)."""


def say(text: str) -> None:
    """A progress line on stderr."""
    print(text, file=sys.stderr, flush=True)


def seconds(values: Iterable[float | None], pace: Pace) -> str:
    """Median and worst of test-time durations, as production seconds."""
    found = [v * pace.speedup for v in values if v is not None]
    if not found:
        return "never"
    return f"{statistics.median(found):.0f} s / {max(found):.0f} s"


# -- CAD faults ----------------------------------------------------------------------------


def cad_table(outcomes: list[Outcome], pace: Pace) -> list[str]:
    by_name: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_name[outcome.name].append(outcome)
    rows = [
        "| fault | runs | crashes | 429s of ours | other 429s | keys lost "
        "| converged after it cleared (median / worst) | busiest second |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for name, runs in by_name.items():
        never = sum(o.settle is None for o in runs)
        settle = seconds((o.settle for o in runs), pace) + (f", {never} never" if never else "")
        rows.append(
            f"| {name} | {len(runs)} | {sum(o.crashed for o in runs)} "
            f"| {sum(o.own_429s for o in runs)} | {sum(o.other_429s for o in runs)} "
            f"| {sum(o.keys_lost for o in runs)} | {settle} "
            f"| {max(o.busiest_second for o in runs)} |"
        )
    notes = sorted({note for o in outcomes for note in o.notes})
    return rows + [f"\nNote: {note}" for note in notes]


def neighbour_lines(outcomes: list[Outcome], names: set[str]) -> list[str]:
    by_name: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.name in names:
            by_name[outcome.name].append(outcome)
    return [
        f"- {name}: per run, {', '.join(str(o.other_429s - o.late_429s) for o in runs)} "
        f"collision(s) in its first 5 windows, then {', '.join(str(o.late_429s) for o in runs)} "
        f"in the remaining {NEIGHBOUR_WINDOWS - 5:.0f}."
        for name, runs in by_name.items()
    ]


# -- bad input -----------------------------------------------------------------------------


def bad_input(pace: Pace, examples: int) -> tuple[list[str], dict[str, float | int]]:
    """Every kind of bad frame, `examples` each, at a live daemon; then floods and quiet peers."""
    rows = [
        "| input | frames | answered as expected | wrong answers | other servers' state moved "
        "| crashes |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    extra: dict[str, float | int] = {}
    with LiveDaemon(pace) as live, Probe(live.url, 1) as bystander:
        settle_bystander(live, bystander, (11, 12, 13))
        with Probe(live.url, 2) as prober, Probe(live.url, 3) as odd:
            for kind, strategy in KINDS.items():
                counts: Counter[str] = Counter()
                probe_kind(live, prober, odd, strategy, examples, counts)
                rows.append(
                    f"| {kind} | {counts['frames']} | {counts['frames'] - counts['wrong']} "
                    f"| {counts['wrong']} | {counts['moved']} | {0 if live.alive() else 1} |"
                )
                say(f"  bad input: {kind}: {counts['frames']} frames, {counts['wrong']} wrong")
        closed = Counter[str]()
        for kind in ("positions", "sync"):
            for _ in range(5):
                closed[kind] += _closed_with_1009(live, oversized(kind))
        rows.append(
            f"| oversized batch (over 2 048 positions or 4 096 tracks, so over 64 KiB) "
            f"| {10} | {sum(closed.values())} closed with 1009 | {10 - sum(closed.values())} "
            f"| {0} | {0 if live.alive() else 1} |"
        )
        took, read = live.run(served_during_flood(live))
        extra["flood_served_s"], extra["flood_read"] = took, read
        for how in ("silent", "idle", "deaf"):
            extra[f"dropped_{how}_s"] = live.run(dropped_after(live, how))
        extra["alive"] = int(live.alive())
        extra["bystander_intact"] = int([c[0] for c in live.state(1)] == [11, 12, 13])
    return rows, extra


def probe_kind(live: LiveDaemon, prober: Probe, odd: Probe,
               strategy: SearchStrategy[BadFrame], examples: int,
               counts: Counter[str]) -> None:
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def send(bad: BadFrame) -> None:
        before = live.state(1)
        probe = odd if bad.expect is None else prober
        counts["frames"] += 1
        counts["wrong"] += check(bad, probe.errors_for(bad.frame)) is not None
        moved = live.state(1) != before or (bad.expect is not None and live.state(2) != [])
        counts["moved"] += moved

    send()


def _closed_with_1009(live: LiveDaemon, frame: str) -> bool:
    with Probe(live.url, 4) as probe:
        probe.ws.send(frame)
        try:
            probe.ws.recv(5)
        except ConnectionClosed as exc:
            return exc.rcvd is not None and exc.rcvd.code == 1009
    return False


# -- the report ----------------------------------------------------------------------------


def report(pace: Pace, trials: int, examples: int) -> str:
    started = time.monotonic()
    faults = cad_faults(pace)
    matrix = [
        replace(f, windows=NEIGHBOUR_WINDOWS) if f.neighbour else f
        for f in faults for _ in range(trials)
    ]
    say(f"CAD faults: {len(faults)} kinds x {trials} runs, side by side "
        f"(the neighbour runs last {NEIGHBOUR_WINDOWS * pace.window:.0f} s)...")
    outcomes = asyncio.run(run_cad_faults(matrix, pace, parallel=len(faults)))
    say(f"  done in {time.monotonic() - started:.0f} s")

    say("memory: a long churn of tracks, untracks and passing subjects...")
    memory = churn(rounds=50_000, live=20)

    say(f"bad input: {len(KINDS)} kinds x up to {examples} frames...")
    input_rows, peers = bad_input(pace, examples)

    say(f"restarts: kill -9 x {trials}...")
    restarts: list[Restart] = [asyncio.run(kill_and_restart(pace, 11 + i)) for i in range(trials)]
    say("SIGTERM: with a request hanging, without, and with production timeouts...")
    stops = {
        "a request hangs in the CAD (client timeout 1 s)": asyncio.run(terminate_in_flight(pace)),
        "nothing in flight": asyncio.run(terminate_in_flight(pace, hang=False)),
        "a request hangs, production timeout 10 s (grace 5 s)": asyncio.run(
            terminate_in_flight(pace, client_timeout=10.0)
        ),
    }
    say("security: every error path, searched for the key and token...")
    exposure = asyncio.run(expose_secrets(pace))
    leaks = exposure.leaks(API_KEY, TOKEN)
    elapsed = time.monotonic() - started

    lines = [
        "# Reliability",
        "",
        "What the daemon does when the CAD misbehaves, when the resource sends garbage, when it",
        "is killed, and whether its secrets ever show. Produced by `python -m bench.reliability"
        f" --trials {trials}` ({elapsed / 60:.1f} minutes on a 2-core machine); rerun it to check.",
        "",
        f"Everything runs on loopback against the CAD stand-in, {pace.speedup:g}x faster than "
        f"production: the budget window is {pace.window:g} s for 10 updates, and the daemon's "
        "timeouts, back-offs and refetch interval are divided alike. Times below are "
        "production-equivalent seconds (test seconds x "
        f"{pace.speedup:g}), so a window is 60 s.",
        "",
        "## Faults from the CAD",
        "",
        "Each run: 7 calls follow moving subjects (4 with the metaData the resource relayed, 3",
        "without, one of them tracked during the fault, so a GET must succeed first); one window",
        "of normal running; the fault for 3 windows (40 for another integration on the key);",
        "then the fault clears, every subject parks, and the run waits until every open call is",
        "drawn within 1 m of its subject.",
        "",
        "- *429s of ours*: a 429 while the stand-in's window held 10 of our own requests",
        "  (neither the neighbour's spending nor injected 429s count). *Other 429s*: injected or",
        "  caused by the neighbour. *Keys lost*: PATCH bodies, or stored calls at the end,",
        "  missing or changing any metaData key the daemon was given. *Busiest second*: the most",
        "  times the push loop looked at its planner in one second (input alone wakes it 10",
        "  times a second; a spin would be thousands).",
        "",
        *cad_table(outcomes, pace),
        "",
        "Another integration on the key, spending 4 of the 10 updates a window (+-20% jitter)",
        f"for {NEIGHBOUR_WINDOWS:.0f} windows: the first collisions are how the daemon learns "
        "what is left for it; later ones are probes of whether the neighbour has gone, each",
        "doubling the wait before the next (5, 10, 20, then 40 windows).",
        "",
        *neighbour_lines(outcomes, {f.name for f in faults if f.neighbour}),
        "",
        "Memory over a long run: "
        f"{memory.rounds:,} rounds of a new call tracked, the oldest untracked or closed, five",
        "subjects nobody follows passing by, pushes and fetches answered, a sync every 1 000:",
        f"{memory.calls} calls, {memory.fixes} fixes and {memory.followers} follower sets remain "
        f"(20 were live), {memory.fetch_marks} fetch marks; the daemon's code held "
        f"{memory.growth_kib:.1f} KiB more at the end than at a tenth of the run.",
        "",
        "## Bad input on the socket",
        "",
        "Frames drawn by hypothesis (`bench/frames.py`, the same strategies the tests use), each",
        "sent by one game server and followed by a sentinel: a bad frame must draw exactly one",
        "`error` naming the problem (the JSON path, the missing field, `NaN`, `binary`, ...), a",
        "valid one none; after each, the state of another server following three calls is",
        "compared, and the sender's own (bad frames must leave it empty).",
        "",
        *input_rows,
        "",
        f"- A flood of 15 000 bad frames from one server: another server's `track` was answered "
        f"{peers['flood_served_s'] * 1000:.0f} ms after it was sent, when the daemon had read "
        f"{peers['flood_read']:,} of the flood.",
        f"- Quiet clients, with hello_timeout 1 s and idle_timeout {pace.scaled(120):g} s here "
        "(5 s and 120 s by default), in wall-clock seconds: one that never says hello was dropped "
        f"after {peers['dropped_silent_s']:.1f} s, one silent after its hello after "
        f"{peers['dropped_idle_s']:.1f} s, one that keeps sending but stops reading after "
        f"{peers['dropped_deaf_s']:.1f} s (a ping after the idle time, no pong within it, then "
        "the close within it: 45 s with the defaults).",
        f"- After all of it the daemon was {'alive' if peers['alive'] else 'DEAD'} and the other "
        f"server's calls {'untouched' if peers['bystander_intact'] else 'CHANGED'}.",
        "",
        "## Restarts",
        "",
        "`kill -9` of `python -m bridge run` one and a half windows into a run with 7 moving",
        "calls, then a new process on the same port; the feeder reconnects and syncs as the",
        "resource does. *Blind writes*: PATCHes of a call whose metaData the new process had not",
        "read (from the resource or a GET) yet.",
        "",
        "| run | reconnected and synced | blind writes | keys lost | 429s of ours "
        "| converged after the subjects parked |",
        "|---|---|---:|---:|---:|---|",
        *[
            f"| {i + 1} | {r.reconnect or 0:.2f} s after the kill | {r.blind_writes} "
            f"| {r.keys_lost} | {r.own_429s} | {seconds([r.settle], pace).split(' /')[0]} |"
            for i, r in enumerate(restarts)
        ],
        "",
        "SIGTERM (wall-clock seconds; the grace is min(5 s, cad.timeout_seconds)):",
        "",
        "| case | exit code | exit after | request in flight | last log line `stopped` |",
        "|---|---:|---:|---|---|",
        *[
            f"| {case} | {s.exit_code} | {s.seconds:.2f} s "
            f"| {'abandoned at the grace' if s.abandoned else 'finished or none'} "
            f"| {'yes' if s.stopped_cleanly else 'NO'} |"
            for case, s in stops.items()
        ],
        "",
        "## Secrets",
        "",
        f"{len(exposure.paths)} error paths driven against a daemon process (JSON logs at debug,"
        " listening on 0.0.0.0 with allow_remote) and the command line; everything printed,",
        "logged or sent back was searched for the API key and the token: "
        f"**{len(leaks)} found**.",
        "",
        *[f"- {path}" for path in exposure.paths],
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3, help="runs of each fault (default 3)")
    parser.add_argument("--examples", type=int, default=300, help="frames per bad-input kind")
    parser.add_argument("--speedup", type=float, default=30.0, help="time runs this much faster")
    parser.add_argument("--out", default=str(ROOT / "docs" / "reliability.md"),
                        help="where to write the report ('-' for stdout)")
    args = parser.parse_args(argv)
    logs.configure("critical", "console")
    text = report(Pace(args.speedup), args.trials, args.examples)
    if args.out == "-":
        print(text)
    else:
        out = Path(args.out)
        old = out.read_text() if out.exists() else ""
        if HAND_WRITTEN in old:  # the sections written by hand, and by other benches, stay
            text = text.rstrip("\n") + "\n\n" + old[old.index(HAND_WRITTEN):]
        out.write_text(text)
        say(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

