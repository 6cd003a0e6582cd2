"""The local websocket the game server's resource connects to: handshake, frames in, notices out."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import ssl
from collections.abc import Awaitable, Callable, Coroutine
from http import HTTPStatus
from typing import Any

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.frames import CloseCode
from websockets.http11 import Request, Response

from bridge import __version__, logs, protocol
from bridge.admission import Admission, Limits, Refusals
from bridge.protocol import Error, Hello, InboundMessage, OutboundMessage, ProtocolError, Welcome

log = structlog.stdlib.get_logger("bridge.server")

OnMessage = Callable[[int, InboundMessage], Awaitable[None] | None]
"""Called with (server_id, message) for every good frame after the handshake."""

SERVER_ID_IN_USE = "server_id_in_use"
"""The error code (and close reason) for a second live connection claiming a server id."""

_OUTBOX_LIMIT = 1024
"""Frames queued for one peer; beyond it the oldest give way (the resource tracks at most 500)."""
_YIELD_EVERY = 32


class Link:
    """One authenticated connection from a game server, with a bounded outbox."""

    def __init__(self, ws: ServerConnection, server_id: int, conn: int) -> None:
        self.ws = ws
        self.server_id = server_id
        self.conn = conn
        self.outbox: asyncio.Queue[str] = asyncio.Queue(_OUTBOX_LIMIT)
        self.frames = 0
        self.errors = 0

    def post(self, message: OutboundMessage) -> None:
        """Queue a message; when the peer does not read, the oldest unsent one gives way."""
        frame = protocol.encode(message)
        if self.outbox.full():
            self.outbox.get_nowait()
        self.outbox.put_nowait(frame)

    async def write(self) -> None:
        """Send queued messages until the connection closes."""
        with contextlib.suppress(ConnectionClosed):
            while True:
                frame = await self.outbox.get()
                await self.ws.send(frame)


class Listener:
    """Accepts resource connections, checks `hello`, and hands each good frame to `on_message`."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        token: str,
        on_message: OnMessage,
        on_link: Callable[[int, bool], None] | None = None,
        allowed_origins: list[str] | None = None,
        hello_timeout: float = 5.0,
        idle_timeout: float = 120.0,
        default_server_id: int = 1,
        liveness_timeout: float = 5.0,
        limits: Limits | None = None,
        on_refused: Callable[[str], None] | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        if not token:
            raise ValueError("a shared token is required: connections would need none")
        self.host = host
        self.port = port
        self._token = token.encode()
        self._default_server_id = default_server_id
        self._on_message = on_message
        self._on_link = on_link
        self._origins = list(allowed_origins or [])
        self._hello_timeout = hello_timeout
        self.idle_timeout = idle_timeout
        # Below the resource's 10 s wait for a welcome, so a newcomer is answered either way.
        self.liveness_timeout = liveness_timeout
        self._server: Server | None = None
        self._counter = itertools.count(1)
        self.links: dict[int, Link] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.admission = Admission(limits or Limits())
        self.refusals = Refusals()
        self._on_refused = on_refused
        self._open: dict[int, ServerConnection] = {}
        self._summing: asyncio.Task[None] | None = None
        self.tls = tls
        """The TLS context (`wss://`), or None for plain `ws://`."""

    async def start(self) -> None:
        """Bind the listener; `port` holds the bound port afterwards (useful with port 0)."""
        self._server = await serve(
            self._serve,
            self.host,
            self.port,
            create_connection=self._connection_type(),
            # An idle socket that never sends its upgrade is gone by the hello timeout too.
            open_timeout=self._hello_timeout,
            process_request=self._check_origin,
            max_size=protocol.MAX_FRAME_BYTES,
            max_queue=64,
            # A peer that stops reading answers neither pings nor a close: each gets the idle time.
            ping_interval=min(20.0, self.idle_timeout),
            ping_timeout=min(20.0, self.idle_timeout),
            close_timeout=min(5.0, self.idle_timeout),
            compression=None,
            server_header=f"sonoran-bridge/{__version__}",
            **self._tls_options(),
        )
        sockets = list(self._server.sockets)
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self._summing = asyncio.create_task(self._sum_up_refusals(), name="refusals")
        log.info("listening", host=self.host, port=self.port, tls=self.tls is not None)

    def _tls_options(self) -> dict[str, Any]:
        if self.tls is None:
            return {}
        # A TLS handshake that never ends must not hold a socket for asyncio's 60 s.
        return {"ssl": self.tls, "ssl_handshake_timeout": self._hello_timeout}

    async def stop(self) -> None:
        """Stop accepting and close every connection."""
        if self._summing is not None:
            self._summing.cancel()
            self._summing = None
        if self._server is not None:
            self._server.close(close_connections=True)
            await self._server.wait_closed()
            self._server = None

    def send(self, server_id: int, message: OutboundMessage) -> bool:
        """Queue a message for a game server; False when it is not connected."""
        link = self.links.get(server_id)
        if link is None:
            return False
        link.post(message)
        return True

    def _connection_type(self) -> type[ServerConnection]:
        """Connections that ask `admission` at accept, before a byte is read."""
        listener = self

        class Admitted(ServerConnection):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                listener._arrived(self)

            def connection_lost(self, exc: Exception | None) -> None:
                super().connection_lost(exc)
                listener._left(self)

        return Admitted

    def _arrived(self, ws: ServerConnection) -> None:
        address = ws.transport.get_extra_info("peername") or ("?", 0)
        now = asyncio.get_running_loop().time()
        verdict, evict = self.admission.arrive(id(ws), str(address[0]), now)
        if evict is not None and (oldest := self._open.pop(evict, None)) is not None:
            self._refused("evicted_unauthenticated", peer=_peer(oldest))
            oldest.transport.abort()
        if verdict != "accept":
            self._refused(verdict, peer=f"{address[0]}:{address[1]}")
            ws.transport.abort()
            return
        self._open[id(ws)] = ws

    def _left(self, ws: ServerConnection) -> None:
        self.admission.left(id(ws))
        self._open.pop(id(ws), None)

    def _refused(self, code: str, **fields: Any) -> None:
        """Count a refused connection; only the first few of an interval get a line each."""
        now = asyncio.get_running_loop().time()
        if self._on_refused is not None:
            self._on_refused(code)
        if self.refusals.refused(code, now):
            wrong_token = code == "unauthorized"
            log.warning(
                "refused connection: wrong token" if wrong_token else "refused connection",
                code=code,
                **fields,
            )

    async def _sum_up_refusals(self) -> None:
        """One line per interval for the refusals that had no line of their own."""
        while True:
            await asyncio.sleep(self.refusals.interval)
            counts = self.refusals.summary(asyncio.get_running_loop().time())
            if counts is not None:
                log.warning(
                    "refused connections (summed up; the first few were logged each)",
                    seconds=self.refusals.interval,
                    refused=sum(counts.values()),
                    open=self.admission.open,
                    unauthenticated=self.admission.unauthenticated,
                    **{f"by_{reason}": count for reason, count in counts.items()},
                )

    def _check_origin(self, ws: ServerConnection, request: Request) -> Response | None:
        self.admission.upgraded(id(ws))
        origin = request.headers.get("Origin")
        if origin is None or origin in self._origins:
            return None
        self._refused("browser", origin=origin[:200], peer=_peer(ws))
        return ws.respond(HTTPStatus.FORBIDDEN, "Browser connections are not accepted.\n")

    async def _serve(self, ws: ServerConnection) -> None:
        conn = next(self._counter)
        with structlog.contextvars.bound_contextvars(conn=conn):
            hello = await self._handshake(ws)
            if hello is None:
                return
            server_id = hello.server_id or self._default_server_id
            if not await self._claim(ws, server_id):
                return
            link = Link(ws, server_id, conn)
            writer: asyncio.Task[None] | None = None
            # Taken at once, with no wait since the claim, so no other newcomer slips in.
            previous = self.links.get(server_id)
            self.links[server_id] = link
            if previous is not None:
                log.warning(
                    "connection replaced: the old one stopped answering pings",
                    server_id=server_id,
                    old_conn=previous.conn,
                )
                self._closing(previous.ws.close(CloseCode.GOING_AWAY, "replaced: no pong"))
            try:
                # The welcome goes first and straight out: queued, a long replay could push it
                # out of the outbox, and the resource waits for it before it syncs.
                welcome = Welcome(protocol=protocol.PROTOCOL_VERSION, daemon_version=__version__)
                await ws.send(protocol.encode(welcome))
                log.info(
                    "game server connected",
                    server_id=server_id,
                    resource_version=hello.resource_version,
                    peer=_peer(ws),
                )
                if hello.server_id is not None and hello.server_id != self._default_server_id:
                    log.warning(
                        "the resource's server id differs from cad.server_id: its calls are "
                        "moved in the CAD server it names; if that is wrong, fix "
                        "sonoran_bridge_server_id in its server.cfg",
                        server_id=server_id,
                        configured=self._default_server_id,
                    )
                writer = asyncio.create_task(link.write())
                if self._on_link is not None:
                    self._on_link(server_id, True)
                await self._read(link)
            except ConnectionClosed:
                pass
            finally:
                if writer is not None:
                    writer.cancel()
                if self.links.get(server_id) is link:
                    del self.links[server_id]
                    if self._on_link is not None:
                        self._on_link(server_id, False)
                log.info(
                    "game server disconnected",
                    server_id=server_id,
                    code=ws.close_code,
                    frames=link.frames,
                    errors=link.errors,
                )

    async def _claim(self, ws: ServerConnection, server_id: int) -> bool:
        """Whether a newcomer may take `server_id`: only when no live connection holds it.

        Two game servers configured with one id would otherwise replace each other forever,
        each sync wiping the other's calls. A holder that fails a ping is gone (a crashed
        server, a half-open socket) and gives way.
        """
        while (holder := self.links.get(server_id)) is not None:
            if not await self._answers_ping(holder):
                # It may have gone by itself meanwhile, or another newcomer replaced it.
                if self.links.get(server_id) in (holder, None):
                    return True
                continue
            log.warning(
                "refused a second connection for a server id: two game servers say the same id",
                server_id=server_id,
                holder_conn=holder.conn,
                holder_peer=_peer(holder.ws),
                peer=_peer(ws),
            )
            await _refuse(
                ws,
                SERVER_ID_IN_USE,
                f"server id {server_id} is already connected (from {_peer(holder.ws)}), and it "
                f"answers: two game servers may not share one id. Give each its own: set "
                f"sonoran_bridge_server_id in this server's server.cfg to its CAD server id",
                reason=f"{SERVER_ID_IN_USE}: server id {server_id} is connected",
                logged=False,
            )
            return False
        return True

    async def _answers_ping(self, link: Link) -> bool:
        """Whether `link` answers a ping within the liveness timeout.

        The timeout covers the send as well as the pong: a half-open peer that stopped
        reading can leave the send waiting on a full buffer, and that is no answer either.
        """
        try:
            async with asyncio.timeout(self.liveness_timeout):
                pong = await link.ws.ping()
                await pong
        except (TimeoutError, ConnectionClosed):
            return False
        return True

    def _closing(self, close: Coroutine[Any, Any, None]) -> None:
        """Close a replaced connection in the background, keeping a reference to the task."""
        task = asyncio.create_task(close)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _handshake(self, ws: ServerConnection) -> Hello | None:
        try:
            frame = await asyncio.wait_for(ws.recv(), self._hello_timeout)
        except TimeoutError:
            text = f"no hello within {self._hello_timeout:g} s"
            await self._refuse(ws, "bad_message", text, counted_as="no_hello")
            return None
        except ConnectionClosed:
            return None
        if isinstance(frame, bytes):
            await self._refuse(ws, "bad_message", "binary frames are not accepted: send JSON text")
            return None
        try:
            message = protocol.decode(frame)
        except ProtocolError as exc:
            await self._refuse(ws, "bad_message", f"expected hello first: {exc}")
            return None
        if not isinstance(message, Hello):
            await self._refuse(ws, "bad_message", f"expected hello first, got {_tag(message)}")
            return None
        if message.protocol != protocol.PROTOCOL_VERSION:
            await self._refuse(
                ws,
                "unsupported_protocol",
                f"protocol {message.protocol} is not supported: this daemon speaks "
                f"{protocol.PROTOCOL_VERSION}",
            )
            return None
        if not hmac.compare_digest(message.token.encode(), self._token):
            await self._refuse(ws, "unauthorized", "wrong token")
            return None
        self.admission.authenticated(id(ws))
        return message

    async def _refuse(
        self, ws: ServerConnection, code: str, text: str, *, counted_as: str = ""
    ) -> None:
        """Refuse a connection in its handshake: counted, logged while few, then summed up."""
        self._refused(counted_as or code, reason=logs.scrub(text)[:300], peer=_peer(ws))
        await _refuse(ws, code, text, logged=False)

    async def _read(self, link: Link) -> None:
        ws = link.ws
        while True:
            try:
                frame = await asyncio.wait_for(ws.recv(), self.idle_timeout)
            except TimeoutError:
                log.warning("closing idle connection", idle_seconds=self.idle_timeout)
                await ws.close(CloseCode.GOING_AWAY, "idle")
                return
            except ConnectionClosed:
                return
            link.frames += 1
            if link.frames % _YIELD_EVERY == 0:
                # One busy connection must not starve the others or the push loop.
                await asyncio.sleep(0)
            if isinstance(frame, bytes):
                self._reject(link, "binary frames are not accepted: send JSON text")
                continue
            try:
                message = protocol.decode(frame)
            except ProtocolError as exc:
                self._reject(link, str(exc))
                continue
            if isinstance(message, Hello):
                self._reject(link, "hello was already received on this connection")
                continue
            try:
                result = self._on_message(link.server_id, message)
                if result is not None:
                    await result
            except Exception:
                log.exception("message handling failed", message_type=_tag(message))
                link.post(Error(code="internal", message=f"could not handle {_tag(message)}"))

    def _reject(self, link: Link, text: str) -> None:
        text = logs.scrub(text)  # the decoder echoes a bad tag, which may be a pasted secret
        link.errors += 1
        if link.errors <= 5 or link.errors % 100 == 0:
            log.warning("bad frame", server_id=link.server_id, error=text[:300], count=link.errors)
        link.post(Error(code="bad_message", message=text[:1000]))


async def _refuse(
    ws: ServerConnection, code: str, text: str, *, reason: str = "", logged: bool = True
) -> None:
    """Send an `error` naming the problem, then close with 1008 and `reason` (or the code)."""
    text = logs.scrub(text)
    if logged:
        log.warning("refused connection", code=code, reason=text[:300])
    try:
        await ws.send(protocol.encode(Error(code=code, message=text)))
        await ws.close(CloseCode.POLICY_VIOLATION, reason or code)
    except ConnectionClosed:
        pass


def _tag(message: Any) -> str:
    return str(type(message).__struct_config__.tag)


def _peer(ws: ServerConnection) -> str:
    address = ws.remote_address
    return f"{address[0]}:{address[1]}" if address else "?"
