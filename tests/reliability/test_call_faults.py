"""One call the CAD refuses beside healthy ones: the refusal costs that call, not the budget.

The real push loop, planner and CAD client against the HTTP stand-in over loopback, on virtual
time: the stand-in's window and the loop share one clock that jumps, so ten minutes of the
production window take a fraction of a second and every run is the same.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import structlog

from bench.kit import WINDOW, ClockedCad, VirtualTime
from bridge.app import planner_from
from bridge.config import BudgetConfig, Config, TrackingConfig
from bridge.planner import Alert, Notice
from bridge.protocol import Position, Positions, Track
from bridge.pusher import PushLoop
from bridge.standin.cad import Fault

REFUSED = 701
HEALTHY = (702, 703, 704)
SPEED = 10.0
DETAIL = "metaData.postal: expected a string"


@dataclass
class Run:
    """What one run came to: requests the stand-in saw per call, and what the loop said."""

    requests: Counter[int] = field(default_factory=Counter)
    pushes: Counter[int] = field(default_factory=Counter)
    events: list[Notice | Alert] = field(default_factory=list)

    def share(self, call_id: int) -> float:
        """The call's share of every update request."""
        return self.requests[call_id] / max(1, sum(self.requests.values()))


async def run(calls: tuple[int, ...], *, refused: bool, seconds: float = 10 * WINDOW) -> Run:
    """Every call follows a subject driving off at `SPEED`; `REFUSED` is answered 400 always."""
    time = VirtualTime()
    result = Run()
    seeded = {call_id: {"postal": str(call_id), "uuid": f"u-{call_id}"} for call_id in calls}
    async with ClockedCad(time, calls=seeded) as clocked:
        standin = clocked.standin
        if refused:
            standin.inject(Fault(400, detail=DETAIL), 1_000_000, call=(1, REFUSED))
        config = Config(budget=BudgetConfig(state_file=""), tracking=TrackingConfig(min_move=1.0))
        planner = planner_from(config)
        loop = PushLoop(
            planner,
            clocked.client,
            clock=time.clock,
            on_event=result.events.append,
            wait=time.wait,
        )
        for call_id in calls:
            meta = standin.call(1, call_id)["metaData"]
            planner.receive(1, Track(call_id=call_id, subject=f"veh:{call_id}", meta=meta), 0)

        def positions() -> None:
            items = []
            for call_id in calls:
                heading = call_id * 1.3
                d = SPEED * time.now
                x, y = d * math.cos(heading), d * math.sin(heading)
                items.append(Position(subject=f"veh:{call_id}", x=x, y=y, z=0.0))
            planner.receive(1, Positions(items=items), time.now)
            loop.wake()

        time.every(1.0, positions, until=seconds)
        time.at(seconds, loop.stop)
        await loop.run()
        for record in standin.requests:
            if record.route == "update_call":
                call_id = int(record.path.rsplit("/", 1)[1])
                result.requests[call_id] += 1
                result.pushes[call_id] += record.status == 200
    return result


@pytest.fixture
def quiet_logs() -> Iterator[None]:
    """Every refusal logs an error line: keep the output to what fails."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    yield
    structlog.reset_defaults()


@pytest.mark.usefixtures("quiet_logs")
async def test_a_refused_call_takes_at_most_a_quarter_and_the_others_push_as_if_alone() -> None:
    beside = await run((REFUSED, *HEALTHY), refused=True)
    alone = await run(HEALTHY, refused=False)
    assert beside.pushes[REFUSED] == 0
    assert beside.share(REFUSED) <= 0.25, beside.requests
    for call_id in HEALTHY:
        assert beside.pushes[call_id] >= 0.8 * alone.pushes[call_id], (beside.pushes, alone.pushes)


@pytest.mark.usefixtures("quiet_logs")
async def test_the_resource_hears_failed_with_the_cads_detail() -> None:
    beside = await run((REFUSED, *HEALTHY), refused=True, seconds=2 * WINDOW)
    failed = [e for e in beside.events if isinstance(e, Notice) and e.state == "failed"]
    assert failed, beside.events
    assert all(e.call_id == REFUSED and e.detail == f"HTTP 400: {DETAIL}" for e in failed)
