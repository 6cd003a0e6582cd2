"""A clairvoyant yardstick: the best map found by a scheduler that knows every subject's future.

It keeps the daemon's rules: the same budget (10 pushes per 61 s, so never an 11th in a closed
60 s window), pushes no closer than the pacing allows, a pushed point stays drawn until the
next push, and a push is drawn from the moment it is made (as in `bench.sim`, where the
simulated CAD takes it at once and the map is measured at whole seconds). Within those rules it
chooses, knowing the whole truth, which call each slot goes to and where its pin is put.

How, and what it guarantees:

- **Slots.** The budget's even spacing, 61 s / 10 = 6.1 s: one slot at 0, 6.1, 12.2 s and so
  on (590 an hour), each used by at most one call or left unspent. The even grid meets the
  window and the pacing at once and holds as many pushes as any schedule can; timing a push a
  few seconds earlier or later than the grid is not searched.
- **Pins.** A pin held over an interval of whole seconds is put at the geometric median of
  the subject's positions at those seconds (Weiszfeld's iteration from their mean,
  `WEISZFELD` steps, or the position at the interval's middle second where that is nearer):
  close to the point that minimises the summed distance the benchmark measures.
- **Which call.** Per call, a dynamic programme over its push slots (any gap up to `MAX_GAP`
  slots, or none after the last) finds its best pushes for given slot prices; the prices are
  the Lagrange multipliers of "one call per slot", found by subgradient steps. The dual value
  is a **lower bound** on every schedule on the grid (with these pins); the schedule reported
  is the best feasible one found from the priced solutions (calls take free slots in turn at
  the prices, then each call in turn re-plans over the slots the others leave, until nothing
  improves). `Schedule.bound` and `Schedule.gap` say how far from optimal on the grid it can
  be, for every run.

`tests/test_clairvoyant.py` checks it against brute force over every schedule of small cases.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from bench.sim import Run, SimCad, Truth, percentile
from bridge.config import Config
from bridge.motion import HORIZON, STOPPED

Array = npt.NDArray[np.float64]

MAX_GAP = 60
"""Slots a pin may be held before the call's next push (366 s); after the last, any length."""
WEISZFELD = 4
"""Weiszfeld steps from the mean towards the geometric median of a pin's interval."""
ROUNDS = 80
"""Subgradient steps on the slot prices."""


def spacing(config: Config | None = None) -> float:
    """Seconds between slots: the budget's window and margin over its pushes."""
    budget = (config or Config()).budget
    return (budget.window_seconds + budget.margin_seconds) / budget.update_call


def slot_times(seconds: int, every: float) -> list[float]:
    """Slot times from 0, while a push there would still be seen (before the last second)."""
    count = math.floor((seconds - 1) / every - 1e-9) + 1
    return [s * every for s in range(count)]


def _medians(points: Array, ends: npt.NDArray[np.int64]) -> tuple[Array, Array]:
    """For each end e, the geometric median of points[:e] and the summed distance to it.

    Weiszfeld's iteration from the mean; the position at the middle second is taken instead
    where it is nearer (a subject parked for most of the interval: the iteration creeps
    towards that spot, the middle second is on it)."""
    mask = np.arange(len(points))[None, :] < ends[:, None]

    def distances(pin: Array) -> Array:
        return np.hypot(points[None, :, 0] - pin[:, None, 0], points[None, :, 1] - pin[:, None, 1])

    weight = mask.astype(float)
    pin = (weight @ points) / np.maximum(weight.sum(1), 1.0)[:, None]
    for _ in range(WEISZFELD):
        w = mask / np.maximum(distances(pin), 1e-3)
        pin = (w @ points) / np.maximum(w.sum(1), 1e-12)[:, None]
    cost = (distances(pin) * mask).sum(1)
    middle = points[np.maximum(ends - 1, 0) // 2]
    there = (distances(middle) * mask).sum(1)
    nearer = there < cost
    return np.where(nearer[:, None], middle, pin), np.where(nearer, there, cost)


@dataclass
class CallCosts:
    """One call's cost of every pin it could hold: summed metres over the seconds it is drawn.

    A push at slot a is seen from second `first[a]` (the first whole second after it) until
    the second before the next push is seen.
    """

    start: Array
    """start[b]: the created point held until slot b's push is seen (start[S]: for ever)."""
    hold: Array
    """hold[a, j]: a pin pushed at slot a held until slot a + 1 + j's push is seen."""
    hold_pin: Array
    last: Array
    """last[a]: a pin pushed at slot a held to the end."""
    last_pin: Array

    @classmethod
    def of(cls, xy: Array, first: npt.NDArray[np.int64], gap: int = MAX_GAP) -> CallCosts:
        """The costs for a subject at xy (seconds x 2) and slots first seen at `first`."""
        seconds, slots = len(xy), len(first)
        bounds = np.append(first, seconds)
        created = np.hypot(xy[:, 0] - xy[0, 0], xy[:, 1] - xy[0, 1])
        start = np.append(np.cumsum(created)[bounds[:-1] - 1], created.sum())
        hold = np.full((slots, gap), np.inf)
        hold_pin = np.zeros((slots, gap, 2))
        last_pin = np.zeros((slots, 2))
        last = np.zeros(slots)
        for a in range(slots):
            b = np.arange(a + 1, min(slots, a + 1 + gap))
            if len(b):
                points = xy[first[a] : first[b[-1]]]
                pin, cost = _medians(points, first[b] - first[a])
                hold[a, : len(b)] = cost
                hold_pin[a, : len(b)] = pin
            tail = xy[first[a] :]
            pin, cost = _medians(tail, np.array([len(tail)]))
            last[a], last_pin[a] = cost[0], pin[0]
        return cls(start, hold, hold_pin, last, last_pin)

    def plan(self, price: Array) -> tuple[float, list[int]]:
        """The least cost plus prices of this call's pushes, and its slots (inf: forbidden)."""
        slots, gap = self.hold.shape
        value = np.full(slots, np.inf)
        back = np.full(slots, -1, dtype=np.int64)
        for b in range(slots):
            if not math.isfinite(price[b]):
                continue
            lo = max(0, b - gap)
            a = np.arange(lo, b)
            best, came = self.start[b], -1
            if len(a):
                through = value[lo:b] + self.hold[a, b - 1 - a]
                k = int(np.argmin(through))
                if through[k] < best:
                    best, came = float(through[k]), lo + k
            value[b] = best + price[b]
            back[b] = came
        ends = value + self.last
        b = int(np.argmin(ends)) if slots else -1
        if b < 0 or not ends[b] < self.start[slots]:
            return float(self.start[slots]), []
        chosen = []
        while b >= 0:
            chosen.append(b)
            b = int(back[b])
        return float(ends[chosen[0]]), chosen[::-1]

    def cost(self, chosen: list[int]) -> float:
        """Summed metres of a call pushed at these slots (ascending)."""
        if not chosen:
            return float(self.start[-1])
        total = float(self.start[chosen[0]] + self.last[chosen[-1]])
        for a, b in itertools.pairwise(chosen):
            total += float(self.hold[a, b - a - 1]) if b - a <= self.hold.shape[1] else math.inf
        return total

    def pins(self, chosen: list[int]) -> list[tuple[float, float]]:
        """Where each push of `chosen` puts the call."""
        found = []
        for n, a in enumerate(chosen):
            pin = (
                self.last_pin[a]
                if n + 1 == len(chosen)
                else self.hold_pin[a, chosen[n + 1] - a - 1]
            )
            found.append((float(pin[0]), float(pin[1])))
        return found


@dataclass
class Schedule:
    """The clairvoyant's pushes, and how far from the best schedule on the grid they can be."""

    slots: list[float]
    chosen: list[list[int]]
    """Per call, the slots it is pushed at."""
    pins: list[list[tuple[float, float]]]
    total: float
    """Summed metres over calls and seconds."""
    bound: float
    """No schedule on the grid (with these pins) sums less: the Lagrangian dual value."""
    rounds: list[float] = field(default_factory=list)

    @property
    def gap(self) -> float:
        """The share the schedule may be above the best on the grid."""
        return self.total / self.bound - 1.0 if self.bound > 0 else 0.0


def _loss(cost: CallCosts, chosen: list[int]) -> dict[int, float]:
    """What the call would lose if each of its slots were taken from it (the rest kept)."""
    base = cost.cost(chosen)
    return {s: cost.cost(chosen[:n] + chosen[n + 1 :]) - base for n, s in enumerate(chosen)}


def _feasible(costs: list[CallCosts], price: Array, order: list[int]) -> list[list[int]]:
    """Calls take free slots in `order` at these prices, then `_improve` without stealing."""
    owner = np.full(len(price), -1, dtype=np.int64)
    chosen: list[list[int]] = [[] for _ in costs]
    for i in order:
        at = np.where(owner < 0, price, np.inf)
        _, chosen[i] = costs[i].plan(at)
        owner[chosen[i]] = i
    return _improve(costs, chosen, order, steal=False)


def _improve(
    costs: list[CallCosts], chosen: list[list[int]], order: list[int], *, steal: bool
) -> list[list[int]]:
    """Until nothing improves, each call re-plans on the slots the others leave, and with
    `steal` also on the others' slots priced at what their owners would lose, taking them if
    the total falls (the owners re-planning on what is left)."""
    slots = costs[0].hold.shape[0] if costs else 0
    owner = np.full(slots, -1, dtype=np.int64)
    for i, plan in enumerate(chosen):
        owner[plan] = i
    total = sum(c.cost(p) for c, p in zip(costs, chosen, strict=True))
    improved = True
    while improved:
        improved = False
        for i in order:
            at = np.where((owner < 0) | (owner == i), 0.0, np.inf)
            for j, plan in enumerate(chosen):
                if steal and j != i:
                    for s, lost in _loss(costs[j], plan).items():
                        at[s] = lost
            _, wanted = costs[i].plan(at)
            trial = [list(p) for p in chosen]
            trial[i] = wanted
            taken = {int(owner[s]) for s in wanted} - {-1, i}
            mine = np.where(owner == i, -1, owner)
            mine[wanted] = i
            for j in taken:
                trial[j] = [s for s in chosen[j] if mine[s] == j]
            for j in taken:
                free = np.where((mine < 0) | (mine == j), 0.0, np.inf)
                value, better = costs[j].plan(free)
                if value < costs[j].cost(trial[j]) - 1e-6:
                    mine[trial[j]] = -1
                    trial[j] = better
                    mine[better] = j
            after = sum(c.cost(p) for c, p in zip(costs, trial, strict=True))
            if after < total - 1e-6:
                chosen, owner, total, improved = trial, mine, after, True
    return chosen


def _total(costs: list[CallCosts], chosen: list[list[int]]) -> float:
    return sum(c.cost(p) for c, p in zip(costs, chosen, strict=True))


def solve(costs: list[CallCosts], slots: list[float], rounds: int = ROUNDS) -> Schedule:
    """The best schedule found for these calls on these slots, and a lower bound under it."""
    count = len(slots)
    price = np.zeros(count)
    order = sorted(range(len(costs)), key=lambda i: -costs[i].start[-1])
    best = _feasible(costs, price, order)
    upper = _total(costs, best)
    lower, history = 0.0, []
    step = 1.0
    for _ in range(rounds):
        plans = [c.plan(price) for c in costs]
        dual = sum(v for v, _ in plans) - float(price.sum())
        lower = max(lower, dual)
        history.append(dual)
        use = np.zeros(count)
        for _, chosen in plans:
            use[chosen] += 1
        sub = use - 1.0
        sub[(price <= 0) & (sub < 0)] = 0.0
        if not sub.any():
            break  # the priced plans share no slot: together they are optimal
        if max(use) > 1:
            candidate = _feasible(costs, price, order)
            total = _total(costs, candidate)
            if total < upper:
                upper, best = total, candidate
        norm = float((sub * sub).sum())
        price = np.maximum(0.0, price + step * (upper - dual) / norm * sub)
        step = max(0.05, step * 0.96)
    for start in (best, _feasible(costs, price, order)):
        candidate = _improve(costs, start, order, steal=True)
        total = _total(costs, candidate)
        if total < upper:
            upper, best = total, candidate
    pins = [c.pins(p) for c, p in zip(costs, best, strict=True)]
    return Schedule(slots, best, pins, upper, min(lower, upper), history)


def clairvoyant(truth: Truth, config: Config | None = None, rounds: int = ROUNDS) -> Schedule:
    """The clairvoyant schedule for a recorded truth, on the budget's even slots."""
    slots = slot_times(truth.seconds, spacing(config))
    first = np.array([math.floor(t) + 1 for t in slots], dtype=np.int64)
    xy = np.array(truth.xyz, dtype=float)[:, :, :2]
    costs = [CallCosts.of(xy[:, i, :], first) for i in range(len(truth.subjects))]
    return solve(costs, slots, rounds)


def measure(truth: Truth, schedule: Schedule, config: Config | None = None) -> Run:
    """The schedule replayed against the strict simulated CAD, measured as `bench.sim` does."""
    pushes = [
        (schedule.slots[s], i, x, y)
        for i, (chosen, pins) in enumerate(zip(schedule.chosen, schedule.pins, strict=True))
        for s, (x, y) in zip(chosen, pins, strict=True)
    ]
    return redraw(truth, pushes, config)


def redraw(
    truth: Truth, pushes: list[tuple[float, int, float, float]], config: Config | None = None
) -> Run:
    """The map drawn by these pushes (time made, subject index, x, y) against the strict
    simulated CAD, measured as `bench.sim` does: a push is seen from the next whole second."""
    config = config or Config()
    cad = SimCad(10, config.budget.window_seconds)
    pushes = sorted(pushes)
    for i in range(len(truth.subjects)):
        cad.calls[i + 1] = {}
    drawn = [(x, y) for x, y, _ in truth.xyz[0]]
    samples: list[float] = []
    series: list[float] = []
    overshoot: list[float] = []
    radius = config.tracking.default_radius
    inside = 0
    n = 0
    for second in range(truth.seconds):
        while n < len(pushes) and pushes[n][0] < second:
            at, i, px, py = pushes[n]
            cad.update_call(i + 1, {"x": f"{px:.2f}", "y": f"{py:.2f}"}, at)
            drawn[i] = (px, py)
            k = min(int(at), truth.seconds - 1)
            if truth.speed[k][i] < STOPPED and truth.speed[max(0, k - 1)][i] < STOPPED:
                sx, sy, _ = truth.xyz[k][i]
                overshoot.append(math.hypot(px - sx, py - sy))
            n += 1
        errors = [
            math.hypot(x - dx, y - dy)
            for (x, y, _), (dx, dy) in zip(truth.xyz[second], drawn, strict=True)
        ]
        inside += sum(e <= radius for e in errors)
        samples.extend(errors)
        series.append(sum(errors) / len(errors))
    ordered = sorted(samples)
    stops = sorted(overshoot)
    return Run(
        policy="clairvoyant",
        mean_error=sum(samples) / len(samples),
        p95_error=percentile(ordered, 0.95),
        longest_stale=math.nan,
        requests=cad.accepted + cad.refused,
        refusals=cad.refused,
        most_in_window=cad.most_in_window,
        within_radius=inside / len(samples),
        overshoot_p95=percentile(stops, 0.95),
        stop_pushes=len(stops),
        series=series,
        pushes=pushes,
    )


PinRule = Callable[[Truth, int, int, int], tuple[float, float]]
"""Where a pin goes: (truth, subject index, first second seen, first second not) -> x, y."""


def pin_now(truth: Truth, i: int, begin: int, end: int) -> tuple[float, float]:
    """Where the subject is when the push is made: perfect knowledge of now, no lead."""
    x, y, _ = truth.xyz[begin - 1][i]
    return x, y


def pin_dead_reckoned(truth: Truth, i: int, begin: int, end: int) -> tuple[float, float]:
    """The subject's position and velocity when the push is made, run on for half the time
    the pin will be held (capped at the motion model's 30 s): the best a constant-velocity
    prediction can do when it knows how long the pin is held."""
    x, y, _ = truth.xyz[begin - 1][i]
    vx, vy, _ = truth.velocity[begin - 1][i]
    if math.hypot(vx, vy) < STOPPED:
        return x, y
    lead = min((end - begin + 1) / 2, HORIZON)  # to the middle of the seconds it is held
    return x + vx * lead, y + vy * lead


def pin_along(truth: Truth, i: int, begin: int, end: int) -> tuple[float, float]:
    """On the straight line ahead of the subject when pushed, at the median of how far it will
    have gone along its path while the pin is held: foresight of speed (stops, braking,
    setting off) without foresight of turns."""
    x, y, _ = truth.xyz[begin - 1][i]
    vx, vy, _ = truth.velocity[begin - 1][i]
    speed = math.hypot(vx, vy)
    if speed < STOPPED:
        heading = math.radians(truth.heading[begin - 1][i])
        ux, uy = -math.sin(heading), math.cos(heading)
    else:
        ux, uy = vx / speed, vy / speed
    gone, travelled = [], 0.0
    px, py = x, y
    for k in range(begin, end):
        qx, qy, _ = truth.xyz[k][i]
        travelled += math.hypot(qx - px, qy - py)
        gone.append(travelled)
        px, py = qx, qy
    gone.sort()
    middle = (gone[(len(gone) - 1) // 2] + gone[len(gone) // 2]) / 2 if gone else 0.0
    return x + ux * middle, y + uy * middle


def pin_median(truth: Truth, i: int, begin: int, end: int) -> tuple[float, float]:
    """The geometric median of where the subject will be while the pin is held: foresight."""
    points = np.array([truth.xyz[k][i][:2] for k in range(begin, end)], dtype=float)
    pin, _ = _medians(points, np.array([len(points)], dtype=np.int64))
    return float(pin[0][0]), float(pin[0][1])


CORNER = math.radians(60.0)
"""Change from the direction of travel held that counts as a turn."""
STEADY = math.radians(10.0)
"""Change of direction from one second on the move to the next that is still holding it."""
WAYS = 8
"""Turns within one pin's hold whose direction is left unknown (2^WAYS paths at most)."""
FUTURES = 96
"""Futures drawn per pin by `pin_habit_futures`."""

Turn = tuple[int, tuple[float, float], tuple[float, float]]
"""(the first second on the move after a turn, where it turned, the direction it came in on)."""


def _turns(truth: Truth, i: int, first: int, last: int) -> list[Turn]:
    """The subject's turns between seconds `first` and `last` (inclusive), oldest first: where
    its direction of travel has changed by more than `CORNER` from the one it held (a second
    sampled mid-turn, a stand or a slow bend does not split or hide a turn; a bend of under
    `STEADY` a second is followed)."""
    found: list[Turn] = []
    came: tuple[float, float] | None = None
    for k in range(first, last + 1):
        vx, vy, _ = truth.velocity[k][i]
        speed = math.hypot(vx, vy)
        if speed < STOPPED:
            continue
        going = (vx / speed, vy / speed)
        if came is not None:
            dot = came[0] * going[0] + came[1] * going[1]
            change = math.acos(max(-1.0, min(1.0, dot)))
            if change > CORNER:
                x, y, _ = truth.xyz[k - 1][i]
                found.append((k, (x, y), came))
            elif change > STEADY:
                continue  # turning, or a second sampled mid-turn: the held direction stands
        came = going
    return found


def pin_blind_turns(truth: Truth, i: int, begin: int, end: int) -> tuple[float, float]:
    """The geometric median of where the subject will be while the pin is held, over its true
    path and every path that differs from it only in which way turns go (each turn mirrored
    about the line the subject came in on, alone or with others): foresight of its speed, its
    stops, and where and when it turns, none of which way. At most what a road graph or a
    memory of where subjects turn could tell; the rest of `pin_median`'s gain is knowing the
    way, true foresight where a turn goes either way alike."""
    seg = np.array([truth.xyz[k][i][:2] for k in range(begin - 1, end)], dtype=float)
    paths = [seg]
    ahead = [turn for turn in _turns(truth, i, max(0, begin - 3), end - 1) if turn[0] > begin]
    for k, _, came in ahead[:WAYS]:
        j = k - begin + 1  # the index in seg of the first point after the turn
        more = []
        for path in paths:
            # Where this path turns and the way it came in there (the paths differ from the
            # truth after earlier turns only).
            here, into = path[j - 1], path[j - 1] - path[max(j - 2, 0)]
            norm = float(np.hypot(*into))
            u = into / norm if norm > 1e-6 else np.array(came)
            flipped = path.copy()
            d = path[j:] - here
            flipped[j:] = here + 2 * (d @ u)[:, None] * u[None, :] - d
            more.append(flipped)
        paths += more
    points = np.concatenate([path[1:] for path in paths])
    pin, _ = _medians(points, np.array([len(points)], dtype=np.int64))
    return float(pin[0][0]), float(pin[0][1])


def pin_habit_futures(truth: Truth, i: int, begin: int, end: int) -> tuple[float, float]:
    """The geometric median of futures drawn from what the subject's own past says: its
    latest eight straight runs (turn to turn), how far this one has gone, its speed now. Each
    future runs on at that speed to a turn drawn from the runs longer than this one so far,
    turns left or right alike, and goes on in runs drawn from the same. Only the present and
    the past: what a daemon that knew the subject's runs exactly could do with them."""
    x, y, _ = truth.xyz[begin - 1][i]
    vx, vy, _ = truth.velocity[begin - 1][i]
    speed = math.hypot(vx, vy)
    corners = [at for _, at, _ in _turns(truth, i, 0, begin - 1)]
    if speed < STOPPED or len(corners) < 4:
        return pin_dead_reckoned(truth, i, begin, end)
    runs = [math.dist(a, b) for a, b in itertools.pairwise(corners[-9:])]
    gone = math.dist(corners[-1], (x, y))
    longer = [r - gone for r in runs if r > gone] or [sum(runs) / len(runs)]
    rng = random.Random(f"{i}:{begin}")
    ux, uy = vx / speed, vy / speed
    points = []
    for _ in range(FUTURES):
        px, py, dx, dy = x, y, ux, uy
        left = rng.choice(longer)
        for _second in range(end - begin):
            step = speed
            while step > 0:
                move = min(step, left)
                px, py = px + dx * move, py + dy * move
                step, left = step - move, left - move
                if left <= 1e-9:
                    dx, dy = (-dy, dx) if rng.random() < 0.5 else (dy, -dx)
                    left = rng.choice(runs)
            points.append((px, py))
    pin, _ = _medians(np.array(points, dtype=float), np.array([len(points)], dtype=np.int64))
    return float(pin[0][0]), float(pin[0][1])


def repin(
    truth: Truth, pushes: list[tuple[float, int, float, float]], rule: PinRule
) -> list[tuple[float, int, float, float]]:
    """The same pushes (time, call) with each pin put by `rule` over the seconds it is held."""
    found = []
    by_call: dict[int, list[float]] = {}
    for at, i, _, _ in sorted(pushes):
        by_call.setdefault(i, []).append(at)
    for i, times in by_call.items():
        for n, at in enumerate(times):
            begin = math.floor(at) + 1
            end = math.floor(times[n + 1]) + 1 if n + 1 < len(times) else truth.seconds
            if end <= begin:
                continue  # replaced before it was ever seen
            found.append((at, i, *rule(truth, i, begin, min(end, truth.seconds))))
    return found
