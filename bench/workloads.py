"""The named, seeded workloads the replay benchmark runs, and the planners it compares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from bench.movement import FOOT, PARK_A_MINUTE, PURSUIT, TRAFFIC, Scripted, Still, Style
from bench.sim import MovingFleet
from bench.tracks import TraceFleet, load_csv, load_gpx
from bridge.build import planner_from
from bridge.config import Config, TrackingConfig
from bridge.planner import Planner
from bridge.scheduler import (
    Accumulator,
    GreedyError,
    OldestFirst,
    PacedAccumulator,
    Policy,
    RoundRobin,
)
from bridge.standin.routes import Fleet

BUS_TRACE = Path(__file__).resolve().parent / "traces" / "limerick-bus-304.gpx"


@dataclass(frozen=True)
class Workload:
    """Movement for a set of calls, one subject per call."""

    name: str
    description: str
    movement: Callable[[], MovingFleet]


def fleet(name: str, count: int, *, seed: int, moving_share: float, text: str) -> Workload:
    """A street-grid fleet workload."""
    return Workload(name, text, lambda: Fleet(count, seed=seed, moving_share=moving_share))


def trace(name: str, path: Path, count: int, *, seed: int) -> Workload:
    """Calls following one recorded track (GPX, or CSV of t,x,y), each from its own offset."""
    track = load_csv(path) if path.suffix.lower() == ".csv" else load_gpx(path)
    minutes = track[-1][0] / 60
    text = f"{count} calls on {path.name} ({minutes:.0f} min track), each from its own offset"
    return Workload(name, text, lambda: TraceFleet(track, count, seed=seed))


def scripted(name: str, style: Style, seed: int, text: str) -> Workload:
    """Ten subjects moving in a scripted style (`bench.movement`)."""
    return Workload(name, text, lambda: Scripted(10, style, seed=seed))


class WorkloadMaker(Protocol):
    """A workload for a seed offset: 0 is the reported run, others are for tuning."""

    def __call__(self, k: int = 0) -> Workload: ...


WORKLOADS: dict[str, WorkloadMaker] = {
    "mixed-10": lambda k=0: fleet(
        "mixed-10", 10, seed=10 + 1000 * k, moving_share=0.5,
        text="10 calls, subjects drive and park in turns (about half parked at any moment)",
    ),
    "mixed-30": lambda k=0: fleet(
        "mixed-30", 30, seed=30 + 1000 * k, moving_share=0.5,
        text="30 calls, subjects drive and park in turns (each call's turn ~every 3 minutes)",
    ),
    "all-moving-10": lambda k=0: fleet(
        "all-moving-10", 10, seed=110 + 1000 * k, moving_share=1.0,
        text="10 calls, subjects driving all the time",
    ),
    "real-bus": lambda k=0: trace("real-bus", BUS_TRACE, 10, seed=304 + 1000 * k),
    "pursuit-stop": lambda k=0: scripted(
        "pursuit-stop", PURSUIT, 901 + 1000 * k,
        "10 pursuits at 28-42 m/s that end in a hard stop (8 m/s2) and stand 1-5 min",
    ),
    "traffic-stops": lambda k=0: scripted(
        "traffic-stops", TRAFFIC, 902 + 1000 * k,
        "10 cars in stop-and-go: 40-150 s of driving, then a traffic stop of 30-180 s",
    ),
    "foot-chase": lambda k=0: scripted(
        "foot-chase", FOOT, 903 + 1000 * k,
        "10 runners at 3.5-7 m/s on 40 m blocks, turning often, stopping 5-60 s",
    ),
    "park-a-minute": lambda k=0: scripted(
        "park-a-minute", PARK_A_MINUTE, 904 + 1000 * k,
        "10 cars that drive 1-4 min, park for a minute, and drive off",
    ),
    "still-10": lambda k=0: Workload(
        "still-10", "10 calls whose subjects never move: every slot should be banked",
        lambda: Still(10, seed=905 + 1000 * k),
    ),
}  # fmt: skip
TUNING = (1, 2, 13, 14, 15, 16, 17, 18)
"""Seed offsets the defaults were tuned on; neither the reported run (0) nor HELD_OUT is here."""
HELD_OUT = tuple(range(3, 13))
"""Seed offsets no tuning looked at; the issue's targets are decided on their mean (--held-out)."""


PlannerFactory = Callable[[], Planner]


def daemon_planner(**settings: Any) -> Planner:
    """The planner the daemon builds from its default config (`bridge.build.planner_from`)."""
    planner = planner_from(Config())
    if settings:
        planner.configure(replace(planner.settings, **settings))
    return planner


def baseline(make_policy: Callable[[float], Policy]) -> PlannerFactory:
    """The daemon's planner and budget with another policy, and no lead."""

    def make() -> Planner:
        config = Config(tracking=TrackingConfig(lead=False))
        return planner_from(config, make_policy(config.tracking.min_move))

    return make


def variant(pace: float | None = None, **settings: Any) -> PlannerFactory:
    """The daemon's planner with one idea changed, to measure what that idea buys."""

    def make() -> Planner:
        config = Config()
        policy = PacedAccumulator(config.tracking.min_move, config.tracking.max_stale_seconds)
        if pace is not None:
            policy.pace = pace
        planner = planner_from(config, policy)
        planner.configure(replace(planner.settings, **settings))
        return planner

    return make


OURS = "ours"
ROUND_ROBIN = "round-robin"

POLICIES: dict[str, PlannerFactory] = {
    ROUND_ROBIN: baseline(lambda _: RoundRobin()),
    "oldest-first": baseline(OldestFirst),
    "greedy-error": baseline(GreedyError),
    "accumulator": baseline(Accumulator),
    OURS: daemon_planner,
}
"""The comparison: baselines through the same Planner and Budget, only the policy differs."""

ABLATIONS: dict[str, PlannerFactory] = {
    "ours, no lead": variant(lead=False),
    "ours, no trails": variant(trails=False),
    "ours, no pacing": variant(pace=0.0),
    "ours, lead 1/2 wait, cap 30 s": variant(lead_share=0.5, lead_cap=30.0),
    "ours, growing radius": variant(grow_radius=True),
    "accumulator + lead": lambda: planner_from(Config(), Accumulator(Config().tracking.min_move)),
}
"""Ours with one idea taken out or changed, to show what each idea buys."""
