"""Tracked calls and the subjects they follow: pure state, time passed in as an argument."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from bridge import motion
from bridge.habits import Habit
from bridge.meta import OWNED_KEYS, drawn_at
from bridge.outcomes import MetaData
from bridge.protocol import DISPATCH, Kind
from bridge.trails import Trails

CallKey = tuple[int, Kind, int]
"""(server_id, kind, call_id): call ids are only unique within one CAD server and one list (a
dispatch call and a 911 call may share an id)."""

SyncItem = tuple[int, str, float | None, MetaData | None, Kind, bool]
"""(call_id, subject, radius, meta, kind, cad_postal): one call of a game server's `sync`."""

MAX_SPEED = 150.0
"""Metres per second above which two fixes are a teleport, not travel."""

PERIOD = 1.0
"""Seconds between two samples of the resource (its default `sonoran_bridge_interval_ms`)."""
ACCRUE_STEPS = 32
"""Most steps an accumulator's error area is summed in between two settlements."""
UNKNOWN_ERROR = 2_000.0
"""The error assumed for a call whose drawn position is unknown (no x/y in its metaData)."""


@dataclass(slots=True)
class Fix:
    """A subject's last known position and velocity: the resource's, or estimated from fixes."""

    x: float
    y: float
    z: float
    t: float
    vx: float = 0.0
    vy: float = 0.0
    turn: float = 0.0
    """Radians the direction of travel changed at the last fix; large for a turning subject."""
    reported: bool = False
    """The velocity came with the fix: the sender predicts by it and sends when it is off."""
    accel: float = 0.0
    """Metres per second squared the speed changed by since the reported fix before: negative
    for a subject braking for a turn or a stop."""
    habit: Habit = field(default_factory=Habit)
    """What the subject's fixes so far say of how it moves (carried from fix to fix)."""

    @property
    def speed(self) -> float:
        """Metres per second over the ground."""
        return math.hypot(self.vx, self.vy)

    def at(self, now: float) -> tuple[float, float]:
        """Where the subject is taken to be at `now`, as the resource predicts it.

        A reported velocity runs on (`motion.predict`): the resource's silence says the subject
        is on that track. An estimated one does not: a sender that only reports movement says
        nothing by its silence, and the subject may have stopped anywhere after the fix.
        """
        if not self.reported:
            return self.x, self.y
        return motion.predict(self, now - self.t)


@dataclass(slots=True)
class Call:
    """One followed call (dispatch or 911), and what the bridge knows of it."""

    server_id: int
    call_id: int
    subject: str
    radius: float | None
    since: float
    kind: Kind = DISPATCH
    meta: MetaData | None = None
    meta_at: float | None = None
    drawn: tuple[float, float] | None = None
    pushed_at: float | None = None
    acc: float = 0.0
    acc_at: float = 0.0
    acc_err: float = 0.0
    held_fix_t: float | None = None
    """A rejected update is dropped: the call waits for a newer fix than this."""
    rejections: int = 0
    """Updates of this call the CAD refused in a row (400/422...): its own back-off grows."""
    refused_until: float = -math.inf
    """A call the CAD refused is not pushed again before this."""
    right_at: float = -math.inf
    """When the call was last drawn within `Tracker.near` of its subject, as of its last
    settlement (for the stale cap); an edit owed to the CAD is never drawn right."""
    postal: str | None = None
    """The call's postal as the CAD last answered it (or as last sent)."""
    cad_postal: bool = False
    """Sonoran's own track primary keeps the call's postal: none is sent."""
    absent_at: float | None = None
    """When a complete read of the CAD's list of calls first lacked the call (one reading does
    not make it gone: a list may lag behind the CAD)."""
    unknown_told: bool = False
    """The game server was told the call waits for its metaData."""
    push_began: float | None = None
    """When the PATCH of this call now in flight began (None: none is)."""
    relayed_in_flight: MetaData | None = None
    """The latest copy the game server relayed while that PATCH was in flight: newer than what
    the PATCH sent, so its answer must not overwrite it."""
    owed: bool = False
    """The CAD lacks an edit the bridge knows (a PATCH in flight overwrote it): push again."""
    relayed: bool = False
    """The game server has relayed the call's metaData (sonorancad runs beside the resource,
    and relays the dispatchers' edits as they come)."""
    missing_at: float | None = None
    """When the CAD answered an update of the call with a 404 that did not say whether the
    call or the server id is missing: the call waits for a read of its list to tell."""
    collides: bool = False
    """A 911 call whose id the last read of the list also gave a dispatch call."""
    stale_at: float | None = None
    """When the game server said the CAD changed the call's metaData in a way it cannot relay
    (`call_meta_stale`): the known copy is not pushed until a read begun after this, or a
    faithful relay, brings the new one."""

    @property
    def key(self) -> CallKey:
        """The call's key in the tracker."""
        return (self.server_id, self.kind, self.call_id)

    @property
    def emergency(self) -> bool:
        """A 911 call (from the CAD's `EmergencyCalls`), not a dispatch call."""
        return self.kind != DISPATCH

    def learn_meta(self, meta: MetaData, now: float, *, authoritative: bool = True) -> None:
        """Adopt metaData as the known object, and where it draws the call.

        The CAD's own answers are `authoritative`. A copy relayed by the game server may lag
        behind the bridge's own last push (an edit through the API is not pushed back to it),
        so once the bridge has pushed, the owned keys it wrote are kept over the relayed ones.
        """
        fresh = dict(meta)
        self.relayed = self.relayed or not authoritative
        if not authoritative and self.pushed_at is not None and self.meta is not None:
            for key in OWNED_KEYS:
                if key in self.meta:
                    fresh[key] = self.meta[key]
                else:
                    fresh.pop(key, None)
        self.meta = fresh
        self.meta_at = now
        self.drawn = drawn_at(fresh)


class Tracker:
    """The calls being followed and the latest fix of every subject, per game server."""

    def __init__(self) -> None:
        self.near = 0.0
        """Metres within which a call counts as drawn right (the planner's `min_move`)."""
        self.calls: dict[CallKey, Call] = {}
        self.fixes: dict[tuple[int, str], Fix] = {}
        self._followers: dict[tuple[int, str], set[CallKey]] = {}
        self._per_server: Counter[int] = Counter()
        self.trails = Trails()
        """The followed subjects' paths, for where others went from where a mover is."""

    def __len__(self) -> int:
        return len(self.calls)

    def __iter__(self) -> Iterator[Call]:
        return iter(self.calls.values())

    def get(self, server_id: int, call_id: int, kind: Kind = DISPATCH) -> Call | None:
        """The tracked call, or None."""
        return self.calls.get((server_id, kind, call_id))

    def track(
        self,
        server_id: int,
        call_id: int,
        subject: str,
        now: float,
        *,
        radius: float | None = None,
        meta: MetaData | None = None,
        kind: Kind = DISPATCH,
        cad_postal: bool = False,
    ) -> Call:
        """Follow `subject` with the call; re-tracking keeps what is known of the call.

        `cad_postal`: Sonoran's own track primary keeps the call's postal (none is sent)."""
        key: CallKey = (server_id, kind, call_id)
        call = self.calls.get(key)
        if call is None:
            call = Call(server_id, call_id, subject, radius, since=now, kind=kind, acc_at=now)
            self.calls[key] = call
            self._per_server[server_id] += 1
        elif call.subject != subject:
            self._unfollow(call)
            call.subject = subject
            call.acc, call.acc_at, call.acc_err = 0.0, now, 0.0
            call.since = now
        call.radius = radius
        call.cad_postal = cad_postal
        if meta is not None:
            call.learn_meta(meta, now, authoritative=False)
        self._followers.setdefault((server_id, subject), set()).add(key)
        return call

    def untrack(self, server_id: int, call_id: int, kind: Kind = DISPATCH) -> Call | None:
        """Stop following a call; returns it, or None if it was not tracked."""
        call = self.calls.pop((server_id, kind, call_id), None)
        if call is not None:
            self._unfollow(call)
            self._per_server[server_id] -= 1
            if not self._per_server[server_id]:
                del self._per_server[server_id]
        return call

    def count_of(self, server_id: int) -> int:
        """How many calls one game server has asked to follow."""
        return self._per_server[server_id]

    def calls_of(self, server_id: int) -> list[Call]:
        """The calls one game server has asked to follow."""
        return [call for call in self.calls.values() if call.server_id == server_id]

    def followed(self) -> int:
        """How many subjects (per game server) some call follows."""
        return len(self._followers)

    def sync(
        self,
        server_id: int,
        tracks: Iterable[SyncItem],
        now: float,
    ) -> tuple[list[CallKey], list[CallKey]]:
        """Replace a game server's set of calls; returns (keys added, keys removed)."""
        wanted: dict[CallKey, tuple[str, float | None, MetaData | None, bool]] = {
            (server_id, kind, call_id): (subject, radius, meta, cad_postal)
            for call_id, subject, radius, meta, kind, cad_postal in tracks
        }
        removed = [c.key for c in self.calls_of(server_id) if c.key not in wanted]
        for _, kind, call_id in removed:
            self.untrack(server_id, call_id, kind)
        added = [key for key in wanted if key not in self.calls]
        for (_, kind, call_id), (subject, radius, meta, cad_postal) in wanted.items():
            self.track(
                server_id, call_id, subject, now,
                radius=radius, meta=meta, kind=kind, cad_postal=cad_postal,
            )  # fmt: skip
        return added, removed

    def observe(
        self,
        server_id: int,
        subject: str,
        x: float,
        y: float,
        z: float,
        now: float,
        *,
        vx: float | None = None,
        vy: float | None = None,
        speed: float | None = None,
        heading: float | None = None,
    ) -> None:
        """Record a subject's position at `now`, with the velocity the item reports.

        The velocity is `motion.velocity` of the item's fields; an item without one gets an
        estimate from the fixes before. Only subjects some call follows are kept, so a chatty
        sender cannot grow memory.
        """
        key = (server_id, subject)
        followers = self._followers.get(key)
        if not followers:
            return
        previous = self.fixes.get(key)
        fix = Fix(x, y, z, now)
        reported = motion.velocity(vx, vy, speed, heading)
        if reported is not None:
            fix.vx, fix.vy = reported
            fix.reported = True
            if previous is not None and previous.speed > 0.5 and fix.speed > 0.5:
                fix.turn = _turn(previous, fix)
            if previous is not None and previous.reported and now > previous.t:
                # The resource sends within a sampling period of a change of velocity (the
                # track held until then), so the change took the last period at most.
                fix.accel = (fix.speed - previous.speed) / min(now - previous.t, PERIOD)
        elif previous is not None and now > previous.t:
            dt = now - previous.t
            fix.vx = (x - previous.x) / dt
            fix.vy = (y - previous.y) / dt
            if fix.speed > MAX_SPEED:
                # A teleport, or two fixes too close in time to tell a speed from.
                fix.vx = fix.vy = 0.0
            elif previous.speed > 0.5 and fix.speed > 0.5:
                fix.turn = _turn(previous, fix)
        elif previous is not None:
            fix.vx, fix.vy, fix.turn = previous.vx, previous.vy, previous.turn
        # The subject moved between fixes, so its error changed along the way: the area since
        # the last settlement is the trapezoid up to the error at the new fix. (Summed along
        # the old fix's track instead, it scheduled no better on the tuning seeds.)
        if previous is not None:
            fix.habit = previous.habit
        fix.habit.note(fix)
        self.trails.note(server_id, subject, previous, fix)
        self.fixes[key] = fix
        for call_key in followers:
            self.settle(self.calls[call_key], now, steps=1)

    def fix_of(self, call: Call) -> Fix | None:
        """The latest fix of the call's subject, or None before the first."""
        return self.fixes.get((call.server_id, call.subject))

    def error(self, call: Call, now: float | None = None) -> float | None:
        """Metres between the subject (at `now`, or at its fix) and where the CAD draws its
        call; None without a fix."""
        fix = self.fix_of(call)
        if fix is None:
            return None
        if call.drawn is None:
            return UNKNOWN_ERROR
        x, y = fix.at(fix.t if now is None else now)
        return math.hypot(x - call.drawn[0], y - call.drawn[1])

    def mean_error(self, calls: Iterable[Call]) -> float | None:
        """The map error of these calls: mean metres between each drawn call with a fix and its
        subject, to a decimetre; None when none is both drawn and placed. The one figure the
        status line, the status page, `/status.json` and `/metrics` show."""
        errors = [
            error
            for call in calls
            if call.drawn is not None and (error := self.error(call)) is not None
        ]
        return round(sum(errors) / len(errors), 1) if errors else None

    def accrued(
        self, call: Call, now: float, *, steps: int = ACCRUE_STEPS
    ) -> tuple[float, float, float]:
        """(accumulator, error, right_at) as settling the call at `now` would make them;
        changes nothing.

        The error area since the last settlement is summed in steps of a second at most (up
        to `steps`), so the figures do not depend on how often anyone looked: a predicted
        subject's distance from its pin is not linear in time. `right_at` is the last of those
        moments the call was drawn within `near` of its subject.
        """
        error = self.error(call, now) or 0.0
        right_at = call.right_at
        span = now - call.acc_at
        acc = call.acc
        if span > 0:
            steps = min(steps, math.ceil(span))
            dt = span / steps
            area = (call.acc_err + error) / 2
            for i in range(1, steps):
                t = call.acc_at + i * dt
                inner = self.error(call, t) or 0.0
                area += inner
                if inner < self.near and not call.owed:
                    right_at = t
            acc += dt * area
        if error < self.near and not call.owed:
            right_at = max(right_at, now)
        return acc, error, right_at

    def settle(self, call: Call, now: float, *, steps: int = ACCRUE_STEPS) -> None:
        """Add the error area since the last settlement to the call's accumulator."""
        call.acc, call.acc_err, call.right_at = self.accrued(call, now, steps=steps)
        call.acc_at = max(call.acc_at, now)

    def drawn_moved(self, call: Call, x: float, y: float, now: float) -> None:
        """The CAD now draws the call at (x, y): restart its accumulator."""
        call.drawn = (x, y)
        call.pushed_at = now
        call.acc, call.acc_at = 0.0, now
        call.acc_err = self.error(call, now) or 0.0

    def _unfollow(self, call: Call) -> None:
        followers = self._followers.get((call.server_id, call.subject))
        if followers is not None:
            followers.discard(call.key)
            if not followers:
                del self._followers[(call.server_id, call.subject)]
                self.fixes.pop((call.server_id, call.subject), None)


def _turn(previous: Fix, fix: Fix) -> float:
    """Radians between the directions of travel of two fixes."""
    heading_then = math.atan2(previous.vy, previous.vx)
    heading_now = math.atan2(fix.vy, fix.vx)
    return abs((heading_now - heading_then + math.pi) % (2 * math.pi) - math.pi)
