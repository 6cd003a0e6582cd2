"""The replay engine: the daemon's own Planner on a virtual clock, against a strict simulated CAD.

Nothing here decides what the daemon decides: positions go in through
`planner.observe`, requests come out of the daemon's own `bridge.driver.Driver` (the
object the push loop drives), and the simulated CAD's answers go back through
`Driver.complete`, one request at a time. The engine only measures the map the CAD ends up drawing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from bench.feed import Report, Reports, ShippedFeed
from bridge.driver import Answer, Driver, ListAnswer, PatchAnswer, Sleep
from bridge.meta import drawn_at
from bridge.motion import STOPPED
from bridge.outcomes import CallList, GetResult, Gone, Meta, PatchResult, RateLimited, Updated
from bridge.planner import MOVING, Fetch, Planner, Push
from bridge.standin.window import SlidingLog

SERVER_ID = 1


class Movement(Protocol):
    """Where each subject is at a given time (`Fleet`, `TraceFleet`)."""

    subjects: list[str]

    def positions(self, t: float) -> list[tuple[str, float, float, float]]: ...

    def speeds(self, t: float) -> list[tuple[str, float]]: ...


@dataclass(frozen=True)
class Truth:
    """Every subject's true position, velocity and speed at each simulated second, shared by
    all runs."""

    subjects: list[str]
    xyz: list[list[tuple[float, float, float]]]
    speed: list[list[float]]
    velocity: list[list[tuple[float, float, float]]]
    """What GetEntityVelocity reads: m/s east, north, up."""
    heading: list[list[float]]
    """What GetEntityHeading reads: the direction of travel, GTA's way (last one when still)."""

    @classmethod
    def sample(cls, movement: Movement, seconds: int) -> Truth:
        """Evaluate the movement once per second for `seconds` seconds."""
        h = 0.05
        xyz = [[(x, y, z) for _, x, y, z in movement.positions(float(t))] for t in range(seconds)]
        speed = [[v for _, v in movement.speeds(float(t))] for t in range(seconds)]
        velocity, heading = [], []
        facing = [0.0] * len(movement.subjects)
        for t in range(seconds):
            before = movement.positions(max(0.0, t - h))
            after = movement.positions(t + h)
            span = (t + h) - max(0.0, t - h)
            now = []
            for i, ((_, x0, y0, z0), (_, x1, y1, z1)) in enumerate(zip(before, after, strict=True)):
                vx, vy, vz = (x1 - x0) / span, (y1 - y0) / span, (z1 - z0) / span
                if math.hypot(vx, vy) > 0.1:
                    facing[i] = math.degrees(math.atan2(-vx, vy)) % 360.0
                now.append((vx, vy, vz))
            velocity.append(now)
            heading.append(list(facing))
        return cls(list(movement.subjects), xyz, speed, velocity, heading)

    @property
    def seconds(self) -> int:
        """How long the recorded truth lasts."""
        return len(self.xyz)

    def sqrt_law_floor(self, rate: float, lag: int = 30) -> float:
        """The square-root-law error of a zero-order-hold map at `rate` pushes per second.

        Mean error is about v / (2 f) per subject, least when f is proportional to sqrt(v):
        (sum of sqrt v)^2 / (2 rate N). Speeds are taken as the crow flies over `lag` seconds,
        since a subject that turned or stopped is nearer its drawn point than its odometer says.
        """
        count = len(self.subjects)
        total, samples = 0.0, 0
        for second in range(lag, self.seconds):
            roots = 0.0
            for (x1, y1, _), (x0, y0, _) in zip(
                self.xyz[second], self.xyz[second - lag], strict=True
            ):
                roots += math.sqrt(math.hypot(x1 - x0, y1 - y0) / lag)
            total += roots * roots / (2 * rate * count)
            samples += 1
        return total / max(1, samples)


class SimCad:
    """An in-process CAD that answers 429 to a request that would put more than `limit`
    requests in any `window` seconds (the stand-in's rule, `SlidingLog`), and echoes merged
    metaData."""

    def __init__(self, limit: int = 10, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self.calls: dict[int, Meta] = {}
        self._log = SlidingLog(limit, window)
        self.refused = 0
        self.accepted = 0
        self.most_in_window = 0

    def _admit(self, at: float) -> bool:
        if not self._log.admits(at):
            self.refused += 1
            return False
        self._log.record(at)
        self.accepted += 1
        self.most_in_window = max(self.most_in_window, self._log.used(at))
        return True

    def update_call(self, call_id: int, meta: Meta, at: float) -> PatchResult:
        """PATCH a call's metaData, arriving at `at`."""
        if not self._admit(at):
            return RateLimited(retry_after=None, detail="rate limited")
        if call_id not in self.calls:
            return Gone("no such call")
        self.calls[call_id] = dict(meta)
        call: dict[str, Any] = {"callId": call_id, "metaData": dict(meta)}
        return Updated(call=call, meta=dict(meta))

    def get_calls(self) -> GetResult:
        """GET every active call with its metaData (the GET route has its own window)."""
        return CallList({call_id: dict(meta) for call_id, meta in self.calls.items()})


@dataclass
class Run:
    """What one planner achieved on one workload."""

    policy: str
    mean_error: float
    p95_error: float
    longest_stale: float
    """Seconds: the longest a call stayed drawn off a subject that moved away, unpushed."""
    requests: int
    refusals: int
    most_in_window: int
    within_radius: float
    """Share of the time a subject was inside its call's drawn circle."""
    overshoot_p95: float
    """Metres: p95 of how far from a standing subject the pins pushed while it stood were."""
    stop_pushes: int
    """Pushes made while their subject stood still."""
    series: list[float] = field(repr=False)
    """Mean error over calls at each simulated second."""
    items_sent: int = 0
    """Positions items the feed carried (filled in by the caller that made the feed)."""
    pushes: list[tuple[float, int, float, float]] = field(default_factory=list, repr=False)
    """(time the push was made, subject index, x, y) of every push the CAD took."""
    bound: float = math.nan
    """Mean error no schedule on the budget's slot grid goes under (the clairvoyant's only)."""


class _Replay:
    """One run's state: the planner, the simulated CAD and the measurements."""

    def __init__(self, planner: Planner, truth: Truth, latency: float, cad: SimCad) -> None:
        self.planner = planner
        self.truth = truth
        self.latency = latency
        self.cad = cad
        count = len(truth.subjects)
        self.stale_since = [math.inf] * count
        self.longest = 0.0
        self.inside = 0
        self.samples: list[float] = []
        self.series: list[float] = []
        self.driver = Driver(planner)
        self.answered: Answer | None = None
        """The answer of the request in flight, folded in when it has arrived."""
        self.pins: list[tuple[float, int, float, float]] = []
        """(arrival time, subject index, x, y) of every push the CAD took."""

    def request(self, action: Push | Fetch, now: float) -> None:
        """Start the request; the answer is folded in `latency` seconds later."""
        self.driver.begin(action, now)
        done = now + self.latency
        if isinstance(action, Fetch):
            self.answered = ListAnswer(action, self.cad.get_calls(), None, now, done)
            return
        arrives = now + self.latency / 2
        result = self.cad.update_call(action.key[2], action.meta, arrives)
        if isinstance(result, Updated):
            self.stale_since[action.key[2] - 1] = math.inf
            self.pins.append((arrives, action.key[2] - 1, action.x, action.y))
        self.answered = PatchAnswer(action, result, None, now, done)

    def answer(self, now: float) -> None:
        """Fold in the answer that has arrived by `now`, if any."""
        if self.answered is not None and self.answered.ended <= now:
            answer, self.answered = self.answered, None
            self.driver.complete(answer)

    def measure(self, second: int) -> None:
        """Sample every call's error, stale time and radius cover at this second."""
        now = float(second)
        min_move = self.planner.settings.min_move
        errors = []
        for i, ((x, y, _), speed) in enumerate(
            zip(self.truth.xyz[second], self.truth.speed[second], strict=True)
        ):
            meta = self.cad.calls[i + 1]
            drawn = drawn_at(meta)
            assert drawn is not None
            error = math.hypot(x - drawn[0], y - drawn[1])
            errors.append(error)
            radius = float(meta.get("radius", self.planner.settings.default_radius))
            self.inside += error <= radius
            # Stale from when the subject moves away from its drawn point until the next push;
            # a subject back within min_move of the drawn point is drawn right again.
            if error <= min_move:
                self.stale_since[i] = math.inf
            elif speed > MOVING and self.stale_since[i] == math.inf:
                self.stale_since[i] = now
            if self.stale_since[i] != math.inf:
                self.longest = max(self.longest, now - self.stale_since[i])
        self.samples.extend(errors)
        self.series.append(sum(errors) / len(errors))

    def report(self, reports: list[Report], second: int) -> None:
        """Hand the daemon what the resource sent this second, as the listener does."""
        now = float(second)
        for r in reports:
            self.planner.observe(
                SERVER_ID, self.truth.subjects[r.index], r.x, r.y, r.z, now,
                vx=r.vx, vy=r.vy, speed=r.speed, heading=r.heading,
            )  # fmt: skip

    def overshoot(self) -> list[float]:
        """Metres from a standing subject of each pin pushed while it stood."""
        found = []
        last = self.truth.seconds - 1
        for at, i, x, y in self.pins:
            second = min(int(at), last)
            if (
                self.truth.speed[second][i] < STOPPED
                and self.truth.speed[max(0, second - 1)][i] < STOPPED
            ):
                sx, sy, _ = self.truth.xyz[second][i]
                found.append(math.hypot(x - sx, y - sy))
        return found

    def serve(self, second: int) -> None:
        """Make the requests the planner wants during this second, at the moments it wants."""
        now, end = float(second), second + 1.0
        while now < end:
            self.answer(now)
            # One request at a time, as the push loop does: the next choice sees the last answer.
            asked = self.driver.step(now)
            if not isinstance(asked, Sleep):
                self.request(asked, now)
                continue
            upcoming = [end]
            if self.answered is not None:
                upcoming.append(self.answered.ended)
            if asked.until is not None:
                upcoming.append(asked.until)
            # Otherwise the policy left an open slot unspent: look again at the next fixes.
            now = min(upcoming)


def replay(
    make_planner: Callable[[], Planner],
    truth: Truth,
    *,
    latency: float = 0.4,
    limit: int = 10,
    window: float = 60.0,
    reports: Reports | None = None,
) -> Run:
    """Drive a fresh planner through the recorded truth; measure the map the CAD draws.

    `reports` are what the resource sends (`bench.feed`; the shipped sampler's by default).
    The simulated CAD enforces a strict `limit` per `window`; the planner brings its own budget
    (the daemon's), so any 429 counted here is a fault in the budget arithmetic.
    """
    if reports is None:
        reports = ShippedFeed().reports(truth)
    planner = make_planner()
    cad = SimCad(limit, window)
    for call_id, (subject, (x, y, z)) in enumerate(
        zip(truth.subjects, truth.xyz[0], strict=True), start=1
    ):
        # The dispatcher created each call where its subject was when tracking began; the
        # planner learns its metaData with a GET, as the daemon does.
        cad.calls[call_id] = {"x": f"{x:.2f}", "y": f"{y:.2f}", "z": f"{z:.2f}", "postal": "900"}
        planner.track(SERVER_ID, call_id, subject, 0.0)
    run = _Replay(planner, truth, latency, cad)
    for second in range(truth.seconds):
        run.measure(second)
        run.report(reports[second], second)
        run.serve(second)
    samples = sorted(run.samples)
    overshoot = sorted(run.overshoot())
    return Run(
        policy=planner.policy.name,
        mean_error=sum(samples) / len(samples),
        p95_error=percentile(samples, 0.95),
        longest_stale=run.longest,
        requests=cad.accepted + cad.refused,
        refusals=cad.refused,
        most_in_window=cad.most_in_window,
        within_radius=run.inside / len(samples),
        overshoot_p95=percentile(overshoot, 0.95),
        stop_pushes=len(overshoot),
        series=run.series,
        pushes=[(at - latency / 2, i, x, y) for at, i, x, y in run.pins],
    )


def percentile(ordered: list[float], share: float) -> float:
    """The `share` quantile of sorted values (0 for none), nearest rank below."""
    return ordered[int(share * (len(ordered) - 1))] if ordered else 0.0
