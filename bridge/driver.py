"""The daemon's request cycle without I/O: what to ask the CAD next, and what its answer means.

`Driver.step(now)` says which request to make now or how long to sleep; `Driver.begin` spends
the slot when the request leaves; `Driver.complete(answer)` folds the CAD's answer in and returns
the `Outcome`. A request and its answer are a typed pair: a `Push` is answered by a `PatchAnswer`,
a `Fetch` by a `ListAnswer`, and each answer carries its request, its result, the key's quota the
CAD reported with it, and when the request began and ended. Nothing here reads a clock, a socket
or the CAD client: the push loop (`bridge.pusher`), the replay benchmark (`bench.sim`) and the
tests drive this one object, each with its own clock and its own CAD.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.outcomes import GetResult, PatchResult, Quota, Transient
from bridge.planner import Alert, Fetch, Notice, Planner, Push

Request = Push | Fetch
"""A request the driver asks for: a PATCH of one call's metaData, or a read of a server's list."""


@dataclass(frozen=True, slots=True)
class Sleep:
    """No request now: look again at `until`, or when input arrives (`until` None: nothing is
    worth a slot until the positions or tracks change)."""

    until: float | None


@dataclass(frozen=True, slots=True)
class PatchAnswer:
    """The CAD's answer to a `Push`."""

    push: Push
    result: PatchResult
    quota: Quota | None
    """The key's window as the CAD reported it with this answer (None when it said nothing)."""
    began: float
    ended: float


@dataclass(frozen=True, slots=True)
class ListAnswer:
    """The CAD's answer to a `Fetch`."""

    fetch: Fetch
    result: GetResult
    quota: Quota | None
    """The key's window as the CAD reported it with this answer (None when it said nothing)."""
    began: float
    ended: float


Answer = PatchAnswer | ListAnswer


def failed(request: Request, result: Transient, began: float, ended: float) -> Answer:
    """The answer of a request that ended without one from the CAD (a fault, a shutdown):
    no answer, so no quota either."""
    if isinstance(request, Push):
        return PatchAnswer(request, result, None, began, ended)
    return ListAnswer(request, result, None, began, ended)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished request: its answer, and what the planner has to tell whom about it."""

    answer: Answer
    events: list[Notice | Alert]

    @property
    def request(self) -> Request:
        """The request the answer belongs to."""
        return self.answer.push if isinstance(self.answer, PatchAnswer) else self.answer.fetch

    @property
    def result(self) -> PatchResult | GetResult:
        """The CAD's result."""
        return self.answer.result


class Driver:
    """One request at a time over the planner: the daemon's whole request cycle, sans I/O."""

    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.in_flight: Request | None = None
        self.requests = 0
        """Requests begun."""

    def step(self, now: float) -> Request | Sleep:
        """The request to make now, or how long nothing is worth a slot.

        While a request is in flight nothing else goes: the next choice sees its answer.
        """
        if self.in_flight is not None:
            return Sleep(None)
        wake_at = self.planner.next_wake(now)
        if wake_at > now:
            # No slot yet: choosing a call (which looks at every call) would be wasted.
            return Sleep(wake_at)
        action = self.planner.next_action(now)
        return Sleep(None) if action is None else action

    def begin(self, request: Request, now: float) -> None:
        """The request leaves now: spend its slot."""
        self.planner.begin(request, now)
        self.in_flight = request
        self.requests += 1

    def complete(self, answer: Answer) -> Outcome:
        """Fold the CAD's answer in at the moment it ended; returns what came of it."""
        self.in_flight = None
        now = answer.ended
        events: list[Notice | Alert]
        if isinstance(answer, PatchAnswer):
            request: Request = answer.push
            events = self.planner.finish_push(answer.push, answer.result, now)
        else:
            request = answer.fetch
            events = self.planner.finish_fetch(answer.fetch, answer.result, now)
        self.planner.note_quota(request, answer.quota, now)
        return Outcome(answer, events)
