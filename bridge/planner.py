"""The daemon's decisions, free of I/O: what to request next, and what each answer means.

The push loop and the replay benchmark both drive this same class; the clock is an argument.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

from bridge import freshness, habits, placement
from bridge import meta as metadata
from bridge.budget import Backoff, Budget
from bridge.outcomes import (
    AuthFailed,
    CallList,
    GetResult,
    Gone,
    Meta,
    PatchResult,
    Quota,
    RateLimited,
    Rejected,
    Trace,
    Transient,
    Updated,
)
from bridge.placement import MOVING as MOVING
from bridge.postal import PostalIndex
from bridge.protocol import (
    DISPATCH,
    CallClosed,
    CallMeta,
    CallMetaStale,
    CallStateName,
    InboundMessage,
    Kind,
    Positions,
    Sync,
    Track,
    Untrack,
)
from bridge.routes import RouteHealth, RouteName
from bridge.scheduler import BudgetAware, Candidate, Policy
from bridge.tracker import Call, CallKey, Fix, Tracker


@dataclass(frozen=True, slots=True)
class Settings:
    """The tracking knobs of the config, as the planner needs them."""

    min_move: float = 10.0
    default_radius: float = 50.0
    max_stale: float = 180.0
    lead: bool = True
    """Push where a steady mover will be a while after the push, not where it was."""
    lead_share: float = 0.35
    """The lead as a share of the call's expected wait (0.5 is ideal only on straight roads)."""
    lead_cap: float = 15.0
    """Seconds ahead the pushed position may be projected at most (roads turn)."""
    grow_radius: bool = False
    """Widen a mover's radius to how far it may stray from the pushed point before its next push."""
    fetch_interval: float = 15.0
    """Seconds between two GETs of a server's calls while some call's metaData is unknown, and
    the least time between the two reads that must both lack a call before it counts as gone."""
    close_check: float = 0.0
    """Seconds between two reads of a server's list while it has calls followed, so a call
    closed with no event (through the API; sonorancad relays only the first of several closed
    at once) is seen within about this long plus the GET budget's wait; 0: never (the config's
    default is 30 s)."""
    meta_max_age: float = 15.0
    """Seconds after which the known metaData of a call about to be pushed is read afresh from
    the CAD's list first (when a read may go then), so a dispatcher's edit that no relay brought
    is not reverted by the push; 0: never."""
    read_ahead: float = 1.0
    """Seconds before the next push's slot its read may begin, so the push need not wait for
    the read's answer (the GET budget is its own)."""
    relay_lag: float = 2.0
    """Seconds after a PATCH's answer within which a relayed edit may still be one that PATCH
    overwrote (sonorancad hears of an edit through the CAD's push events): it is pushed back."""
    meta_wait: float = 10.0
    """Seconds a push of old metaData waits at most for a read held back by a failed one."""
    server_pause: float = 60.0
    """Seconds a game server's requests pause after the CAD answered 404 for its list of calls
    (it does not know the server id), doubling while it keeps answering so."""
    server_pause_cap: float = 600.0
    reject_backoff_windows: float = 1.0
    """Windows a call the CAD refused waits before its next push, doubling on each refusal..."""
    reject_backoff_cap_windows: float = 8.0
    """...up to this many: a call refused for good costs one request every eight windows."""
    rate_backoff: float = 6.0
    """Seconds the first 429 without a Retry-After pauses its route, doubling on each more..."""
    rate_backoff_cap: float = 60.0
    """...up to this many; an answer that comes through starts again."""
    fault_backoff: float = 1.0
    """Seconds the first transport failure or 5xx pauses its route, doubling on each more..."""
    fault_backoff_cap: float = 60.0
    auth_backoff: float = 15.0
    """Seconds the first 401/403 pauses every route, doubling while the key stays refused..."""
    auth_backoff_cap: float = 300.0
    max_calls: int = 500
    """Calls one game server may have followed at once (`tracking.max_calls_per_server`)."""


@dataclass(frozen=True, slots=True)
class Push:
    """PATCH this call's metaData."""

    key: CallKey
    meta: Meta
    x: float
    y: float
    z: float
    radius: float
    fix_t: float = -math.inf
    """When the fix this push was built from was taken."""
    postal: str | None = None
    """The postal of the pushed point, sent in the same PATCH; None when it is unchanged."""


@dataclass(frozen=True, slots=True)
class Fetch:
    """GET the calls of this CAD server, to learn metaData the bridge does not know."""

    server_id: int


@dataclass(frozen=True, slots=True)
class Notice:
    """Something to tell the game server about one of its calls."""

    server_id: int
    call_id: int
    state: CallStateName
    detail: str | None = None
    kind: Kind = DISPATCH

    @classmethod
    def of(cls, call: Call, state: CallStateName, detail: str | None = None) -> Notice:
        """A notice about a tracked call."""
        return cls(call.server_id, call.call_id, state, detail, call.kind)


@dataclass(frozen=True, slots=True)
class Refused:
    """An `error` to send to a game server: what it asked for was not done, and why."""

    server_id: int
    code: str
    message: str


TOO_MANY_CALLS = "too_many_calls"
"""The error code of a `track` or `sync` past `tracking.max_calls_per_server`."""


@dataclass(frozen=True, slots=True)
class Heard:
    """A line for the operator's log about what a game server said (the shell writes it)."""

    event: str
    fields: dict[str, int | str]


@dataclass(frozen=True, slots=True)
class Alert:
    """Something the operator must see (auth failing, a server id the CAD does not know, or
    recovered)."""

    event: str
    detail: str
    server_id: int | None = None
    trace: Trace = field(default_factory=dict)
    """The ids of the answer that raised it, for Sonoran's support."""


UNKNOWN_META = (
    "the CAD's list of calls does not carry this call's metaData: it is not moved until its "
    "metaData is known (from the resource's call_meta, or a later read of the list that has it)"
)


CLOSED_LISTED = "closed in the CAD (its list of closed calls)"
COLLIDES = (
    "a dispatch call has this 911 call's id: it is not moved, as the one update route for both "
    "kinds could take it for the dispatch call and overwrite that call's metaData"
)
MISSING = (
    "the CAD answered 404 to its update without saying whether the call or the server id is "
    "missing; not pushed until a read of the list of calls tells"
)


@dataclass
class Planner:
    """Chooses each request within the budgets and folds the CAD's answers back into state."""

    policy: Policy
    update_budget: Budget
    get_budget: Budget | None
    settings: Settings = field(default_factory=Settings)
    tracker: Tracker = field(default_factory=Tracker)
    postals: PostalIndex | None = None
    """Postal codes to send with each push, when the config names a postal file."""
    pushes: int = 0
    refusals: int = 0
    positions_received: int = 0
    _fetched_at: dict[int, float] = field(default_factory=dict)
    _fetch_started: dict[int, float] = field(default_factory=dict)
    _dispatch_ids: dict[int, tuple[float, frozenset[int]]] = field(default_factory=dict)
    """Server -> (when the last read of its list was asked for, the dispatch call ids it had,
    closed ones too): a 911 call sharing one of them is not pushed."""
    _barren: dict[int, int] = field(default_factory=dict)
    """Server -> reads in a row that taught none of the metaData its calls wait for."""
    _paused_until: dict[int, float] = field(default_factory=dict)
    """Servers whose list of calls answered 404, and until when their requests wait."""
    _pauses: dict[int, Backoff] = field(default_factory=dict)
    _rate_backoff: Backoff = field(init=False)
    _routes: dict[RouteName, RouteHealth] = field(default_factory=dict)
    """Route -> its health (`bridge.routes`): a read failing for good must not start again
    from a second each time an update goes through (it would read at every free slot)."""
    _auth_backoff: Backoff = field(init=False)
    auth_failing: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.policy, BudgetAware):
            self.policy.bind(self.update_budget)
        self.configure(self.settings)

    def configure(self, settings: Settings) -> None:
        """Take new settings; the back-offs start again from theirs."""
        self.settings = settings
        self.tracker.near = settings.min_move
        self._rate_backoff = Backoff(settings.rate_backoff, settings.rate_backoff_cap)
        for route in self._routes.values():
            route.fault_backoff = Backoff(settings.fault_backoff, settings.fault_backoff_cap)
        self._auth_backoff = Backoff(settings.auth_backoff, settings.auth_backoff_cap)

    def receive(
        self, server_id: int, message: InboundMessage, now: float
    ) -> list[Notice | Heard | Refused]:
        """Fold one message from a game server into state; returns what to tell it and log.

        A `postal_file` means reading a file, which is the shell's: it is ignored here.
        """
        tracker = self.tracker
        said: list[Notice | Heard | Refused] = []
        match message:
            case Positions(items=items):
                self.positions_received += len(items)
                for item in items:
                    tracker.observe(
                        server_id, item.subject, item.x, item.y, item.z, now,
                        vx=item.vx, vy=item.vy, speed=item.speed, heading=item.heading,
                    )  # fmt: skip
            case Track(call_id=call_id, kind=kind) if (
                tracker.get(server_id, call_id, kind) is None
                and tracker.count_of(server_id) >= self.settings.max_calls
            ):
                said.append(self._too_many(server_id, [call_id]))
            case Track(call_id=call_id, subject=subject, radius=radius, meta=meta, kind=kind):
                tracked = tracker.track(
                    server_id, call_id, subject, now, radius=radius, meta=meta, kind=kind
                )
                tracked.cad_postal = message.cad_postal
                said.append(Notice.of(tracked, "following"))
                said.append(Heard("tracking", {**_fields(tracked), "subject": subject}))
            case Untrack(call_id=call_id, kind=kind):
                if (untracked := tracker.untrack(server_id, call_id, kind)) is not None:
                    said.append(Heard("untracked", _fields(untracked)))
            case Sync(tracks=tracks):
                kept = {(spec.kind, spec.call_id): spec for spec in tracks}
                if len(kept) > self.settings.max_calls:
                    over = list(kept)[self.settings.max_calls :]
                    said.append(self._too_many(server_id, [call_id for _, call_id in over]))
                    for key in over:
                        del kept[key]
                tracks = list(kept.values())
                added, removed = tracker.sync(
                    server_id,
                    [(t.call_id, t.subject, t.radius, t.meta, t.kind) for t in tracks],
                    now,
                )
                for spec in tracks:
                    if (synced := tracker.get(server_id, spec.call_id, spec.kind)) is not None:
                        synced.cad_postal = spec.cad_postal
                said.extend(
                    Notice(server_id, call_id, "following", None, kind)
                    for _, kind, call_id in added
                )
                said.append(
                    Heard(
                        "synced",
                        {
                            "server_id": server_id,
                            "tracks": len(tracks),
                            "added": len(added),
                            "removed": len(removed),
                        },
                    )
                )
            case CallMeta(call_id=call_id, meta=meta, kind=kind):
                call = tracker.get(server_id, call_id, kind)
                if call is not None:
                    known = call.meta
                    call.learn_meta(meta, now, authoritative=False)
                    call.stale_at = None  # a faithful copy of the CAD's, newer than the edit
                    if call.push_began is not None:  # newer than the PATCH in flight
                        call.relayed_in_flight = dict(meta)
                    elif (
                        call.pushed_at is not None
                        and now - call.pushed_at <= self.settings.relay_lag
                        and known is not None
                        and metadata.unowned(meta) != metadata.unowned(known)
                    ):
                        # Relayed just after an answer: the edit may be one that PATCH
                        # overwrote in the CAD, its relay late. Push it back to be sure.
                        call.owed = True
            case CallMetaStale(call_id=call_id, kind=kind):
                call = tracker.get(server_id, call_id, kind)
                if call is not None:
                    call.stale_at = now
                    said.append(Heard("metaData stale, reading it before the next push",
                                      _fields(call)))  # fmt: skip
            case CallClosed(call_id=call_id, kind=kind):
                if (closed := tracker.untrack(server_id, call_id, kind)) is not None:
                    said.append(Notice.of(closed, "gone", "closed in the CAD"))
                    said.append(Heard("call closed, stopped following", _fields(closed)))
        return said

    def _too_many(self, server_id: int, call_ids: list[int]) -> Refused:
        """The error for calls past the cap of one game server (the ones it follows stay)."""
        cap = self.settings.max_calls
        listed = ", ".join(str(c) for c in call_ids[:5]) + (", ..." if len(call_ids) > 5 else "")
        return Refused(
            server_id,
            TOO_MANY_CALLS,
            f"server {server_id} may have {cap} calls followed at once "
            f"(tracking.max_calls_per_server): {len(call_ids)} more not followed (call "
            f"{listed}); untrack closed calls, or raise the cap in the daemon's config",
        )

    def candidates(self, now: float) -> list[Candidate]:
        """Calls that could be pushed now: a fix of their subject and known metaData.

        Looking changes nothing: the figures are what settling at `now` would make them, and
        they are settled only when a request begins (`begin`).
        """
        found = []
        for call, fix in self._eligible(now):
            acc, error, right_at = self.tracker.accrued(call, now)
            # An edit a PATCH overwrote is owed to the CAD, however little the subject moved.
            if call.owed:
                error = max(error, self.settings.min_move)
            # Stale time counts from the last moment the call was drawn right, or its push.
            pushed = self._pushed_at(call)
            stale = now - max(right_at, pushed)
            acc = habits.ranked(acc, error, fix.habit, fix.speed, now)
            found.append(Candidate(call, fix, error, now - pushed, acc, stale))
        waits = self._waits(found, now)
        return [replace(c, wait=wait) for c, wait in zip(found, waits, strict=True)]

    def _eligible(self, now: float) -> Iterator[tuple[Call, Fix]]:
        """Calls a push could go to now, with their subject's fix."""
        for call in self.tracker:
            fix = self.tracker.fix_of(call)
            if fix is None or call.meta is None or call.server_id in self._paused_until:
                continue
            if call.stale_at is not None:
                continue  # its copy is older than an edit the relay could not carry: read first
            if call.missing_at is not None:
                continue  # a 404 of its update: the list tells whether it closed
            if call.emergency and not self._apart(call):
                continue  # the update route might take it for the dispatch call of its id
            if call.held_fix_t is not None and fix.t <= call.held_fix_t:
                continue
            if call.refused_until > now:
                continue
            yield call, fix

    @staticmethod
    def _pushed_at(call: Call) -> float:
        return call.pushed_at if call.pushed_at is not None else call.since

    def _settle(self, now: float) -> None:
        """Fold the figures `candidates` shows at `now` into the calls: a request begins."""
        for call, _ in self._eligible(now):
            self.tracker.settle(call, now)

    def _waits(self, found: list[Candidate], now: float) -> list[float]:
        """Each call's expected wait for its next push: movers by the square-root law."""
        roots = sum(math.sqrt(c.fix.speed) for c in found if c.fix.speed > MOVING)
        budget = self.update_budget
        rate = budget.share / (budget.window + budget.margin)
        parked = self.refresh_interval(now)
        return [
            roots / (rate * math.sqrt(c.fix.speed)) if c.fix.speed > MOVING else parked
            for c in found
        ]

    def next_action(self, now: float) -> Push | Fetch | None:
        """The request to make now, or None when there is nothing worth a slot."""
        fetch = self._next_fetch(now)
        if fetch is not None:
            return fetch
        slot = self._push_slot(now)
        if slot > now:
            return self._read_ahead(slot, now)
        chosen = self.policy.choose(self.candidates(now), now)
        if chosen is None:
            return None
        read = self._freshen(chosen.call, now, now)
        if read is not None:
            return read if isinstance(read, Fetch) else None
        return self._push_for(chosen, now)

    def _push_slot(self, now: float) -> float:
        """When the next push may begin: the budget's next slot, and the policy's pacing."""
        slot = self.update_budget.next_slot(now)
        if isinstance(self.policy, BudgetAware):
            slot = max(slot, self.policy.ready_at())
        return slot

    def _read_ahead(self, slot: float, now: float) -> Fetch | None:
        """The read the push at `slot` would want first, begun now (`read_ahead` before it) so
        the push goes at its slot with what the read brought. Choosing changes nothing, so the
        call the slot would go to is known ahead; at the slot it is chosen afresh."""
        if not self._reading_ahead(slot, now, now):
            return None
        chosen = self.policy.choose(self.candidates(slot), slot)
        if chosen is None:
            return None
        read = self._freshen(chosen.call, slot, now)
        return read if isinstance(read, Fetch) else None

    def _reading_ahead(self, slot: float, at: float, now: float) -> bool:
        """Whether a read begun at `at`, ahead of the push at `slot`, may be wanted (looked at
        `now`, without choosing: a budget is only ever asked about the present)."""
        if not at < slot <= at + self.settings.read_ahead:
            return False
        if self.get_budget is None or self.get_budget.next_slot(now) > at:
            return False
        return any(
            self._meta_old(call, slot) and self._may_read(call.server_id, at)
            for call, _ in self._eligible(slot)
        )

    def _meta_old(self, call: Call, at: float) -> bool:
        return freshness.meta_old(call, at, self.settings.meta_max_age)

    def _may_read(self, server_id: int, now: float) -> bool:
        last = self._fetched_at.get(server_id)
        return freshness.may_read(last, now, self.settings.fetch_interval)

    def _freshen(self, call: Call, at: float, now: float) -> Fetch | Literal["wait"] | None:
        """A read of the call's list before its push at `at` (`freshness.freshen`)."""
        wanted = freshness.freshen(
            call,
            at,
            now,
            get_budget=self.get_budget,
            last_read=self._fetched_at.get(call.server_id),
            max_age=self.settings.meta_max_age,
            fetch_interval=self.settings.fetch_interval,
            meta_wait=self.settings.meta_wait,
        )
        return Fetch(call.server_id) if wanted == "read" else wanted

    def next_wake(self, now: float) -> float:
        """When a slot opens next (inf while the budget waits on a request in flight), or the
        read ahead of it may begin."""
        slot = self._push_slot(now)
        ahead = max(now, slot - self.settings.read_ahead)
        wake = ahead if self._reading_ahead(slot, ahead, now) else slot
        return min(wake, self._fetch_due_at(now))

    def _apart(self, call: Call) -> bool:
        """Whether a 911 call may go through the update route, which serves both kinds
        ("Dispatch or 911 call ID"): a read of its server's list begun after it was followed
        listed no dispatch call of its id, and no dispatch call of its id is followed."""
        if self.tracker.get(call.server_id, call.call_id) is not None:
            return False
        read = self._dispatch_ids.get(call.server_id)
        return read is not None and read[0] >= call.since and call.call_id not in read[1]

    def _fetches_wanted(self) -> dict[int, float]:
        """Servers whose list must be read -> the least time since the last read.

        A call whose metaData is unknown (and has a fix to push), a call the last read lacked
        (a second reading decides), a paused server (the read at the pause's end tells whether
        the CAD knows it again). Reads that keep lacking the metaData wanted slow down to a
        quarter of the rate: nothing is spent for nothing.
        """
        interval = self.settings.fetch_interval
        wanted: dict[int, float] = {}
        for call in self.tracker:
            server_id = call.server_id
            if (
                call.absent_at is not None
                or call.missing_at is not None
                or server_id in self._paused_until
            ):
                least = interval
            elif (call.meta is None or call.stale_at is not None) and self.tracker.fix_of(
                call
            ) is not None:
                least = interval * 2 ** min(self._barren.get(server_id, 0), 2)
            elif (
                call.emergency
                and self.tracker.fix_of(call) is not None
                and not call.collides
                and self.tracker.get(server_id, call.call_id) is None
                and not self._apart(call)
            ):
                least = interval  # pushed once a read shows no dispatch call of its id
            else:
                continue
            wanted[server_id] = min(least, wanted.get(server_id, math.inf))
        return wanted

    def _fetch_due(self, now: float) -> dict[int, float]:
        """Servers whose list must be read -> when a GET of their calls may go."""
        if self.get_budget is None:
            return {}
        slot = self.get_budget.next_slot(now)
        due = {
            server_id: max(
                slot,
                self._fetched_at.get(server_id, -math.inf) + least,
                self._paused_until.get(server_id, -math.inf),
            )
            for server_id, least in self._fetches_wanted().items()
        }
        for server_id, since in self._close_checks().items():
            last = max(self._fetched_at.get(server_id, -math.inf), since)
            at = max(slot, last + self.settings.close_check)
            due[server_id] = min(due.get(server_id, math.inf), at)
        return due

    def _close_checks(self) -> dict[int, float]:
        """Servers whose list is read every `close_check` -> since when: those with a call that
        has a fix (one a push could go to). Closing is told by events only in part: the first
        of several calls closed at once, none closed through the API."""
        if not self.settings.close_check:
            return {}
        since: dict[int, float] = {}
        for call in self.tracker:
            server_id = call.server_id
            if server_id in self._paused_until or self.tracker.fix_of(call) is None:
                continue
            since[server_id] = min(call.since, since.get(server_id, math.inf))
        return since

    def _fetch_due_at(self, now: float) -> float:
        return min(self._fetch_due(now).values(), default=math.inf)

    def _next_fetch(self, now: float) -> Fetch | None:
        due = [server_id for server_id, at in self._fetch_due(now).items() if at <= now]
        return Fetch(min(due)) if due else None

    def _push_for(self, chosen: Candidate, now: float) -> Push:
        at = placement.place(chosen, now, self.settings, self.postals)
        return Push(chosen.call.key, at.meta, at.x, at.y, at.z, at.radius, chosen.fix.t, at.postal)

    def refresh_interval(self, now: float) -> float:
        """Seconds until a moving call's next turn, were the budget shared evenly."""
        moving = sum(1 for c in self.tracker if (f := self.tracker.fix_of(c)) and f.speed > MOVING)
        per_slot = self.update_budget.window / self.update_budget.share
        return per_slot * max(1, moving)

    def lead_seconds(self, chosen: Candidate, now: float) -> float:
        """How far ahead to project a steady mover (`placement.lead_seconds`)."""
        return placement.lead_seconds(chosen, now, self.settings)

    def begin(self, action: Push | Fetch, now: float) -> None:
        """Spend the slot the action takes: what choosing it looked at becomes state."""
        self._budget_of(action).begin(now)
        self._settle(now)
        if isinstance(action, Fetch):
            self._fetch_started[action.server_id] = now
            return
        self.policy.spent(action.key, now)
        if (call := self.tracker.calls.get(action.key)) is not None:
            call.push_began = now

    def _budget_of(self, action: Push | Fetch) -> Budget:
        if isinstance(action, Fetch):
            assert self.get_budget is not None
            return self.get_budget
        return self.update_budget

    def finish_push(self, push: Push, result: PatchResult, now: float) -> list[Notice | Alert]:
        """Fold the CAD's answer to a PATCH into state; returns what to tell whom."""
        self._end(push, result, now)
        call = self.tracker.calls.get(push.key)
        server_id, kind, call_id = push.key
        relayed = None
        if call is not None:
            relayed, call.relayed_in_flight, call.push_began = call.relayed_in_flight, None, None
        events: list[Notice | Alert] = []
        match result:
            case Updated(meta=meta):
                self.pushes += 1
                if call is not None:
                    # The PATCH replaced the stored object whole: an answer without readable
                    # metaData leaves what was sent as the best knowledge of it, never {}.
                    stored = meta if meta is not None else push.meta
                    call.owed = False
                    if relayed is not None:
                        stored = metadata.ordered(stored, relayed)
                        call.owed = metadata.unowned(stored) != metadata.unowned(push.meta)
                    call.learn_meta(stored, now)
                    call.absent_at = None
                    # The CAD's stored position is the truth; the pushed one if it sent none.
                    x, y = call.drawn or (push.x, push.y)
                    self.tracker.drawn_moved(call, x, y, now)
                    call.held_fix_t = None
                    call.rejections, call.refused_until = 0, -math.inf
                    answered = (call.meta or {}).get("postal") if call.emergency else (
                        result.call.get("postal")
                    )
                    if isinstance(answered, str):
                        call.postal = answered  # the CAD's, whoever set it
                    elif push.postal is not None:
                        call.postal = push.postal
                events.append(Notice(server_id, call_id, "pushed", None, kind))
            case Gone(detail=detail, what="server", trace=trace):
                events.extend(self._pause(server_id, f"404 for an update: {detail}", now, trace))
            case Gone(detail=detail, what="unknown") if call is not None:
                # The only 404 the CAD documents is "serverId not configured": never drop a
                # call on one that does not say which; the list read tells the two apart.
                call.missing_at = now
                events.append(Notice.of(call, "failed", f"{MISSING}: {detail}"))
            case Gone(detail=detail):
                self.tracker.untrack(server_id, call_id, kind)
                events.append(Notice(server_id, call_id, "gone", detail, kind))
            case Rejected(status=status, detail=detail):
                # Drop this update: the call waits for a fix newer than the one it came from,
                # and backs off on its own, so a call refused for good cannot take every slot
                # (its error grows for ever: it would always be the most deserving).
                if call is not None:
                    call.held_fix_t = push.fix_t
                    call.rejections += 1
                    call.refused_until = now + self._rejection_wait(call.rejections)
                    call.acc, call.acc_at = 0.0, now
                    call.right_at = now
                events.append(
                    Notice(server_id, call_id, "failed", f"HTTP {status}: {detail}", kind)
                )
        events.extend(self._common(push, result, now))
        return events

    def _rejection_wait(self, rejections: int) -> float:
        """Seconds a call refused `rejections` times in a row waits: one window, doubling."""
        settings, window = self.settings, self.update_budget.window
        windows = settings.reject_backoff_windows * 2.0 ** min(rejections - 1, 30)
        return window * min(settings.reject_backoff_cap_windows, windows)

    def finish_fetch(self, fetch: Fetch, result: GetResult, now: float) -> list[Notice | Alert]:
        """Fold the CAD's list of calls into state: metaData learned, calls gone, a server the
        CAD does not know paused."""
        self._end(fetch, result, now)
        server_id = fetch.server_id
        asked_at = self._fetch_started.pop(server_id, now)
        if isinstance(result, CallList | Gone):
            # Only an answer spaces the reads: a failed one is retried after the back-off its
            # budget took, or a push waiting for fresh metaData would go without it.
            self._fetched_at[server_id] = now
        events: list[Notice | Alert] = []
        if isinstance(result, CallList):
            events.extend(self._resume(server_id))
            events.extend(self._read_list(server_id, result, asked_at, now))
        elif isinstance(result, Gone):
            detail = f"404 for its list of calls: {result.detail}"
            events.extend(self._pause(server_id, detail, now, result.trace))
        events.extend(self._common(fetch, result, now))
        return events

    def _read_list(
        self, server_id: int, listed: CallList, asked_at: float, now: float
    ) -> list[Notice | Alert]:
        """Learn from one read of a server's calls; a call is gone once two complete reads a
        fetch interval apart both lack it (one may lag behind the CAD)."""
        events: list[Notice | Alert] = []
        wanted = taught = False
        self._dispatch_ids[server_id] = (asked_at, frozenset(listed.calls) | listed.closed)
        for call in self.tracker.calls_of(server_id):
            if call.emergency and call.since <= asked_at:
                collides = not self._apart(call)
                if collides and not call.collides:
                    events.append(Notice.of(call, "failed", COLLIDES))
                call.collides = collides
            if call.since > asked_at:
                continue  # tracked after the list was asked for: it may be newer than it
            active = listed.emergency if call.emergency else listed.calls
            missing = call.missing_at is not None and call.missing_at <= asked_at
            if not call.emergency and call.call_id in listed.closed:
                self.tracker.untrack(server_id, call.call_id, call.kind)
                events.append(Notice.of(call, "gone", CLOSED_LISTED))
            elif missing and call.call_id not in active and listed.complete:
                self.tracker.untrack(server_id, call.call_id, call.kind)
                detail = "404 for its update, and the CAD's list of calls lacks it"
                events.append(Notice.of(call, "gone", detail))
            elif call.call_id in active:
                if missing:
                    # Listed, yet its update was a 404: refused, not gone; it backs off.
                    call.missing_at = None
                    call.rejections += 1
                    call.refused_until = now + self._rejection_wait(call.rejections)
                call.absent_at = None
                meta = active[call.call_id]
                unknown = call.meta is None or (
                    call.stale_at is not None and call.stale_at <= asked_at
                )
                wanted = wanted or unknown
                if meta is None:
                    if unknown and not call.unknown_told:
                        call.unknown_told = True
                        events.append(Notice.of(call, "failed", UNKNOWN_META))
                elif unknown or call.meta_at is None or call.meta_at <= asked_at:
                    # Newer than anything known: a relay that came during the read is kept.
                    taught = taught or unknown
                    call.learn_meta(meta, now)
                    if call.stale_at is not None and call.stale_at <= asked_at:
                        call.stale_at = None
            elif not listed.complete:
                continue  # an item could not be read: it may have been this call
            elif call.absent_at is None:
                call.absent_at = asked_at
            elif asked_at - call.absent_at >= self.settings.fetch_interval:
                self.tracker.untrack(server_id, call.call_id, call.kind)
                apart = asked_at - call.absent_at
                detail = f"not an active call in the CAD (two reads {apart:.0f} s apart)"
                events.append(Notice.of(call, "gone", detail))
        self._barren[server_id] = self._barren.get(server_id, 0) + 1 if wanted and not taught else 0
        return events

    def _pause(
        self, server_id: int, detail: str, now: float, trace: Trace | None = None
    ) -> list[Notice | Alert]:
        """A 404 for a server's list, or one of an update that says so: the CAD does not know
        the server id (now). Its calls are kept, its requests wait, doubling while the answer
        stays 404."""
        backoff = self._pauses.setdefault(
            server_id, Backoff(self.settings.server_pause, self.settings.server_pause_cap)
        )
        wait = backoff.delay()
        first = server_id not in self._paused_until
        self._paused_until[server_id] = now + wait
        if not first:
            return []
        events: list[Notice | Alert] = [
            Alert("server_unknown", detail, server_id, dict(trace or {}))
        ]
        events.extend(self.states_of(server_id))  # each call: failed, the server paused
        return events

    def _resume(self, server_id: int) -> list[Notice | Alert]:
        if self._paused_until.pop(server_id, None) is None:
            return []
        self._pauses.pop(server_id, None)
        return [Alert("server_known", "the CAD lists its calls again", server_id)]

    def states_of(self, server_id: int) -> list[Notice]:
        """Where each of a game server's calls stands, for a link that (re)connects."""
        paused = f"paused: the CAD does not know server id {server_id} (it answered 404)"
        states = []
        for call in self.tracker.calls_of(server_id):
            if server_id in self._paused_until:
                states.append(Notice.of(call, "failed", paused))
            elif (call.meta is None or call.stale_at is not None) and call.unknown_told:
                states.append(Notice.of(call, "failed", UNKNOWN_META))
            else:
                state: CallStateName = "pushed" if call.pushed_at is not None else "following"
                states.append(Notice.of(call, state))
        return states

    def paused_until(self, server_id: int) -> float | None:
        """Until when a server's requests wait for the CAD to know its id again, or None."""
        return self._paused_until.get(server_id)

    def _end(self, action: Push | Fetch, result: PatchResult | GetResult, now: float) -> None:
        reached = not (isinstance(result, Transient) and not result.reached_server)
        self._budget_of(action).end(now, reached_server=reached)

    def _common(
        self, action: Push | Fetch, result: PatchResult | GetResult, now: float
    ) -> list[Notice | Alert]:
        budget = self._budget_of(action)
        route = self._health(budget)
        events: list[Notice | Alert] = []
        match result:
            case RateLimited(retry_after=retry_after):
                self.refusals += 1
                if not route.refusing:
                    # Ours in the window the CAD refused, this one aside: the rest is another's.
                    budget.refused(now, admitted=budget.used(now) - 1)
                    route.refusing = True
                wait = retry_after if retry_after is not None else self._rate_backoff.delay()
                budget.block_until(now + wait)
                route.in_spell("429s", now)
            case AuthFailed(status=status, detail=detail, trace=trace):
                self.update_budget.block_until(now + self._auth_backoff.delay())
                if self.get_budget is not None:
                    self.get_budget.block_until(self.update_budget.blocked_until())
                if not self.auth_failing:
                    self.auth_failing = True
                    events.append(Alert("auth_failed", f"HTTP {status}: {detail}", None, trace))
            case Transient():
                budget.block_until(now + route.fault_backoff.delay())
                route.in_spell("failed requests", now)
            case Updated() | CallList() | Gone():
                # A Rejected is no news of the route: it says one call's update was refused,
                # not that the CAD stopped limiting or failing; those waits stand.
                events.extend(Alert(alert, message) for alert, message in route.answered(now))
                self._rate_backoff.reset()
                if self.auth_failing:
                    self.auth_failing = False
                    self._auth_backoff.reset()
                    events.append(Alert("auth_resolved", "the CAD accepts the API key again"))
        return events

    def _health(self, budget: Budget) -> RouteHealth:
        """The health of the route the budget paces, made on its first answer."""
        name: RouteName = "update_call" if budget is self.update_budget else "get_calls"
        if name not in self._routes:
            backoff = Backoff(self.settings.fault_backoff, self.settings.fault_backoff_cap)
            self._routes[name] = RouteHealth(name, backoff)
        return self._routes[name]

    def note_quota(self, action: Push | Fetch, quota: Quota | None, now: float) -> None:
        """Respect a gateway that says the key's window is spent, whoever spent it."""
        if quota is None or quota.remaining is None or quota.reset_after is None:
            return
        if quota.remaining <= 0:
            self._budget_of(action).block_until(now + quota.reset_after)

    def expected_waits(self, now: float) -> dict[CallKey, float]:
        """Seconds between pushes each pushable call can expect, leaving state untouched."""
        found = [
            Candidate(call, fix, 0.0, 0.0, 0.0)
            for call in self.tracker
            if (fix := self.tracker.fix_of(call)) is not None and call.meta is not None
        ]
        return {c.call.key: wait for c, wait in zip(found, self._waits(found, now), strict=True)}


def _fields(call: Call) -> dict[str, int | str]:
    """The fields naming a call in an operator's log line (its kind only for a 911 call)."""
    fields: dict[str, int | str] = {"server_id": call.server_id, "call_id": call.call_id}
    if call.emergency:
        fields["kind"] = call.kind
    return fields
