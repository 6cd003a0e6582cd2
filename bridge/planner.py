"""The daemon's decisions, free of I/O: what to request next, and what each answer means.

A thin facade over pure pieces with one job each, which the driver (and through it the push
loop and the replay benchmark) calls; the clock is an argument:

- `intake`: what a game server says (positions, tracks, relays, closes);
- `choice`: the candidates' figures, the policy's choice, the read ahead of a push;
- `placement`: where a push goes and the body it sends; `freshness`: whether a read goes first;
- `reads`: when each server's list is read, what a read teaches, a server's pause;
- `folding`: what an update's answer means for its call; `routes`: what any answer says of
  the route and the key;
- `phase`: where a call stands, and the transitions that move it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from bridge import choice, folding, intake, placement
from bridge.actions import (
    CLOSED_LISTED,
    COLLIDES,
    MISSING,
    TOO_MANY_CALLS,
    UNKNOWN_META,
    Alert,
    AlertKind,
    Fetch,
    Heard,
    Notice,
    Push,
    Refused,
)
from bridge.budget import Backoff, Budget
from bridge.outcomes import GetResult, Gone, Meta, PatchResult, Quota, Trace, Transient
from bridge.phase import Phase, phase_of, push_began
from bridge.placement import MOVING
from bridge.postal import PostalIndex
from bridge.protocol import DISPATCH, CallStateName, InboundMessage, Kind
from bridge.reads import Reads
from bridge.routes import Health, RouteHealth, RouteName
from bridge.scheduler import BudgetAware, Candidate, Policy
from bridge.settings import Settings
from bridge.tracker import Call, Fix, Tracker

__all__ = [
    "CLOSED_LISTED", "COLLIDES", "MISSING", "MOVING", "TOO_MANY_CALLS", "UNKNOWN_META",
    "Alert", "AlertKind", "Fetch", "Heard", "Notice", "Planner", "Push", "Refused", "Settings",
]  # fmt: skip
"""The planner and what it decides and says (defined in `bridge.actions` and
`bridge.settings`, named here too: the driver, the shell and the tests import them from here)."""


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
    reads: Reads = field(default_factory=Reads)
    health: Health = field(init=False)

    def __post_init__(self) -> None:
        if isinstance(self.policy, BudgetAware):
            self.policy.bind(self.update_budget)
        s = self.settings
        self.health = Health(
            Backoff(s.rate_backoff, s.rate_backoff_cap),
            Backoff(s.auth_backoff, s.auth_backoff_cap),
            (s.fault_backoff, s.fault_backoff_cap),
        )
        self.configure(s)

    def configure(self, settings: Settings) -> None:
        """Take new settings; the back-offs start again from theirs."""
        self.settings = settings
        self.tracker.near = settings.min_move
        self.health.configure(
            (settings.rate_backoff, settings.rate_backoff_cap),
            (settings.auth_backoff, settings.auth_backoff_cap),
            (settings.fault_backoff, settings.fault_backoff_cap),
        )

    # --- reading the state (for the status views, tests and the bench) -------------------

    @property
    def auth_failing(self) -> bool:
        """The CAD refuses the API key (its last answer on it was a 401/403)."""
        return self.health.auth_failing

    def call(self, server_id: int, call_id: int, kind: Kind = DISPATCH) -> Call | None:
        """The followed call, or None."""
        return self.tracker.get(server_id, call_id, kind)

    def calls(self) -> Iterator[Call]:
        """Every followed call."""
        return iter(self.tracker)

    def calls_of(self, server_id: int) -> list[Call]:
        """The calls one game server has asked to follow."""
        return self.tracker.calls_of(server_id)

    def count_of(self, server_id: int) -> int:
        """How many calls one game server follows (what its cap counts)."""
        return self.tracker.count_of(server_id)

    def held(self) -> dict[str, int]:
        """How much state is held: calls, fixes, followed subjects, marks of reads (begun or
        answered). What a long run of tracks and untracks must not grow."""
        tracker, reads = self.tracker, self.reads
        marks = len(reads.fetched_at) + len(reads.started)
        return {"calls": len(tracker.calls), "fixes": len(tracker.fixes),
                "followers": tracker.followed(), "read_marks": marks}  # fmt: skip

    def fix_of(self, call: Call) -> Fix | None:
        """The latest fix of the call's subject, or None before the first."""
        return self.tracker.fix_of(call)

    def error_of(self, call: Call) -> float | None:
        """Metres between the call's subject (at its fix) and where the CAD draws it."""
        return self.tracker.error(call)

    def mean_error(self, calls: Iterable[Call]) -> float | None:
        """The map error of these calls (`Tracker.mean_error`)."""
        return self.tracker.mean_error(calls)

    def phase(self, call: Call) -> Phase:
        """Where the call stands (`bridge.phase`)."""
        return phase_of(call, self.tracker.fix_of(call))

    def paused_until(self, server_id: int) -> float | None:
        """Until when a server's requests wait for the CAD to know its id again, or None."""
        return self.reads.paused_until.get(server_id)

    def states_of(self, server_id: int) -> list[Notice]:
        """Where each of a game server's calls stands, for a link that (re)connects."""
        paused = f"paused: the CAD does not know server id {server_id} (it answered 404)"
        states = []
        for call in self.tracker.calls_of(server_id):
            if server_id in self.reads.paused_until:
                states.append(Notice.of(call, "failed", paused))
            elif self.phase(call).waits_for_meta and call.unknown_told:
                states.append(Notice.of(call, "failed", UNKNOWN_META))
            else:
                state: CallStateName = "pushed" if call.pushed_at is not None else "following"
                states.append(Notice.of(call, state))
        return states

    # --- what the game servers say --------------------------------------------------------

    def receive(
        self, server_id: int, message: InboundMessage, now: float
    ) -> list[Notice | Heard | Refused]:
        """Fold one message from a game server into state; returns what to tell it and log."""
        return intake.receive(self.tracker, self.settings, server_id, message, now)

    def track(
        self, server_id: int, call_id: int, subject: str, now: float, *,
        radius: float | None = None, meta: Meta | None = None, kind: Kind = DISPATCH,
    ) -> Call:  # fmt: skip
        """Follow a call as a `track` would, without its checks (tests and the bench)."""
        return self.tracker.track(server_id, call_id, subject, now, radius=radius, meta=meta,
                                  kind=kind)  # fmt: skip

    def observe(
        self, server_id: int, subject: str, x: float, y: float, z: float, now: float, *,
        vx: float | None = None, vy: float | None = None, speed: float | None = None,
        heading: float | None = None,
    ) -> None:  # fmt: skip
        """A subject's position, as a `positions` item brings it (tests and the bench)."""
        self.tracker.observe(server_id, subject, x, y, z, now, vx=vx, vy=vy, speed=speed,
                             heading=heading)  # fmt: skip

    # --- the choice ---------------------------------------------------------------------

    def _ground(self) -> choice.Ground:
        return choice.Ground(self.tracker, self.reads, self.settings, self.policy,
                             self.update_budget, self.get_budget, self.postals)  # fmt: skip

    def candidates(self, now: float) -> list[Candidate]:
        """Calls that could be pushed now, with their figures (`choice.candidates`)."""
        return choice.candidates(self._ground(), now)

    def next_action(self, now: float) -> Push | Fetch | None:
        """The request to make now, or None when there is nothing worth a slot."""
        return choice.next_action(self._ground(), now)

    def next_wake(self, now: float) -> float:
        """When a slot opens next, or the read ahead of it may begin (`choice.next_wake`)."""
        return choice.next_wake(self._ground(), now)

    def expected_waits(self, now: float) -> dict[tuple[int, Kind, int], float]:
        """Seconds between pushes each pushable call can expect, leaving state untouched."""
        return choice.expected_waits(self._ground())

    def refresh_interval(self, now: float) -> float:
        """Seconds until a moving call's next turn, were the budget shared evenly."""
        return choice.refresh_interval(self.tracker, self.update_budget)

    def lead_seconds(self, chosen: Candidate, now: float) -> float:
        """How far ahead to project a steady mover (`placement.lead_seconds`)."""
        return placement.lead_seconds(chosen, now, self.settings)

    def begin(self, action: Push | Fetch, now: float) -> None:
        """Spend the slot the action takes: what choosing it looked at becomes state."""
        self._budget_of(action).begin(now)
        choice.settle(self._ground(), now)
        if isinstance(action, Fetch):
            self.reads.begun(action.server_id, now)
            return
        self.policy.spent(action.key, now)
        if (call := self.tracker.calls.get(action.key)) is not None:
            push_began(call, now)

    # --- the answers --------------------------------------------------------------------

    def finish_push(self, push: Push, result: PatchResult, now: float) -> list[Notice | Alert]:
        """Fold the CAD's answer to a PATCH into state; returns what to tell whom."""
        self._end(push, result, now)
        events: list[Notice | Alert] = []
        events.extend(folding.fold_update(self.tracker, push, result, now, self._rejection_wait))
        if isinstance(result, Gone) and result.what == "server":
            detail = f"404 for an update: {result.detail}"
            events.extend(self._pause(push.key[0], detail, now, result.trace))
        events.extend(self._common(push, result, now))
        return events

    def finish_fetch(self, fetch: Fetch, result: GetResult, now: float) -> list[Notice | Alert]:
        """Fold the CAD's list of calls into state: metaData learned, calls gone, a server the
        CAD does not know paused."""
        self._end(fetch, result, now)
        server_id = fetch.server_id
        events: list[Notice | Alert] = []
        events.extend(self.reads.answered(server_id, result, now, self.tracker, self.settings,
                                          self._rejection_wait))  # fmt: skip
        if isinstance(result, Gone):
            detail = f"404 for its list of calls: {result.detail}"
            events.extend(self._pause(server_id, detail, now, result.trace))
        events.extend(self._common(fetch, result, now))
        return events

    def note_quota(self, action: Push | Fetch, quota: Quota | None, now: float) -> None:
        """Respect a gateway that says the key's window is spent, whoever spent it."""
        if quota is None or quota.remaining is None or quota.reset_after is None:
            return
        if quota.remaining <= 0:
            self._budget_of(action).block_until(now + quota.reset_after)

    def _rejection_wait(self, rejections: int) -> float:
        """Seconds a call refused `rejections` times in a row waits: one window, doubling."""
        settings, window = self.settings, self.update_budget.window
        windows = settings.reject_backoff_windows * 2.0 ** min(rejections - 1, 30)
        return window * min(settings.reject_backoff_cap_windows, windows)

    def _pause(self, server_id: int, detail: str, now: float, trace: Trace) -> list[Notice | Alert]:
        """A 404 for a server's list, or one of an update that says so: its calls are kept,
        its requests wait; the operator and its calls hear of it once."""
        if not self.reads.pause(server_id, now, self.settings):
            return []
        alert = Alert(AlertKind.SERVER_UNKNOWN, detail, server_id, dict(trace))
        return [alert, *self.states_of(server_id)]  # each call: failed, the server paused

    def _budget_of(self, action: Push | Fetch) -> Budget:
        if isinstance(action, Fetch):
            assert self.get_budget is not None
            return self.get_budget
        return self.update_budget

    def _end(self, action: Push | Fetch, result: PatchResult | GetResult, now: float) -> None:
        reached = not (isinstance(result, Transient) and not result.reached_server)
        self._budget_of(action).end(now, reached_server=reached)

    def _common(
        self, action: Push | Fetch, result: PatchResult | GetResult, now: float
    ) -> list[Notice | Alert]:
        """What the answer says of its route and of the key (`routes.Health`)."""
        budget = self._budget_of(action)
        budgets = [self.update_budget, *([self.get_budget] if self.get_budget else [])]
        return [*self.health.fold(self._health(budget), budget, budgets, result, now)]

    def _health(self, budget: Budget) -> RouteHealth:
        """The health of the route the budget paces."""
        name: RouteName = "update_call" if budget is self.update_budget else "get_calls"
        return self.health.route(name)
