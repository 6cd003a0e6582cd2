"""The daemon's core on loopback and virtual time: the real CAD client against the HTTP CAD
stand-in, the real planner and push loop, inputs on a timeline in production seconds.

A run of twenty production minutes takes a second or two and is the same on every machine:
the clock moves only when the push loop waits, and then straight to its next slot or input.
The loop is the daemon's own (`PushLoop.run`, waiting on the virtual clock).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from bench.kit import ClockedCad, VirtualTime
from bridge.app import planner_from
from bridge.cad import CadClient
from bridge.config import BudgetConfig, Config, TrackingConfig
from bridge.outcomes import Meta
from bridge.planner import Alert, Notice, Planner
from bridge.protocol import CallMeta
from bridge.pusher import PushLoop
from bridge.standin.cad import CadStandIn, RequestRecord

API_KEY = "meta-faults-api-key-3b81f0c2"
SERVER_ID = 1
FIRST_CALL = 801
SPEED = 8.0
"""Metres per second of every moving subject: more movement than 10 updates a minute draw."""


@dataclass
class Loopback:
    """The stand-in, the real client, planner and push loop, on one virtual clock."""

    cad: ClockedCad
    planner: Planner
    loop: PushLoop
    clock: VirtualTime
    events: list[tuple[float, Notice | Alert]] = field(default_factory=list)

    @property
    def standin(self) -> CadStandIn:
        """The CAD stand-in the client asks."""
        return self.cad.standin

    def track(self, call_id: int, subject: str, meta: Meta | None = None) -> None:
        """The resource asks to follow a call (with the metaData it relayed, if any)."""
        self.planner.track(SERVER_ID, call_id, subject, self.clock.now, meta=meta)
        self.loop.wake()

    def observe(self, subject: str, x: float, y: float) -> None:
        """The resource reports where a subject is now."""
        self.planner.observe(SERVER_ID, subject, x, y, 0.0, self.clock.now)
        self.loop.wake()

    def relay(self, call_id: int, meta: Meta) -> None:
        """The resource relays the call's metaData (`call_meta`), as sonorancad saw it."""
        message = CallMeta(call_id=call_id, meta=meta)
        for said in self.planner.receive(SERVER_ID, message, self.clock.now):
            if isinstance(said, Notice):
                self.events.append((self.clock.now, said))
        self.loop.wake()

    def notices(self, state: str) -> list[tuple[float, Notice]]:
        """(when, notice) of every notice of `state` the game server was sent."""
        return [(t, e) for t, e in self.events if isinstance(e, Notice) and e.state == state]

    def requests(self, route: str) -> list[RequestRecord]:
        """The stand-in's requests of one route, in arrival order."""
        return [r for r in self.standin.requests if r.route == route]

    async def run(self, until: float) -> None:
        """Let the daemon's own push loop work until `until`, inputs arriving at their moments."""
        self.clock.at(until, self.loop.stop)
        await self.loop.run()


Naive = Callable[[Planner], Planner]


async def loopback(
    *,
    meta_max_age: float = 15.0,
    close_check: float = 0.0,
    naive_planner: Naive | None = None,
    client: type[CadClient] = CadClient,
) -> tuple[Loopback, Callable[[], Awaitable[None]]]:
    """A started loopback rig with the production config (and a way to close it)."""
    clock = VirtualTime()
    cad = ClockedCad(clock, client=client)
    await cad.__aenter__()
    config = Config(
        budget=BudgetConfig(state_file=""),
        tracking=TrackingConfig(
            min_move=5.0, meta_max_age_seconds=meta_max_age, close_check_seconds=close_check
        ),
    )
    planner = planner_from(config)
    if naive_planner is not None:
        planner = naive_planner(planner)
    rig: Loopback

    def on_event(event: Notice | Alert) -> None:
        rig.events.append((clock.now, event))

    loop = PushLoop(planner, cad.client, clock=clock, on_event=on_event, wait=clock.wait)
    rig = Loopback(cad, planner, loop, clock)

    async def close() -> None:
        await cad.__aexit__(None, None, None)

    return rig, close


def moving(rig: Loopback, subjects: Iterable[tuple[str, float]], until: float) -> None:
    """Subjects driving straight lines from the origin (each on its own heading), one report
    a second, as the resource sends them."""
    subjects = list(subjects)

    def report() -> None:
        t = rig.clock.now
        for subject, heading in subjects:
            rig.observe(subject, SPEED * t * math.cos(heading), SPEED * t * math.sin(heading))

    rig.clock.every(1.0, report, start=0.0, until=until)


def headings(count: int) -> list[float]:
    """`count` headings spread evenly round the compass, radians."""
    return [2 * math.pi * i / count for i in range(count)]


def keys_lost(rig: Loopback, seeded: dict[int, Meta]) -> int:
    """Seeded keys the stored calls no longer hold as they were."""
    lost = 0
    for call_id, meta in seeded.items():
        stored = rig.standin.call(SERVER_ID, call_id)["metaData"]
        lost += sum(1 for k, v in meta.items() if stored.get(k) != v)
    return lost
