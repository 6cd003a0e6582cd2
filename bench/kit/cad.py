"""The one fake CAD of the tests and the benchmarks: at the HTTP transport, under the real client.

`CadScript` is an `httpx` transport: each request takes the next step of its script (an
HTTP answer, an exception to raise as the network would, or a handler that builds the
answer), and once the script is spent it goes on to the real CAD stand-in over a real socket.
The real `bridge.cad.CadClient` runs on top, so every answer is parsed as the daemon would
parse the CAD's own. `cad_client` builds that client.
"""

from __future__ import annotations

import inspect
import json
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from time import time as wall_time
from typing import Any

import httpx

from bench.kit.clock import VirtualTime
from bridge.cad import CadClient
from bridge.meta import drawn_at
from bridge.outcomes import Meta
from bridge.standin.cad import CadStandIn, RequestRecord

API_KEY = "test-api-key-0123456789abcdef"
"""The key of every kit daemon and stand-in (registered as a secret, so scrubbed from logs)."""
WINDOW = 60.0
LIMIT = 10
"""The real API's window and its limit of call updates per key."""


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted HTTP answer; `body` is sent as JSON unless it is bytes already."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def response(self, request: httpx.Request) -> httpx.Response:
        """The answer to `request`."""
        if isinstance(self.body, bytes):
            content = self.body
        elif self.body is None and self.status == 200 and request.method == "PATCH":
            content = echo_patch(request)  # the CAD answers a PATCH with the updated call
        else:
            content = json.dumps(self.body if self.body is not None else {}).encode()
        headers = {"Content-Type": "application/json", **self.headers}
        return httpx.Response(self.status, headers=headers, content=content, request=request)


Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]
Step = Reply | BaseException | Handler
"""What one request gets: an answer, an exception raised where the network would, or a
handler (plain or async) that builds the answer from the request."""


def echo_patch(request: httpx.Request) -> bytes:
    """The body a PATCH of a call answers with: the call, its fields as the request set them."""
    call_id = int(request.url.path.rsplit("/", 1)[1])
    return json.dumps({"callId": call_id, **json.loads(request.content or b"{}")}).encode()


class CadScript(httpx.AsyncBaseTransport):
    """A transport that plays a script of answers, then forwards to a real CAD (if any).

    `seen` holds every request in order. `before` and `after` run around each exchange (e.g. to
    let virtual time pass while it is on the wire). A request past the end of the script gets
    `otherwise` when given (every time), else goes to the CAD at `url`, else is answered as the
    CAD answers a good one (`Reply()`).
    """

    def __init__(
        self,
        script: Iterable[Step] = (),
        *,
        url: str | None = None,
        otherwise: Step | None = None,
        before: Callable[[httpx.Request], None] | None = None,
        after: Callable[[httpx.Request], None] | None = None,
    ) -> None:
        self.script: deque[Step] = deque(script)
        self.otherwise = otherwise
        self.seen: list[httpx.Request] = []
        self.before = before
        self.after = after
        self.url: str | None = None
        self._forward: httpx.AsyncHTTPTransport | None = None
        if url is not None:
            self.forward_to(url)

    def forward_to(self, url: str) -> None:
        """Send what the script does not answer to the real CAD (a stand-in) at `url`."""
        self.url = url.rstrip("/")
        self._forward = httpx.AsyncHTTPTransport()

    def then(self, *steps: Step) -> None:
        """Append steps to the script."""
        self.script.extend(steps)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer one request with the next step (or the real CAD behind it)."""
        self.seen.append(request)
        await request.aread()
        if self.before is not None:
            self.before(request)
        try:
            return await self._answer(request)
        finally:
            if self.after is not None:
                self.after(request)

    async def _answer(self, request: httpx.Request) -> httpx.Response:
        if self.script:
            return await _play(self.script.popleft(), request)
        if self.otherwise is not None:
            return await _play(self.otherwise, request)
        if self._forward is None or self.url is None:
            return Reply().response(request)
        target = self.url + request.url.raw_path.decode("ascii")
        forwarded = httpx.Request(
            request.method, target, headers=request.headers, content=request.content
        )
        response = await self._forward.handle_async_request(forwarded)
        await response.aread()
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            content=response.content,
            request=request,
        )

    async def aclose(self) -> None:
        """Close the connections to the real CAD."""
        if self._forward is not None:
            await self._forward.aclose()


async def _play(step: Step, request: httpx.Request) -> httpx.Response:
    if isinstance(step, BaseException):
        raise step
    if isinstance(step, Reply):
        return step.response(request)
    answered = step(request)
    return await answered if inspect.isawaitable(answered) else answered


def cad_client(
    script: Iterable[Step] | CadScript = (),
    *,
    url: str | None = None,
    otherwise: Step | None = None,
    base: str | None = None,
    api_key: str = API_KEY,
    **options: Any,
) -> CadClient:
    """The real CAD client over a `CadScript`: past the script, every request gets `otherwise`
    or goes to the CAD at `url`. The client's `api_url` is `base` (default: `url`, else a
    name that never resolves). Pass a `CadScript` of your own to look at what it saw or to add
    steps later.
    """
    transport = (
        script if isinstance(script, CadScript) else CadScript(script, url=url, otherwise=otherwise)
    )
    api_url = base or url or "http://cad.test"
    return CadClient(api_url, api_key, transport=transport, **options)


class ClockedCad:
    """The real CAD stand-in on a virtual clock, behind the real client over a real socket.

    Each exchange takes `latency` seconds of virtual time, half before the stand-in reads the
    request and half after it answers; `quota_headers` makes it send the key's RateLimit-*
    headers. `calls` are created up front (with their metaData) on server 1. Use it as an async
    context manager; `client` is the real `CadClient` (or the `client` class given, a reading
    of the answers to compare with), `standin` the stand-in. `on_send`, when set, runs as each
    request leaves, before the CAD takes it. `wall_clock` is the wall time both the stand-in and
    the client read (for HTTP dates and epoch resets); `client_options` go to the client.
    """

    def __init__(
        self,
        time: VirtualTime,
        *,
        calls: Mapping[int, Meta] | None = None,
        quota_headers: bool = False,
        latency: float = 0.0,
        script: Iterable[Step] = (),
        client: type[CadClient] = CadClient,
        wall_clock: Callable[[], float] = wall_time,
        **client_options: Any,
    ) -> None:
        self.time = time
        self.latency = latency
        self.standin = CadStandIn(api_key=API_KEY, window=WINDOW, clock=time, wall_clock=wall_clock)
        self.standin.send_quota_headers = quota_headers
        for call_id, meta in (calls or {}).items():
            self.standin.add_call(1, call_id, dict(meta))
        self.on_send: Callable[[httpx.Request], None] | None = None
        self.script = CadScript(script, before=self._sent, after=self._answered)
        self.client = client(
            "http://127.0.0.1:9",
            API_KEY,
            transport=self.script,
            wall_clock=wall_clock,
            **client_options,
        )

    def _sent(self, request: httpx.Request) -> None:
        if self.on_send is not None:
            self.on_send(request)
        self.time.advance(self.latency / 2)

    def _answered(self, request: httpx.Request) -> None:
        self.time.advance(self.latency / 2)

    async def __aenter__(self) -> ClockedCad:
        await self.standin.start()
        self.script.forward_to(self.standin.url)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.client.aclose()
        await self.script.aclose()
        await self.standin.stop()

    def drawn(self, call_id: int) -> tuple[float, float] | None:
        """Where the CAD draws the call (server 1) now, None before its first position."""
        return drawn_at(self.standin.call(1, call_id)["metaData"])

    def patches(self) -> list[RequestRecord]:
        """Every PATCH the stand-in saw, in arrival order."""
        return [r for r in self.standin.requests if r.route == "update_call"]
