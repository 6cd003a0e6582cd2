"""A stand-in for Sonoran CAD's v2 dispatch-call API: a real HTTP/1.1 server on loopback.

A request passes the layers of the real gateway, in order: routing (404/405); gateway
faults (injected 401/403/429, not counted); auth (401); the rate limit, a strict sliding
log per route (429; the rule is `window.SlidingLog`, which the replay benchmark's CAD also
uses); then it is counted, backend faults fire, and the API answers.
Arrival time is read from `clock` when the request head is parsed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import math
import socket
import struct
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs

import h11
import msgspec

from bridge.standin import integration
from bridge.standin.http import (
    READ_SIZE,
    Answer,
    next_event,
    problem,
    rate_limited,
    read_body,
    send,
)
from bridge.standin.window import SlidingLog, counted_at

ROUTES = ("update_call", "get_calls")
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True, slots=True)
class Fault:
    """A misbehaviour for `CadStandIn.inject`.

    Fault(503), Fault(401), Fault(400)...: that status with a problem+json body.
    Fault(429, retry_after=7 | datetime | "raw text" | None): the gateway's 429 body, with
    Retry-After in seconds, as an HTTP date, verbatim, or absent.
    Fault("hang"): read the request, never answer; Fault("reset"): read it, then send a RST;
    Fault("bad_json"): 200 with a truncated body; Fault("slow", delay=2.0): answer late.
    401/403/429 act at the gateway (before auth and the rate limit, and not counted in the
    window); the others only hit requests the gateway admitted, which count.
    """

    what: int | Literal["hang", "reset", "bad_json", "slow"]
    delay: float = 0.0
    retry_after: float | datetime | str | None = None
    detail: str = "Injected fault"
    """The problem+json detail of a status fault (a careless gateway may echo the key here)."""
    headers: tuple[tuple[str, str], ...] = ()
    """Extra headers of a status fault's answer, e.g. (("RateLimit-Reset", "1780000030000"),)."""

    @property
    def at_gateway(self) -> bool:
        """Whether the fault acts before auth and the rate limit."""
        return self.what in (401, 403, 429)


@dataclass(slots=True)
class SeenRequest:
    """One request as the stand-in saw it; status stays None if it was never answered."""

    t: float
    method: str
    path: str
    query: str
    route: str | None
    status: int | None = None
    body: Any = None
    fault: Fault | None = None
    counted: bool = False  # it took a slot of its route's rate-limit window


def _id(text: str) -> int | None:
    # Length cap: int() refuses very long digit strings, and no real id is that long.
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _match(method: str, path: str) -> tuple[str | None, list[int], Answer | None]:
    """(route, ids from the path, early answer) for a request path."""
    parts = path.split("/")
    server = _id(parts[4]) if len(parts) > 4 else None
    route, allowed, ids = None, "", list[int]()
    if parts[:4] == ["", "v2", "emergency", "servers"] and server is not None:
        call = _id(parts[6]) if len(parts) == 7 and parts[5] == "dispatch-calls" else None
        if call is not None:
            route, allowed, ids = "update_call", "PATCH", [server, call]
        elif len(parts) == 6 and parts[5] == "calls":
            route, allowed, ids = "get_calls", "GET", [server]
    if route is None and (found := integration.match(method, parts)) is not None:
        route, allowed, ids = found  # a route the official sonorancad resource calls
    if route is None:
        return None, [], problem(404, f"No route for {path}", path)
    if method != allowed:
        answer = problem(405, f"{method} is not allowed here", path)
        answer.headers.append(("Allow", allowed))
        return route, ids, answer
    return route, ids, None


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CadStandIn:
    """A local HTTP server that behaves like Sonoran CAD's v2 dispatch-call endpoints.

    Inspect `requests` (every request, in arrival order), `rate_limited` (429s answered),
    and set `servers` (configured ids) or `send_quota_headers` (RateLimit-* on limited routes;
    `quota_reset` gives the reset in seconds, or as a Unix time in seconds or milliseconds).
    The list of calls has the documented shape (`ActiveCalls`, `EmergencyCalls`, `ClosedCalls`,
    `ClosedCallCount`; `camel_case = True` serves the names used before 2026-04-27), and can be
    made to misbehave as the real one may: `list_meta = False` serves its items without
    `metaData`, `list_hidden` leaves those call ids out (a list lagging behind the CAD),
    `list_junk` adds that many items without a readable call id. What a PATCH of a closed call
    answers is not documented: `closed_patch` picks a 404 (the default) or a 200 with the
    call's `status` 2. Every answer carries an `x-kong-request-id`, as the gateway's do.
    """

    def __init__(
        self,
        *,
        api_key: str = "standin-key",
        host: str = "127.0.0.1",
        port: int = 0,
        window: float = 60.0,
        limits: dict[str, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        limits = {"update_call": 10, "get_calls": 5} if limits is None else limits
        if unknown := set(limits) - set(ROUTES):
            raise ValueError(f"unknown routes in limits: {sorted(unknown)}; known: {ROUTES}")
        self.api_key, self.host, self.port = api_key, host, port
        self.servers: set[int] = {1}
        self.requests: list[SeenRequest] = []
        self.rate_limited = 0
        self.send_quota_headers = False
        self.list_meta = True
        self.list_hidden: set[int] = set()
        self.list_junk = 0
        self.camel_case = False
        self.closed_patch: Literal[404, 200] = 404
        self.quota_reset: Literal["seconds", "epoch", "epoch_ms"] = "seconds"
        self._clock = clock
        self._wall_clock = wall_clock
        self._logs = {route: SlidingLog(n, window) for route, n in limits.items()}
        self._calls: dict[tuple[int, int], dict[str, Any]] = {}
        self._closed: list[tuple[int, int]] = []  # in closing order
        self._emergency: dict[tuple[int, int], dict[str, Any]] = {}
        # fault, times left, route, (server id, call id) of the one call it hits
        self._faults: list[tuple[Fault, int, str | None, tuple[int, int] | None]] = []
        self._revoked = False
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self.integration = integration.Integration()
        """Units, servers and version for the official sonorancad resource's own requests."""

    @property
    def url(self) -> str:
        """Base URL for the client, e.g. http://127.0.0.1:54321."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        """Listen; `port` holds the real port afterwards."""
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and drop every connection, hung ones included."""
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if server is not None:
            await server.wait_closed()

    async def __aenter__(self) -> CadStandIn:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- the CAD's state, as a test or a dispatcher changes it ---------------------------

    def add_call(
        self, server_id: int, call_id: int, meta: dict[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Create an active dispatch call (and configure its server id); returns a copy."""
        self.servers.add(server_id)
        call: dict[str, Any] = {
            "callId": call_id,
            "origin": 0,
            "status": 1,
            "priority": 1,
            "block": "100",
            "address": "Mission Row",
            "postal": "9002",
            "title": "Armed Robbery",
            "code": "211",
            "primary": 12,
            "trackPrimary": False,
            "description": "Clerk reports a firearm.",
            "notes": [],
            "idents": [],
            "metaData": copy.deepcopy(meta or {}),
            "updated": _now_iso(),
            **copy.deepcopy(fields),
        }
        self._calls[(server_id, call_id)] = call
        return copy.deepcopy(call)

    def add_emergency_call(
        self, server_id: int, call_id: int, meta: dict[str, Any] | None = None, **fields: Any
    ) -> dict[str, Any]:
        """Create a 911 call (listed in `EmergencyCalls`; its postal lives in its metaData);
        returns a copy. Its id may equal a dispatch call's: they are kept apart."""
        self.servers.add(server_id)
        call: dict[str, Any] = {
            "callId": call_id,
            "isEmergency": True,
            "caller": "Jane Doe",
            "location": "Innocence Blvd",
            "description": "Medical emergency reported.",
            "metaData": copy.deepcopy(meta or {}),
            "updated": _now_iso(),
            **copy.deepcopy(fields),
        }
        self._emergency[(server_id, call_id)] = call
        return copy.deepcopy(call)

    def remove_emergency_call(self, server_id: int, call_id: int) -> None:
        """The 911 call is dealt with: it leaves `EmergencyCalls`, and a PATCH of it answers 404."""
        del self._emergency[(server_id, call_id)]

    def emergency_call(self, server_id: int, call_id: int) -> dict[str, Any]:
        """A copy of the stored 911 call object."""
        return copy.deepcopy(self._emergency[(server_id, call_id)])

    def close_call(self, server_id: int, call_id: int) -> None:
        """Close the call: it moves to ClosedCalls with status 2, and a PATCH on it answers as
        `closed_patch` says (404, or 200 with status 2)."""
        call = self._calls[(server_id, call_id)]
        if call["status"] != 2:
            call["status"], call["updated"] = 2, _now_iso()
            self._closed.append((server_id, call_id))

    def call(self, server_id: int, call_id: int) -> dict[str, Any]:
        """A copy of the stored call object."""
        return copy.deepcopy(self._calls[(server_id, call_id)])

    def edit_meta(self, server_id: int, call_id: int, meta: dict[str, Any]) -> None:
        """A dispatcher's edit in the CAD: replaces metaData whole, as the API does."""
        call = self._calls[(server_id, call_id)]
        call["metaData"], call["updated"] = copy.deepcopy(meta), _now_iso()

    def edit_call(self, server_id: int, call_id: int, **fields: Any) -> None:
        """A dispatcher's edit of top-level fields in the CAD (primary, trackPrimary, postal)."""
        call = self._calls[(server_id, call_id)]
        call.update(copy.deepcopy(fields))
        call["updated"] = _now_iso()

    def spend_external(self, route: str, n: int = 1) -> None:
        """Another integration on the same key spent n requests of `route` just now."""
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; known: {ROUTES}")
        now = self._clock()
        for _ in range(n if route in self._logs else 0):
            self._logs[route].record(now)

    def external_request(self, route: str) -> bool:
        """Another integration on the same key (sonorancad's own poll) makes one request of
        `route` now: True when the window admitted it, False when it drew a 429."""
        if route not in ROUTES:
            raise ValueError(f"unknown route {route!r}; known: {ROUTES}")
        log, now = self._logs.get(route), self._clock()
        if log is None:
            return True
        if not log.admits(now):
            return False
        log.record(now)
        return True

    def inject(
        self,
        fault: Fault,
        count: int = 1,
        route: str | None = None,
        *,
        call: tuple[int, int] | None = None,
    ) -> None:
        """Give `fault` to the next `count` requests (of `route`, or any) reaching its layer;
        with `call` (server id, call id), only to the updates of that one call."""
        if count < 1 or (route is not None and route not in ROUTES):
            raise ValueError(f"need count >= 1 and route in {ROUTES} or None")
        self._faults.append((fault, count, "update_call" if call else route, call))

    def clear_faults(self) -> None:
        """Drop every injected fault not yet fired: the outage is over."""
        self._faults.clear()

    def own_overruns(self, route: str = "update_call") -> list[SeenRequest]:
        """429s of `route` answered while requests over HTTP alone filled the window.

        Neither injected 429s nor `spend_external` count: these are the client's own making.
        """
        log = self._logs.get(route)
        if log is None:
            return []
        counted = [r.t for r in self.requests if r.route == route and r.counted]
        return [
            r
            for r in self.requests
            if r.route == route
            and r.status == 429
            and r.fault is None
            and counted_at(counted, r.t, log.length) >= log.limit
        ]

    def revoke_key(self) -> None:
        """Answer 401 to every request until restore_key()."""
        self._revoked = True

    def restore_key(self) -> None:
        """Accept the key again."""
        self._revoked = False

    def _take_fault(self, route: str, at_gateway: bool, ids: list[int]) -> Fault | None:
        for i, (fault, left, only, call) in enumerate(self._faults):
            if (
                fault.at_gateway == at_gateway
                and only in (None, route)
                and (call is None or list(call) == ids)
            ):
                self._faults[i : i + 1] = [(fault, left - 1, only, call)] if left > 1 else []
                return fault
        return None

    def _gateway(
        self, record: SeenRequest, route: str, ids: list[int], auth: bytes
    ) -> Answer | None:
        """Gateway faults, auth and the rate limit; None when the request is admitted."""
        if (fault := self._take_fault(route, at_gateway=True, ids=ids)) is not None:
            record.fault = fault
            answer = (
                rate_limited(fault.retry_after)
                if fault.what == 429
                else problem(int(fault.what), fault.detail, record.path)
            )
            answer.headers += fault.headers
            return answer
        scheme, _, key = auth.decode("latin-1").partition(" ")
        if self._revoked or scheme.lower() != "bearer" or key.strip() != self.api_key:
            return problem(401, "API key is missing, invalid or revoked", record.path)
        log = self._logs.get(route)
        if log is not None:
            if not log.admits(record.t):
                return rate_limited(max(1, math.ceil(log.wait(record.t))))
            log.record(record.t)
        record.counted = True
        record.fault = self._take_fault(route, at_gateway=False, ids=ids)
        return None

    # -- the API behind the gateway --------------------------------------------------------

    def _handle(self, record: SeenRequest, ids: list[int], body: bytes) -> Answer:
        if record.route in integration.ROUTES:
            return self.integration.answer(record.route, ids, body, record.path)
        server_id, path = ids[0], record.path
        if server_id not in self.servers:
            return problem(404, f"Server {server_id} is not configured", path)
        if record.route == "get_calls":
            return self._list_calls(server_id, record)
        # One PATCH route for both kinds ("Dispatch or 911 call ID"): the stand-in looks in the
        # dispatch table first (the real CAD's choice on a shared id is not documented).
        call = self._calls.get((server_id, ids[1])) or self._emergency.get((server_id, ids[1]))
        if call is None or (call.get("status") == 2 and self.closed_patch == 404):
            return problem(404, f"Dispatch call {ids[1]} not found on server {server_id}", path)
        try:
            fields = _decode(body)
        except msgspec.DecodeError as exc:
            return problem(400, f"Request body is not valid JSON: {exc}", path)
        if not isinstance(fields, dict):
            kind = type(fields).__name__
            return problem(400, f"Request body must be a JSON object, got {kind}", path)
        if "metaData" in fields and not isinstance(fields["metaData"], dict):
            return problem(400, "metaData must be an object", path)
        if "postal" in fields and not isinstance(fields["postal"], str):
            return problem(400, "postal must be a string", path)
        for name, value in fields.items():
            if name not in ("callId", "serverId"):  # the SDKs put serverId in the body too
                call[name] = value
        call["updated"] = _now_iso()
        return Answer(200, _encode(call))

    def _list_calls(self, server_id: int, record: SeenRequest) -> Answer:
        params = {name: values[-1] for name, values in parse_qs(record.query).items()}
        numbers: dict[str, int] = {}
        for name, default in (("closedLimit", 10), ("closedOffset", 0), ("type", 100)):
            number = _id(text := params.get(name, str(default)))
            if number is None:
                detail = f"{name} must be a non-negative integer, got {text!r}"
                return problem(400, detail, record.path)
            numbers[name] = number
        dispatch, emergency = numbers["type"] in (0, 100), numbers["type"] in (1, 100)
        calls = [c for (s, _), c in self._calls.items() if s == server_id]
        active = [c for c in calls if c["status"] != 2] if dispatch else []
        calls_911 = [c for (s, _), c in self._emergency.items() if s == server_id]
        listed = {"active": active, "emergency": calls_911 if emergency else []}
        for name, items in listed.items():
            items = [c for c in items if c["callId"] not in self.list_hidden]
            if not self.list_meta:
                items = [{k: v for k, v in c.items() if k != "metaData"} for c in items]
            listed[name] = items
        listed["active"] += [{"callId": None, "title": "unreadable"}] * self.list_junk
        closed = [self._calls[k] for k in reversed(self._closed) if k[0] == server_id]
        closed = closed if dispatch else []
        start = numbers["closedOffset"]
        names = ("activeCalls", "emergencyCalls", "closedCalls", "closedCallCount")
        if not self.camel_case:
            names = ("ActiveCalls", "EmergencyCalls", "ClosedCalls", "ClosedCallCount")
        values = (
            listed["active"],
            listed["emergency"],
            closed[start : start + numbers["closedLimit"]],
            len(closed),
        )
        return Answer(200, _encode(dict(zip(names, values, strict=True))))

    # -- the HTTP shell ------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=64 * 1024)
        last_words = None
        try:
            while await self._exchange(conn, reader, writer):
                conn.start_next_cycle()
        except h11.RemoteProtocolError as exc:
            last_words = problem(exc.error_status_hint, "Malformed HTTP request", "")
        except (OSError, asyncio.CancelledError):
            # The client went away, or stop() ended us: swallowing the cancel is what lets
            # asyncio's stream callback (3.11) finish without logging a spurious error.
            pass
        except Exception as exc:  # a stand-in bug must cost one answer, not the server
            last_words = problem(500, f"Stand-in error: {type(exc).__name__}", "")
        try:
            with contextlib.suppress(OSError, h11.LocalProtocolError):
                if last_words and conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                    await send(conn, writer, last_words)
        finally:
            self._connections.discard(task)
            writer.close()

    async def _exchange(
        self, conn: h11.Connection, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Serve one request; False when the connection must close."""
        request = await next_event(conn, reader)
        if not isinstance(request, h11.Request):
            return False
        method = request.method.decode("ascii", "replace")
        path, _, query = request.target.decode("ascii", "replace").partition("?")
        route, ids, answer = _match(method, path)
        record = SeenRequest(self._clock(), method, path, query, route)
        self.requests.append(record)
        headers = dict(request.headers)
        if answer is None and route is not None:
            answer = self._gateway(record, route, ids, headers.get(b"authorization", b""))
        body = await read_body(conn, reader, path)
        if isinstance(body, Answer):
            answer, body = body, b""
        with contextlib.suppress(msgspec.DecodeError):
            record.body = _decode(body) if body else None
        fault = record.fault if answer is None else None
        if fault is not None and fault.what == "reset":
            sock = writer.get_extra_info("socket")
            if sock is not None:  # linger 0 turns close() into a RST
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if fault is not None and fault.what == "hang":
            while await reader.read(READ_SIZE):  # until the client gives up
                pass
            return False
        if fault is not None and fault.what == "slow":
            await asyncio.sleep(fault.delay)
        if fault is not None and isinstance(fault.what, int):
            answer = problem(fault.what, fault.detail, path)
            answer.headers += fault.headers
        elif fault is not None and fault.what == "bad_json":
            answer = Answer(200, b'{"callId": 501, "metaData": {"x')
        elif answer is None:
            answer = self._handle(record, ids, body)
        if route in self._logs and self.send_quota_headers:
            log, now = self._logs[route], record.t
            reset = math.ceil(log.wait(now))
            if self.quota_reset != "seconds":
                reset += math.ceil(self._wall_clock())
                reset *= 1000 if self.quota_reset == "epoch_ms" else 1
            answer.headers += [
                ("RateLimit-Remaining", str(max(0, log.limit - log.used(now)))),
                ("RateLimit-Reset", str(reset)),
            ]
        answer.headers.append(("x-kong-request-id", uuid.uuid4().hex))
        record.status = answer.status
        self.rate_limited += answer.status == 429
        await send(conn, writer, answer)
        return conn.our_state is h11.DONE and conn.their_state is h11.DONE


STANDIN_HELP = """\
Point the daemon at it with, in config.toml (with the defaults):
  [cad]
  api_url = "http://127.0.0.1:8080"
  api_key = "standin-key"
  server_id = 1

Look at its calls (where each is drawn, its metaData) with the bridge's own read:
  curl -H "Authorization: Bearer standin-key" http://127.0.0.1:8080/v2/emergency/servers/1/calls
or on the daemon's status page (the "drawn at" column). With --port or --api-key, use those
values instead.
"""


def main(argv: list[str] | None = None) -> None:
    """Run the stand-in until interrupted: python -m bridge.standin.cad --calls 501,502."""
    parser = argparse.ArgumentParser(
        description="A local Sonoran CAD v2 stand-in: the two dispatch-call routes the bridge "
        "uses, with Sonoran's metaData replace and its 10-a-minute limit per key, on loopback.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=STANDIN_HELP,
    )
    parser.add_argument("--port", type=int, default=8080, help="its port (default 8080)")
    parser.add_argument("--calls", default="", help="comma-separated call ids on server 1")
    parser.add_argument(
        "--api-key",
        default="standin-key",
        help="the API key it accepts (default standin-key): put it in cad.api_key",
    )
    args = parser.parse_args(argv)

    async def serve() -> None:
        async with CadStandIn(port=args.port, api_key=args.api_key) as standin:
            for call_id in (int(c) for c in args.calls.split(",") if c.strip()):
                standin.add_call(1, call_id, {"source": "standin"})
            print(f"Sonoran CAD stand-in at {standin.url}  key: {standin.api_key}", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
