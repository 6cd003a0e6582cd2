"""Sonoran CAD v2 client: the only module in the bridge that speaks HTTP.

Every request ends in one typed result; nothing from httpx escapes::

    PatchResult = Updated | Gone | RateLimited | AuthFailed | Rejected | Transient
    GetResult   = CallList | Gone | RateLimited | AuthFailed | Rejected | Transient

    Updated / CallList   2xx with a JSON object body
    Gone                 404: server id not configured, or the call does not exist (`what`
                         tells which, when the answer says); a PATCH answered with the
                         call's `status` 2 (closed) is Gone too
    RateLimited          429, with the wait the server asked for (or None)
    AuthFailed           401 / 403
    Rejected             any other 4xx: the request itself is wrong, do not resend as is
    Transient            5xx, 408, timeout, reset, refused, garbled 2xx body

One call is one HTTP attempt: the caller owns the request budget and the retries. Every
failure that got an answer carries `trace`: the ids Sonoran's support asks for.
"""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any

import httpx
import msgspec
import structlog

import bridge
from bridge.answer import ACCEPT_ENCODING, AnswerError, read_capped

# The result types live in bridge.outcomes so the pure core can use them without httpx.
from bridge.outcomes import (
    Answered,
    AuthFailed,
    CallList,
    GetResult,
    Gone,
    GoneWhat,
    Meta,
    PatchResult,
    Quota,
    RateLimited,
    Rejected,
    Trace,
    Transient,
    Updated,
)

__all__ = [
    "Answered",
    "AuthFailed",
    "CadClient",
    "CallList",
    "GetResult",
    "Gone",
    "Meta",
    "PatchResult",
    "Quota",
    "RateLimited",
    "Rejected",
    "Transient",
    "Updated",
]

_Failure = Gone | RateLimited | AuthFailed | Rejected | Transient

log = structlog.stdlib.get_logger("bridge.cad")

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()

_DETAIL_CAP = 300
# Reset headers above this are Unix timestamps (GitHub style), not a number of seconds...
_EPOCH_THRESHOLD = 1e9
# ...and above this, timestamps in milliseconds (1e11 s is the year 5138; 1e11 ms is 1973).
_EPOCH_MS_THRESHOLD = 1e11
CLOSED_LIMIT = 10
"""Closed calls asked for with each list (the docs' default; they give no meaning to 0): a
followed call closed among the newest ten is seen closed at the next read. One closed
earlier than those is still ended by two reads that lack it."""
MAX_WAIT_WINDOWS = 3.0
"""Budget windows at most that a wait the server asks for is honoured."""
DEFAULT_MAX_WAIT = MAX_WAIT_WINDOWS * 60.0


def parse_retry_after(value: str, now: float) -> float | None:
    """Seconds to wait from a Retry-After value (seconds or HTTP date); None if unreadable."""
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT even when the zone is missing
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _parse_reset(value: str | None, now: float) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.split(",")[0].split(";")[0].strip())
    except ValueError:
        return None
    if not math.isfinite(seconds):
        return None
    if seconds > _EPOCH_MS_THRESHOLD:
        seconds = seconds / 1000.0 - now
    elif seconds > _EPOCH_THRESHOLD:
        seconds -= now
    return max(0.0, seconds)


def _parse_remaining(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        number = float(value.split(",")[0].split(";")[0].strip())
    except ValueError:
        return None
    return max(0, int(number)) if math.isfinite(number) else None


def _reset(headers: Mapping[str, str], now: float) -> tuple[str, float] | None:
    """(header, seconds) of the first readable reset header."""
    for name in ("RateLimit-Reset", "X-RateLimit-Reset"):
        seconds = _parse_reset(headers.get(name.lower()), now)
        if seconds is not None:
            return name, seconds
    return None


def parse_quota(headers: Mapping[str, str], now: float) -> Quota | None:
    """The quota from RateLimit-* or X-RateLimit-* headers; None when none are readable."""
    remaining = _parse_remaining(headers.get("ratelimit-remaining"))
    if remaining is None:
        remaining = _parse_remaining(headers.get("x-ratelimit-remaining-minute"))
    if remaining is None:
        remaining = _parse_remaining(headers.get("x-ratelimit-remaining"))
    reset = _reset(headers, now)
    if remaining is None and reset is None:
        return None
    return Quota(remaining=remaining, reset_after=reset[1] if reset is not None else None)


def _retry_after(headers: Mapping[str, str], now: float) -> tuple[str, float] | None:
    """(header, seconds) of the wait a 429 asks for: Retry-After, else a reset header."""
    raw = headers.get("retry-after")
    if raw is not None:
        seconds = parse_retry_after(raw, now)
        if seconds is not None:
            return "Retry-After", seconds
    return _reset(headers, now)


class _Secret:
    """Holds the API key so that no repr, log or traceback local shows it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def redact(self, text: str) -> str:
        return text.replace(self._value, "[redacted]")

    def __repr__(self) -> str:
        return "<secret>"


def _problem_text(body: Any) -> str:
    """The human text of a problem+json, ASP.NET validation or gateway error object."""
    if not isinstance(body, dict):
        return ""
    text = ""
    for field in ("detail", "title", "message", "error"):
        value = body.get(field)
        if isinstance(value, str) and value.strip():
            text = value
            break
    errors = body.get("errors")
    if isinstance(errors, dict) and errors:
        parts = [f"{name}: {msgs[0] if isinstance(msgs, list) and msgs else msgs}"
                 for name, msgs in errors.items()]
        text = f"{text} ({'; '.join(parts)})" if text else "; ".join(parts)
    return text


def _body(response: httpx.Response) -> Any:
    try:
        return _decoder.decode(response.content)
    except msgspec.DecodeError:
        return None


def _detail(response: httpx.Response, secret: _Secret) -> str:
    body = _body(response)
    if body is not None:
        text = _problem_text(body)
    else:
        text = response.content[:2 * _DETAIL_CAP].decode("utf-8", "replace")
    text = " ".join(text.split()) or response.reason_phrase or f"HTTP {response.status_code}"
    text = secret.redact(text)
    return text if len(text) <= _DETAIL_CAP else text[: _DETAIL_CAP - 1] + "…"


_TRACE_FIELDS = ("traceId", "request_id")
_TRACE_CAP = 128


def trace_of(response: httpx.Response, secret: _Secret) -> Trace:
    """The ids that name a failed request for Sonoran's support, those the answer carries:
    the problem's `traceId`, a 429's `request_id`, the gateway's `x-kong-request-id`."""
    found: Trace = {}
    body = _body(response)
    if isinstance(body, dict):
        for name in _TRACE_FIELDS:
            value = body.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                found[name] = secret.redact(str(value))[:_TRACE_CAP]
    kong = response.headers.get("x-kong-request-id")
    if kong:
        found["x-kong-request-id"] = secret.redact(kong)[:_TRACE_CAP]
    return found


def gone_what(detail: str) -> GoneWhat:
    """Which thing a 404's text says is missing: the server id ("not configured", the one 404
    the CAD documents), the call ("call ... not found"), or neither."""
    text = detail.lower()
    if "server" in text and ("configured" in text or "server not found" in text):
        return "server"
    if "call" in text and ("not found" in text or "does not exist" in text or "closed" in text):
        return "call"
    return "unknown"


CLOSED_STATUS = 2
"""`status` of a closed call (CALL_STATUS 0 PENDING, 1 ACTIVE, 2 CLOSED)."""


def _meta_of(call: Mapping[str, Any]) -> Meta | None:
    """The call's metaData; None when the answer carries none that can be read.

    Never guess `{}` here: the next PATCH would send it back and erase every key.
    """
    meta = call.get("metaData")
    if isinstance(meta, str):  # tolerate a JSON-encoded object, as some v1 endpoints sent it
        try:
            meta = _decoder.decode(meta)
        except msgspec.DecodeError:
            return None
    return meta if isinstance(meta, dict) else None


def _is_closed(call: Mapping[str, Any]) -> bool:
    status = call.get("status")
    return not isinstance(status, bool) and status in (CLOSED_STATUS, str(CLOSED_STATUS))


def _call_id(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


LISTS = {
    "active": ("ActiveCalls", "activeCalls"),
    "emergency": ("EmergencyCalls", "emergencyCalls"),
    "closed": ("ClosedCalls", "closedCalls"),
}
"""Each list of `GET .../calls` by its documented name (PascalCase since 2026-04-27) and the
camelCase one the API and sonorancad used before; the first present is read."""


def _list_in(body: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, Any] | None:
    for name in names:
        if name in body:
            return name, body[name]
    return None


def _call_list(body: Mapping[str, Any], status: int) -> CallList | Transient:
    """The lists of a `GET .../calls` answer, in either case; a body without the active or the
    911 list is refused (an empty result would read as "every call closed")."""
    found = {which: _list_in(body, names) for which, names in LISTS.items()}
    if found["active"] is None and found["emergency"] is None:
        return Transient(
            f"HTTP {status}: body has no call lists (expected ActiveCalls/EmergencyCalls)",
            True,
            status=status,
        )
    read: dict[str, dict[int, Meta | None]] = {}
    closing: set[int] = set()
    complete = True
    for which, listed in found.items():
        read[which] = {}
        if listed is None:
            continue
        name, items = listed
        if items is None:
            items = []
        if not isinstance(items, list):
            return Transient(f"HTTP {status}: {name} is not a list", True, status=status)
        for item in items:
            call_id = _call_id(item.get("callId")) if isinstance(item, dict) else None
            if call_id is None:
                if which != "closed":
                    complete = False  # some call is listed here, and it may be any of ours
                continue
            if which == "active" and _is_closed(item):
                closing.add(call_id)  # listed among the active ones, yet closed
                continue
            # A missing metaData field says nothing of what the call holds, so it stays
            # unknown like an unreadable one.
            read[which][call_id] = _meta_of(item)
    closed = (set(read["closed"]) | closing) - set(read["active"])
    return CallList(
        calls=read["active"],
        complete=complete,
        emergency=read["emergency"],
        closed=frozenset(closed),
    )


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _connect_reason(exc: BaseException) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return "DNS lookup failed"
        cause = cause.__cause__ or cause.__context__
    if "refused" in str(exc).lower():
        return "connection refused"
    return "could not connect"


def _transport_reason(exc: httpx.HTTPError) -> str:
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed without a valid response"
    if isinstance(exc, httpx.ReadError):
        return "connection reset while reading the response"
    if isinstance(exc, httpx.WriteError):
        return "connection reset while sending the request"
    if isinstance(exc, httpx.DecodingError):
        return "response body could not be decoded"
    return f"transport error ({type(exc).__name__})"


class CadClient:
    """Async client of the Sonoran CAD v2 dispatch-call endpoints; one call = one attempt."""

    def __init__(
        self,
        api_url: str,
        api_key: str,
        *,
        timeout: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
        wall_clock: Callable[[], float] = time.time,
        max_wait: float = DEFAULT_MAX_WAIT,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is empty")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        self._base = api_url.strip().rstrip("/")
        try:
            url = httpx.URL(self._base)
        except httpx.InvalidURL:
            raise ValueError("api_url is not a valid URL") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("api_url must be an absolute http(s) URL")
        self._secret = _Secret(api_key)
        self._timeout = timeout
        self._wall_clock = wall_clock
        self._max_wait = max_wait
        self._capped: set[str] = set()
        """Headers whose waits were capped already: the cap is logged once for each."""
        self._http = httpx.AsyncClient(
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "Content-Type": "application/json",
                "User-Agent": f"sonoran-bridge/{bridge.__version__}",
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            timeout=httpx.Timeout(timeout),
            transport=transport,
            # A proxy from the environment only for https, where it sees a CONNECT and the
            # key stays inside TLS: HTTP_PROXY (or ALL_PROXY) would get the key in clear.
            mounts={"http://": None},
            follow_redirects=False,  # a redirect could carry the Authorization header elsewhere
        )

    def __repr__(self) -> str:
        return f"CadClient(api_url={self._base!r}, timeout={self._timeout})"

    async def __aenter__(self) -> CadClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    async def update_call(
        self, server_id: int, call_id: int, meta: Meta, postal: str | None = None
    ) -> Answered[PatchResult]:
        """PATCH the call's metaData (which replaces the stored object whole), and its postal
        in the same request when one is given; the answer carries the key's quota."""
        path = f"/v2/emergency/servers/{int(server_id)}/dispatch-calls/{int(call_id)}"
        fields: dict[str, Any] = {"metaData": meta}
        if postal is not None:
            fields["postal"] = postal
        response = await self._send("PATCH", path, content=_encoder.encode(fields))
        if not isinstance(response, httpx.Response):
            return Answered(response)
        quota = self._quota(response.headers)
        return Answered(self._patched(response), quota)

    def _patched(self, response: httpx.Response) -> PatchResult:
        body = self._success_body(response)
        if not isinstance(body, dict):
            return body
        if _is_closed(body):
            # What a PATCH of a closed call answers is not documented: a 200 saying so ends
            # the call as a 404 of it does.
            return Gone("the CAD answered the update with status 2: the call is closed", "call")
        return Updated(call=body, meta=_meta_of(body))

    async def get_calls(self, server_id: int) -> Answered[GetResult]:
        """GET every active and emergency call of the server, and its newest closed ones; the
        answer carries the key's quota."""
        path = f"/v2/emergency/servers/{int(server_id)}/calls"
        params = {"closedLimit": str(CLOSED_LIMIT), "closedOffset": "0", "type": "100"}
        response = await self._send("GET", path, params=params)
        if not isinstance(response, httpx.Response):
            return Answered(response)
        quota = self._quota(response.headers)
        return Answered(self._listed(response), quota)

    def _listed(self, response: httpx.Response) -> GetResult:
        body = self._success_body(response)
        if not isinstance(body, dict):
            return body
        return _call_list(body, response.status_code)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response | Transient:
        timed_out = f"timeout after {self._timeout} s"
        try:
            # httpx times each phase; this bounds the whole attempt, e.g. a slow trickle.
            async with asyncio.timeout(self._timeout):
                response = await self._fetch(method, path, content=content, params=params)
        except (httpx.ConnectTimeout, httpx.PoolTimeout):
            return Transient(timed_out + " (connecting)", reached_server=False)
        except (httpx.TimeoutException, TimeoutError):
            return Transient(timed_out, reached_server=True)
        except httpx.ConnectError as exc:
            return Transient(_connect_reason(exc), reached_server=False)
        except httpx.HTTPError as exc:
            return Transient(_transport_reason(exc), reached_server=True)
        except AnswerError as exc:
            return Transient(str(exc), reached_server=True)
        except (httpx.InvalidURL, httpx.StreamError, OSError) as exc:
            # Reason built from the type only: httpx messages may embed the request.
            return Transient(f"request failed ({type(exc).__name__})", reached_server=True)
        return response

    def _quota(self, headers: Mapping[str, str]) -> Quota | None:
        """The key's quota an answer's rate-limit headers report, its wait capped."""
        quota = parse_quota(headers, self._wall_clock())
        if quota is not None and quota.reset_after is not None:
            reset = _reset(headers, self._wall_clock())
            header = reset[0] if reset is not None else "RateLimit-Reset"
            capped = self._capped_wait(header, headers, quota.reset_after)
            quota = Quota(remaining=quota.remaining, reset_after=capped)
        return quota

    async def _fetch(
        self, method: str, path: str, *, content: bytes | None, params: dict[str, str] | None
    ) -> httpx.Response:
        """One request, its body read with a cap after decompression (`AnswerError` past it)."""
        request = self._http.build_request(
            method, self._base + path, content=content, params=params
        )
        streamed = await self._http.send(request, stream=True)
        try:
            if streamed.is_stream_consumed:  # a transport that read it already (tests' mocks)
                body = await read_capped(_once(streamed.content), "")
            else:
                body = await read_capped(
                    streamed.aiter_raw(), streamed.headers.get("content-encoding", "")
                )
        finally:
            await streamed.aclose()
        headers = [
            (name, value)
            for name, value in streamed.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            streamed.status_code,
            headers=headers,
            content=body,
            request=request,
            extensions=streamed.extensions,
        )

    def _capped_wait(self, header: str, headers: Mapping[str, str], seconds: float) -> float:
        """A wait the server asked for, at most `max_wait`: a millisecond timestamp read as
        seconds, or a Retry-After of a day, would otherwise stop every request until restart."""
        if seconds <= self._max_wait:
            return seconds
        if header not in self._capped:
            self._capped.add(header)
            log.warning(
                "the CAD asked for a wait past the cap; waiting the cap instead "
                "(logged once per header)",
                header=header,
                value=headers.get(header.lower(), ""),
                asked_seconds=round(seconds),
                cap_seconds=self._max_wait,
            )
        return self._max_wait

    def _success_body(self, response: httpx.Response) -> dict[str, Any] | _Failure:
        status = response.status_code
        if 200 <= status < 300:
            try:
                body = _decoder.decode(response.content)
            except msgspec.DecodeError:
                return Transient(f"HTTP {status}: body is not JSON", True, status=status)
            if not isinstance(body, dict):
                return Transient(f"HTTP {status}: body is not a JSON object", True, status=status)
            return body
        detail = _detail(response, self._secret)
        trace = trace_of(response, self._secret)
        if status == 404:
            return Gone(detail, gone_what(detail), trace)
        if status == 429:
            asked = _retry_after(response.headers, self._wall_clock())
            if asked is None:
                return RateLimited(None, detail, trace)
            header, seconds = asked
            wait = self._capped_wait(header, response.headers, seconds)
            return RateLimited(wait, detail, trace)
        if status in (401, 403):
            return AuthFailed(status, detail, trace)
        if 400 <= status < 500 and status != 408:
            return Rejected(status, detail, trace)
        return Transient(f"HTTP {status}: {detail}", True, trace, status=status)
