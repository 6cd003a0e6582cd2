"""The status page's HTTP listener: `/` (live map and tables), `/status.json`, `/metrics`.

Its own port (`[status] port`), read-only, GET only, every answer closes its connection. It is
served by websockets' HTTP layer, already a dependency: `process_request` answers each request
before any websocket handshake, so no upgrade ever happens here.

Every request must name the page by a loopback name or one of `allowed_hosts` in its `Host`
header (a page read through a foreign name is a DNS-rebinding attempt), and, when a password
is set, carry it: `Authorization: Bearer <password>` (Prometheus) or basic auth with any user
name (a browser asks for it once).
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hmac
import ssl
from collections.abc import Callable
from http import HTTPStatus
from importlib import resources
from typing import Any

import structlog
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from bridge import __version__, logs

log = structlog.stdlib.get_logger("bridge.statuspage")

_STATIC = resources.files("bridge") / "static"
_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


def _static(name: str) -> bytes:
    return (_STATIC / name).read_bytes()


class StatusPage:
    """Serves the page and its data on `host:port` (port 0: any free port) until stopped."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        snapshot_json: Callable[[], bytes],
        metrics: Callable[[], bytes],
        postals_json: Callable[[], bytes] | None = None,
        allowed_hosts: list[str] | None = None,
        password: str = "",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self._snapshot_json = snapshot_json
        self._metrics = metrics
        self._postals_json = postals_json
        self._hosts = frozenset(name.lower() for name in allowed_hosts or []) | _LOOPBACK_NAMES
        self._password = password.encode()
        self._tls = tls
        self.refused_logins = 0
        self._server: Server | None = None
        self._files = {
            "/": ("text/html; charset=utf-8", _static("status.html")),
            "/status.js": ("text/javascript; charset=utf-8", _static("status.js")),
            "/status.css": ("text/css; charset=utf-8", _static("status.css")),
        }

    @property
    def url(self) -> str:
        """Where a browser finds the page."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if host in ("0.0.0.0", "[::]"):
            host = "127.0.0.1"
        return f"{'https' if self._tls else 'http'}://{host}:{self.port}/"

    async def start(self) -> None:
        """Bind; `port` holds the bound port afterwards."""
        self._server = await serve(
            _never_upgraded,
            self.host,
            self.port,
            process_request=self._answer,
            server_header=f"sonoran-bridge/{__version__}",
            open_timeout=5.0,
            max_size=2**12,
            **self._tls_options(),
        )
        sockets = list(self._server.sockets)
        if sockets:
            self.port = sockets[0].getsockname()[1]
        log.info("status page", url=self.url)

    def _tls_options(self) -> dict[str, Any]:
        if self._tls is None:
            return {}
        # A TLS handshake that never ends must not hold a socket for asyncio's 60 s.
        return {"ssl": self._tls, "ssl_handshake_timeout": 5.0}

    async def stop(self) -> None:
        """Stop answering."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _answer(self, connection: ServerConnection, request: Request) -> Response:
        try:
            return self._route(request)
        except Exception:
            # A bug in a snapshot must cost one answer, not the page.
            log.exception("status page request failed", path=request.path[:100])
            return _response(HTTPStatus.INTERNAL_SERVER_ERROR, "text/plain", b"status failed\n")

    def _route(self, request: Request) -> Response:
        path = request.path.split("?", 1)[0]
        if not self._known_host(request.headers.get("Host", "")):
            # A page read through a name it does not know is a DNS-rebinding attempt.
            return _response(HTTPStatus.MISDIRECTED_REQUEST, "text/plain", b"unknown host\n")
        if self._password and not self._logged_in(request.headers.get("Authorization", "")):
            self.refused_logins += 1
            answer = _response(HTTPStatus.UNAUTHORIZED, "text/plain", b"login required\n")
            answer.headers["WWW-Authenticate"] = 'Basic realm="sonoran-bridge", charset="UTF-8"'
            return answer
        if path in self._files:
            kind, body = self._files[path]
            return _response(HTTPStatus.OK, kind, body)
        if path == "/status.json":
            body = self._scrubbed(self._snapshot_json())
            return _response(HTTPStatus.OK, "application/json", body)
        if path == "/metrics":
            return _response(
                HTTPStatus.OK,
                "text/plain; version=0.0.4; charset=utf-8",
                self._scrubbed(self._metrics()),
            )
        if path == "/postals.json" and self._postals_json is not None:
            return _response(HTTPStatus.OK, "application/json", self._postals_json())
        return _response(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def _known_host(self, host: str) -> bool:
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return "*" in self._hosts or name.lower() in self._hosts

    def _logged_in(self, authorization: str) -> bool:
        """Whether the header carries the password, as a bearer token or basic auth's."""
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            given = value.encode()
        elif scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                return False
            given = decoded.partition(b":")[2]
        else:
            return False
        return hmac.compare_digest(given, self._password)

    @staticmethod
    def _scrubbed(body: bytes) -> bytes:
        # Nothing secret is put in, and this makes sure nothing secret comes out.
        return logs.scrub(body.decode()).encode()


async def _never_upgraded(connection: ServerConnection) -> None:
    """Every request is answered in `process_request`; a websocket never opens here."""
    await connection.close()


def _response(status: HTTPStatus, kind: str, body: bytes) -> Response:
    headers = Headers(
        [
            ("Date", email.utils.formatdate(usegmt=True)),
            ("Connection", "close"),
            ("Content-Type", kind),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", _CSP),
            ("Referrer-Policy", "no-referrer"),
        ]
    )
    return Response(status.value, status.phrase, headers, body)
