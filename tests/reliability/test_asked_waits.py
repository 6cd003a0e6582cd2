"""Waits the CAD asks for are honoured up to a cap: a millisecond timestamp in RateLimit-Reset,
or a Retry-After of a day, must not stop pushing until the daemon restarts.

The real push loop, planner and CAD client against the HTTP stand-in over loopback, on virtual
time (the stand-in's window, its wall clock and the client's share one clock that jumps).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, Literal

import pytest
import structlog
from structlog.testing import capture_logs

from bench.kit import WINDOW, ClockedCad, VirtualTime
from bridge.build import planner_from
from bridge.cad import MAX_WAIT_WINDOWS
from bridge.config import BudgetConfig, Config, TrackingConfig
from bridge.protocol import Position, Positions, Track
from bridge.pusher import PushLoop
from bridge.standin.cad import Fault

EPOCH = 1_780_000_000.0
"""The wall clock when the run starts: virtual seconds are added to it."""
CALLS = (701, 702, 703)
CAP = MAX_WAIT_WINDOWS * WINDOW


QuotaReset = Literal["seconds", "epoch", "epoch_ms"]
"""How the stand-in writes the quota's reset (`CadStandIn.quota_reset`)."""


async def updates_at(
    *,
    fault: Fault | None = None,
    quota_reset: QuotaReset | None = None,
    seconds: float = 8 * WINDOW,
) -> list[tuple[float, int | None]]:
    """(virtual time, status) of every update request while three subjects drive off."""
    time = VirtualTime()

    def wall() -> float:
        return EPOCH + time.now

    calls = {call_id: {"postal": str(call_id)} for call_id in CALLS}
    async with ClockedCad(time, calls=calls, wall_clock=wall, max_wait=CAP) as cad:
        standin = cad.standin
        if quota_reset is not None:
            standin.send_quota_headers = True
            standin.quota_reset = quota_reset
        config = Config(budget=BudgetConfig(state_file=""), tracking=TrackingConfig(min_move=1.0))
        planner = planner_from(config)
        loop = PushLoop(
            planner, cad.client, clock=time.clock, on_event=lambda _: None, wait=time.wait
        )
        for call_id in CALLS:
            meta = standin.call(1, call_id)["metaData"]
            planner.receive(1, Track(call_id=call_id, subject=f"veh:{call_id}", meta=meta), 0)

        def positions() -> None:
            d = 10.0 * time.now
            items = [
                Position(subject=f"veh:{c}", x=d * math.cos(c), y=d * math.sin(c), z=0.0)
                for c in CALLS
            ]
            planner.receive(1, Positions(items=items), time.now)
            loop.wake()

        if fault is not None:
            time.at(WINDOW, lambda: standin.inject(fault, 1, "update_call"))
        time.every(1.0, positions, until=seconds)
        time.at(seconds, loop.stop)
        await loop.run()
        return [(r.t, r.status) for r in standin.requests if r.route == "update_call"]


def refused_at(updates: list[tuple[float, int | None]]) -> float:
    """When the first 429 was answered."""
    return next(t for t, status in updates if status == 429)


def resumed_after(updates: list[tuple[float, int | None]]) -> float:
    """Seconds from the first 429 to the next request (inf: none came)."""
    first = refused_at(updates)
    later = [t for t, _ in updates if t > first]
    return (later[0] - first) if later else math.inf


@pytest.fixture(autouse=True)
def logs() -> Iterator[list[dict[str, Any]]]:
    with capture_logs() as captured:
        yield captured
    structlog.reset_defaults()


async def test_a_retry_after_of_a_day_is_waited_for_three_windows(
    logs: list[dict[str, Any]],
) -> None:
    updates = await updates_at(fault=Fault(429, retry_after=86_400))
    assert resumed_after(updates) == pytest.approx(CAP, abs=2.0)
    assert sum(status == 200 for t, status in updates if t > WINDOW + CAP) >= 10
    capped = [e for e in logs if "past the cap" in e["event"]]
    assert len(capped) == 1, capped
    assert capped[0]["header"] == "Retry-After" and capped[0]["value"] == "86400"
    assert capped[0]["cap_seconds"] == CAP and capped[0]["log_level"] == "warning"


async def test_a_reset_in_epoch_milliseconds_is_read_as_a_time() -> None:
    at = (EPOCH + WINDOW + 30.0) * 1000
    reset = Fault(429, headers=(("RateLimit-Reset", f"{at:.0f}"),))
    updates = await updates_at(fault=reset)
    resumed = refused_at(updates) + resumed_after(updates)
    assert resumed == pytest.approx(WINDOW + 30.0, abs=1.0)


async def test_a_reset_in_epoch_seconds_far_ahead_is_capped() -> None:
    reset = Fault(429, headers=(("RateLimit-Reset", f"{EPOCH + 7 * 86_400:.0f}"),))
    updates = await updates_at(fault=reset)
    assert resumed_after(updates) == pytest.approx(CAP, abs=2.0)


@pytest.mark.parametrize("style", ["epoch", "epoch_ms"])
async def test_quota_headers_with_a_timestamp_reset_keep_pushing_every_window(
    style: QuotaReset,
) -> None:
    updates = await updates_at(quota_reset=style)
    assert all(status == 200 for _, status in updates)
    for window in range(8):
        in_it = [t for t, _ in updates if window * WINDOW <= t < (window + 1) * WINDOW]
        assert len(in_it) >= 5, (window, [t for t, _ in updates])
