"""The one planner the tests and the benchmarks build by hand, on the production budgets."""

from __future__ import annotations

from dataclasses import replace

from bridge.budget import Budget
from bridge.planner import Planner, Settings
from bridge.postal import PostalIndex
from bridge.scheduler import Accumulator, PacedAccumulator


def make_planner(
    *,
    lead: bool = False,
    get_limit: int | None = 5,
    paced: bool = False,
    margin: float = 1.0,
    postals: PostalIndex | None = None,
    settings: Settings | None = None,
) -> Planner:
    """A planner on the real budgets (10 updates and `get_limit` reads a minute, `margin`).

    The plain accumulator unless `paced` (the daemon's policy), so answer handling is pinned
    down apart from the policy's pacing. Settings: 10 m moves, no lead unless asked, metaData
    never re-read for age, unless `settings` gives others (its `lead` then wins too).
    """
    chosen = settings or Settings(min_move=10.0, lead=lead, meta_max_age=0.0)
    policy = (
        PacedAccumulator(threshold=chosen.min_move, max_stale=chosen.max_stale)
        if paced
        else Accumulator(chosen.min_move)
    )
    return Planner(
        policy=policy,
        update_budget=Budget(10, 60.0, margin=margin),
        get_budget=None if get_limit is None else Budget(get_limit, 60.0, margin=margin),
        settings=replace(chosen),
        postals=postals,
    )
