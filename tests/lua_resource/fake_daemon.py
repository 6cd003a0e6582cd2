"""A small websocket server that enforces wire protocol v1's connection rules, for transport tests.

Rules enforced, as the real daemon does: `hello` first within 5 s, protocol 1, the right
token, else an `error` and close code 1008; an `Origin` header is refused at the handshake;
frames over 64 KiB are refused; every frame must decode as a v1 message (bridge.protocol).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from bench.kit import until
from bridge import protocol

from .fivem import strict_json


@dataclass
class Connection:
    """One accepted websocket and what it sent."""

    ws: ServerConnection
    hello: dict[str, Any] | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]


class FakeDaemon:
    def __init__(self, token: str = "s3cret", *, welcome: bool = True) -> None:
        self.token = token
        self.welcome = welcome
        self.connections: list[Connection] = []
        self.refused_origins = 0
        self.protocol_errors: list[str] = []
        self.port = 0
        self._server: Server | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def start(self) -> FakeDaemon:
        self._server = await serve(
            self._handle,
            "127.0.0.1",
            self.port,
            max_size=protocol.MAX_FRAME_BYTES,
            process_request=self._refuse_origin,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def restart(self) -> None:
        """Stop, then listen again on the same port (a daemon restart)."""
        await self.stop()
        await self.start()

    def _refuse_origin(self, connection: ServerConnection, request: Any) -> Any:
        if request.headers.get("Origin") is not None:
            self.refused_origins += 1
            return connection.respond(HTTPStatus.FORBIDDEN, "Origin not allowed\n")
        return None

    async def _refuse(self, ws: ServerConnection, code: str, message: str) -> None:
        await ws.send(json.dumps({"type": "error", "code": code, "message": message}))
        await ws.close(1008, code)

    async def _handle(self, ws: ServerConnection) -> None:
        conn = Connection(ws)
        self.connections.append(conn)
        try:
            await self._serve(conn)
        except ConnectionClosed:
            pass
        finally:
            conn.closed.set()

    async def _serve(self, conn: Connection) -> None:
        ws = conn.ws
        try:
            first = await asyncio.wait_for(ws.recv(), 5.0)
        except TimeoutError:
            await self._refuse(ws, "bad_message", "expected hello within 5 s")
            return
        try:
            hello = protocol.decode(first)
        except protocol.ProtocolError as exc:
            self.protocol_errors.append(str(exc))
            await self._refuse(ws, "bad_message", str(exc))
            return
        if not isinstance(hello, protocol.Hello):
            await self._refuse(ws, "bad_message", "expected hello first")
            return
        if hello.protocol != protocol.PROTOCOL_VERSION:
            await self._refuse(ws, "unsupported_protocol", f"protocol {hello.protocol}")
            return
        if hello.token != self.token:
            await self._refuse(ws, "unauthorized", "wrong token")
            return
        conn.hello = strict_json(first)
        if self.welcome:
            await ws.send(
                json.dumps({"type": "welcome", "protocol": 1, "daemon_version": "fake-1"})
            )
        async for frame in ws:
            try:
                protocol.decode(frame)
                conn.messages.append(strict_json(frame))  # type: ignore[arg-type]  # the resource sends text frames; the websocket's type allows bytes too
            except (protocol.ProtocolError, ValueError) as exc:
                self.protocol_errors.append(str(exc))
                await ws.send(
                    json.dumps({"type": "error", "code": "bad_message", "message": str(exc)})
                )

    # -- for tests -------------------------------------------------------------------------

    def welcomed(self) -> list[Connection]:
        return [c for c in self.connections if c.hello is not None]

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> None:
        try:
            await until(lambda: bool(predicate()), within=timeout)
        except TimeoutError:
            raise AssertionError(
                f"condition not met within {timeout} s; connections: "
                f"{[(c.hello, c.messages) for c in self.connections]}"
            ) from None

    async def call_state(
        self, conn: Connection, call_id: int, state: str, detail: str | None = None
    ) -> None:
        message: dict[str, Any] = {"type": "call_state", "call_id": call_id, "state": state}
        if detail is not None:
            message["detail"] = detail
        await conn.ws.send(json.dumps(message))
