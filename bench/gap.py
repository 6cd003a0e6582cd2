"""Where the clairvoyant's advantage comes from: which call gets a slot, or where its pin goes.

Two schedules (which call is pushed when): ours, as the daemon's planner made it in the replay,
and the clairvoyant's (`bench.clairvoyant`). Each is redrawn with its pins put by one rule:

- *as made*: the pins the schedule made (ours: the daemon's prediction and lead);
- *now*: where the subject truly was when pushed (perfect knowledge of now, no lead);
- *dead-reckoned*: that position run on at the true velocity of the moment for half the time
  the pin will be held (at most 30 s): what a constant-velocity model could do if it knew when
  the call is pushed next, the information the daemon can have;
- *along*: on the straight line ahead, at the median of how far the subject will have gone:
  foresight of its speed (a stop, braking, setting off) but not of its turns;
- *blind turns*: the median over the true path and every path that differs from it only in
  which way turns go: foresight of speed, stops and when and where turns come, not their way;
- *habit futures*: the median of futures drawn from the subject's own straight runs so far;
- *posterior* (street-grid fleets only, `bench.posterior`): the median of futures drawn from the
  fleet's own movement code given everything its movement so far leaves open: at least as good
  as any model of the past could do;
- *median*: the geometric median of where the subject will be while the pin is held: the
  clairvoyant's pin, which needs the future (a turn, a stop, a start).

Reading across a row separates where from which: the pin rules on the same schedule, and the
same rule on both schedules. `python -m bench.gap` (tuning seeds by default, never the
held-out ones).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from statistics import fmean

if __package__ in (None, ""):  # run as a file: python bench/gap.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.clairvoyant import (
    PinRule,
    clairvoyant,
    measure,
    pin_along,
    pin_blind_turns,
    pin_dead_reckoned,
    pin_habit_futures,
    pin_median,
    pin_now,
    redraw,
    repin,
)
from bench.feed import ShippedFeed
from bench.posterior import posterior_pins
from bench.sim import Truth, replay
from bench.workloads import OURS, POLICIES, ROUND_ROBIN, TUNING, WORKLOADS
from bridge.standin.routes import Fleet

RULES: dict[str, PinRule] = {
    "now": pin_now,
    "dead-reckoned": pin_dead_reckoned,
    "along": pin_along,
    "blind turns": pin_blind_turns,
    "habit futures": pin_habit_futures,
    "median": pin_median,
}
ON_BOTH = ("now", "dead-reckoned")
"""Pin rules also redrawn on the clairvoyant's schedule (the others need no second look)."""
COLUMNS = (
    "round-robin",
    "ours",
    "ours now",
    "ours dead-reckoned",
    "ours along",
    "ours blind turns",
    "ours habit futures",
    "ours posterior",
    "ours median",
    "clairvoyant now",
    "clairvoyant dead-reckoned",
    "clairvoyant posterior",
    "clairvoyant",
)


def analyse(job: tuple[str, int, int]) -> dict[str, float]:
    """Mean error of every column for one workload at one seed offset."""
    name, k, seconds = job
    movement = WORKLOADS[name](k).movement()
    truth = Truth.sample(movement, seconds)
    reports = ShippedFeed().reports(truth)
    ours = replay(POLICIES[OURS], truth, reports=reports)
    found = {
        "round-robin": replay(POLICIES[ROUND_ROBIN], truth, reports=reports).mean_error,
        "ours": ours.mean_error,
    }
    schedule = clairvoyant(truth)
    best = measure(truth, schedule)
    found["clairvoyant"] = best.mean_error
    if isinstance(movement, Fleet):
        rule = posterior_pins(movement, truth)
        found["ours posterior"] = redraw(truth, repin(truth, ours.pushes, rule)).mean_error
        found["clairvoyant posterior"] = redraw(truth, repin(truth, best.pushes, rule)).mean_error
    for label, rule in RULES.items():
        found[f"ours {label}"] = redraw(truth, repin(truth, ours.pushes, rule)).mean_error
        if label in ON_BOTH:
            mine = repin(truth, best.pushes, rule)
            found[f"clairvoyant {label}"] = redraw(truth, mine).mean_error
    return found


def main(argv: list[str] | None = None) -> int:
    """Print the table: mean error, m, of every schedule and pin rule, per workload."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", action="append", choices=sorted(WORKLOADS))
    parser.add_argument("--seeds", type=int, nargs="*", default=list(TUNING[:2]))
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    names = [n for n in (args.workload or list(WORKLOADS)) if n != "still-10"]
    jobs = [(name, k, int(args.minutes * 60)) for name in names for k in args.seeds]
    with ProcessPoolExecutor(max(1, min(args.jobs, len(jobs)))) as pool:
        results = list(pool.map(analyse, jobs))
    print(f"mean error, m, over seed offsets {args.seeds}, {args.minutes:g} minutes each")
    print(f"{'workload':<15}" + "".join(f"{c:>{max(9, len(c) + 2)}}" for c in COLUMNS))
    for name in names:
        runs = [r for (n, _, _), r in zip(jobs, results, strict=True) if n == name]
        print(
            f"{name:<15}"
            + "".join(
                f"{fmean([r.get(c, math.nan) for r in runs]):>{max(9, len(c) + 2)}.1f}"
                for c in COLUMNS
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
