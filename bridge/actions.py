"""What the planner decides and says: the requests it asks for, and what it tells whom.

Plain values, no behaviour: the driver carries out a `Push` or a `Fetch`; the shell sends each
`Notice` and `Refused` to its game server, writes each `Heard` to the log and raises each
`Alert` to the operator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from bridge.outcomes import Meta, Trace
from bridge.protocol import DISPATCH, CallStateName, Kind
from bridge.tracker import Call, CallKey


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


class AlertKind(StrEnum):
    """What an `Alert` is about (its value is the `alert` field of the log line)."""

    AUTH_FAILED = "auth_failed"
    """The CAD refuses the API key (401/403)."""
    AUTH_RESOLVED = "auth_resolved"
    SERVER_UNKNOWN = "server_unknown"
    """The CAD answered 404 for a server's list: it does not know the server id."""
    SERVER_KNOWN = "server_known"
    RATE_LIMIT_RESOLVED = "rate_limit_resolved"
    """A route's spell of 429s ended."""
    CAD_RESOLVED = "cad_resolved"
    """A route's spell of failed requests ended."""


@dataclass(frozen=True, slots=True)
class Alert:
    """Something the operator must see (auth failing, a server id the CAD does not know, or
    recovered)."""

    event: AlertKind
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


def call_fields(call: Call) -> dict[str, int | str]:
    """The fields naming a call in an operator's log line (its kind only for a 911 call)."""
    fields: dict[str, int | str] = {"server_id": call.server_id, "call_id": call.call_id}
    if call.emergency:
        fields["kind"] = call.kind
    return fields
