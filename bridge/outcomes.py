"""What one CAD request came to: typed results, never raw HTTP."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from msgspec import Struct

Meta = dict[str, Any]
"""A call's metaData, values kept exactly as the CAD sent them (normally strings)."""

Trace = dict[str, str]
"""What names a failed request for Sonoran's support: the problem's `traceId`, a 429's
`request_id` and the gateway's `x-kong-request-id` header, those the answer carried."""

GoneWhat = Literal["call", "server", "unknown"]


class Updated(Struct, frozen=True):
    """The PATCH succeeded; `call` is the whole call after the update, `meta` its metaData.

    `meta` is None when the answer carried no readable metaData.
    """

    call: dict[str, Any]
    meta: Meta | None


class CallList(Struct, frozen=True):
    """The GET of calls succeeded: call id -> metaData of every active dispatch call (`calls`)
    and every 911 call (`emergency`), and the ids of the closed dispatch calls listed.

    A call listed without metaData, or with metaData that could not be read, maps to None: it
    exists, its metaData is unknown (never `{}`: a PATCH of that would erase every key).
    Dispatch and 911 ids are apart: nothing says the CAD never gives both kinds one id.
    """

    calls: dict[int, Meta | None]
    complete: bool = True
    """Every item of the lists was read; False when one had no readable call id, so that a
    call absent from `calls` may still have been listed."""
    emergency: dict[int, Meta | None] = {}
    closed: frozenset[int] = frozenset()
    """Dispatch calls the CAD lists as closed (`ClosedCalls`, the newest `closedLimit`)."""


class Gone(Struct, frozen=True):
    """404, or a call that answers as closed: the call (or the server id) is not there.

    `what` tells which: "call" (the answer says the call is not found, or the update's answer
    has `status` 2, closed), "server" (the serverId is not configured: the only 404 the CAD
    documents) or "unknown" (a 404 that says neither: a read of the list decides).
    """

    detail: str
    what: GoneWhat = "unknown"
    trace: Trace = {}


class RateLimited(Struct, frozen=True):
    """429; `retry_after` is seconds from now when the server said, else None."""

    retry_after: float | None
    detail: str
    trace: Trace = {}


class AuthFailed(Struct, frozen=True):
    """401/403: the API key is missing, invalid or revoked."""

    status: int
    detail: str
    trace: Trace = {}


class Rejected(Struct, frozen=True):
    """Another 4xx: the CAD refused this request as it stands."""

    status: int
    detail: str
    trace: Trace = {}


class Transient(Struct, frozen=True):
    """5xx, timeout, reset or a garbled answer: worth trying again later."""

    reason: str
    reached_server: bool
    trace: Trace = {}
    status: int | None = None
    """The HTTP status of the answer (None: no answer came, e.g. a timeout or a reset). A 2xx
    here is an answer whose body could not be read (`body_fault`)."""

    @property
    def body_fault(self) -> bool:
        """The CAD answered with success, but its body could not be read."""
        return self.status is not None and 200 <= self.status < 300


class Quota(Struct, frozen=True):
    """Rate-limit headers of the last answer, where the gateway sent them."""

    remaining: int | None
    reset_after: float | None


PatchResult = Updated | Gone | RateLimited | AuthFailed | Rejected | Transient
GetResult = CallList | Gone | RateLimited | AuthFailed | Rejected | Transient

ResultT = TypeVar("ResultT", PatchResult, GetResult)
"""Either kind of result: an `Answered` holds one."""


class Answered(Struct, Generic[ResultT], frozen=True):
    """What one request came to, with the key's quota the CAD reported in the same answer
    (None when it sent no rate-limit headers, or no answer came)."""

    result: ResultT
    quota: Quota | None = None
