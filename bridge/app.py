"""The daemon: the websocket listener, the tracker and the push loop, with a clean lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, assert_never

import msgspec
import structlog
from msgspec import UNSET

from bridge import logs
from bridge.admission import Limits
from bridge.budget import Budget
from bridge.cad import MAX_WAIT_WINDOWS, CadClient
from bridge.config import Config
from bridge.metrics import Metrics
from bridge.outcomes import GetResult, PatchResult
from bridge.planner import Alert, AlertKind, Fetch, Notice, Planner, Push, Refused, Settings
from bridge.postal import PostalIndex, PostalSource
from bridge.protocol import (
    DISPATCH,
    CallState,
    Error,
    InboundMessage,
    Positions,
    PostalFile,
)
from bridge.pusher import Cad, PushLoop, Wait, wait_for_input
from bridge.scheduler import PacedAccumulator, Policy
from bridge.server import Listener
from bridge.shared.gate import gate_from
from bridge.spendlog import SpendLog, default_path
from bridge.status import Snapshot, snapshot
from bridge.statuspage import StatusPage
from bridge.tally import Tally, record_of
from bridge.tls import ServerTls

log = structlog.stdlib.get_logger("bridge.app")


KEY_REFUSED = (
    "the CAD refuses the daemon's API key: no call moves until cad.api_key in the daemon's "
    "config is fixed"
)
"""The `failed` detail each followed call gets while the CAD answers 401/403."""


class StartFailed(Exception):
    """A port could not be bound; the text names the config key that sets it."""


def _bind_error(key: str, host: str, port: int, exc: OSError) -> StartFailed:
    """What a failed bind means for the owner, naming the key to change."""
    import errno

    if exc.errno in (errno.EADDRINUSE, 10048):  # 10048: WSAEADDRINUSE
        why = (
            "address already in use: another program (or another sonoran-bridge) has it; stop "
            f"that one, or set {key} to a free port"
        )
    else:
        why = f"{exc.strerror or exc}: set {key} (and its host) to a port this user may bind"
    return StartFailed(f"{key} = {port} on {host}: {why}")


def spendlog_from(config: Config) -> SpendLog | None:
    """The spend log the config asks for, or None when `budget.state_file` is empty."""
    budget = config.budget
    if not budget.state_file:
        return None
    path = (
        default_path(config.cad.api_url, config.cad.api_key)
        if budget.state_file == "auto"
        else Path(budget.state_file)
    )
    return SpendLog(path, budget.window_seconds + budget.margin_seconds)


def settings_from(config: Config) -> Settings:
    """The planner's settings from the tracking section of the config."""
    tracking = config.tracking
    return Settings(
        min_move=tracking.min_move,
        default_radius=tracking.default_radius,
        max_stale=tracking.max_stale_seconds,
        lead=tracking.lead,
        grow_radius=tracking.grow_radius,
        meta_max_age=tracking.meta_max_age_seconds,
        max_calls=tracking.max_calls_per_server,
        close_check=tracking.close_check_seconds,
    )


def planner_from(config: Config, policy: Policy | None = None) -> Planner:
    """A planner with the budgets and policy the config describes."""
    budget = config.budget
    settings = settings_from(config)
    return Planner(
        policy=policy or PacedAccumulator(settings.min_move, settings.max_stale),
        update_budget=Budget(budget.update_call, budget.window_seconds, budget.margin_seconds),
        get_budget=(
            Budget(budget.get_calls, budget.window_seconds, budget.margin_seconds)
            if budget.get_calls
            else None
        ),
        settings=settings,
    )


class Daemon:
    """Everything the `run` command starts, as one object tests can start and stop too."""

    def __init__(
        self,
        config: Config,
        *,
        cad: Cad | None = None,
        clock: Callable[[], float] = time.monotonic,
        policy: Policy | None = None,
        wait: Wait = wait_for_input,
    ) -> None:
        self.config = config
        self.clock = clock
        # Scrubbed from every log line and every error sent back, however logging was set up.
        logs.register_secret(config.cad.api_key)
        logs.register_secret(config.listen.token)
        logs.register_secret(config.status.password)
        self.planner = planner_from(config, policy)
        self.tracker = self.planner.tracker
        self.postals = PostalSource(config.postal)
        self.planner.postals = self.postals.index
        self._postals_cache: tuple[PostalIndex, bytes] | None = None
        self._refused: dict[int, int] = {}
        """Server id -> requests of it refused (each logged while few, then every hundredth)."""
        self.postal_reads: set[asyncio.Task[None]] = set()
        """Offered postal files being read in worker threads (kept so none is collected)."""
        self.tls = (
            ServerTls(config.tls.cert_file, config.tls.key_file) if config.tls.enabled else None
        )
        self._own_cad = cad is None
        self.cad: Cad = cad or CadClient(
            config.cad.api_url,
            config.cad.api_key,
            timeout=config.cad.timeout_seconds,
            max_wait=MAX_WAIT_WINDOWS * config.budget.window_seconds,
        )
        self.listener = Listener(
            host=config.listen.host,
            port=config.listen.port,
            token=config.listen.token,
            on_message=self.on_message,
            on_link=self._on_link,
            allowed_origins=config.listen.allowed_origins,
            hello_timeout=config.listen.hello_timeout_seconds,
            idle_timeout=config.listen.idle_timeout_seconds,
            default_server_id=config.cad.server_id,
            limits=Limits(
                max_connections=config.listen.max_connections,
                max_unauthenticated=config.listen.max_unauthenticated,
                new_per_second=config.listen.new_connections_per_second,
            ),
            on_refused=self._connection_refused,
            tls=self.tls.context if self.tls is not None else None,
        )
        self.spendlog = spendlog_from(config)
        self.gate = gate_from(config, self.planner, clock)
        self.departed: dict[int, float] = {}
        """Game servers whose link went down (server id -> when), until they come back."""
        self._refusal = KEY_REFUSED
        self.pusher = PushLoop(
            self.planner,
            self.cad,
            clock=clock,
            on_event=self._on_event,
            on_spent=self._keep_spending if self.spendlog is not None else None,
            gate=self.gate,
            on_result=self._on_result,
            wait=wait,
        )
        self.started = clock()
        self.tally = Tally()
        """The daemon's counts, fed by each finished request (the one holder of each)."""
        self.metrics = Metrics(self.snapshot)
        self.status_page: StatusPage | None = None
        self._stop = asyncio.Event()
        self._push_task: asyncio.Task[None] | None = None
        self._started = False
        self._tls_watch: asyncio.Task[None] | None = None

    @property
    def positions_received(self) -> int:
        """Subject positions received from game servers since start."""
        return self.tally.positions

    @property
    def port(self) -> int:
        """The port the listener is bound to."""
        return self.listener.port

    async def start(self) -> None:
        """Bind the listener and start the push loop."""
        self._resume_spending()
        listen, status = self.config.listen, self.config.status
        try:
            await self.listener.start()
        except OSError as exc:
            raise _bind_error("listen.port", listen.host, listen.port, exc) from None
        if status.port:
            try:
                await self.serve_status(
                    status.host,
                    status.port,
                    allowed_hosts=status.allowed_hosts,
                    password=status.password,
                    tls=self.tls is not None,
                )
            except OSError as exc:
                raise _bind_error("status.port", status.host, status.port, exc) from None
        if self.tls is not None and self.config.tls.check_seconds:
            self._tls_watch = asyncio.create_task(
                self.tls.watch(self.config.tls.check_seconds), name="tls-watch"
            )
        self._started = True
        self._push_task = asyncio.create_task(self.pusher.run(), name="push-loop")

    async def run(self) -> None:
        """Start, serve until `request_stop()` (or a signal), then shut down cleanly."""
        # Handlers first: a SIGTERM while the listener binds (systemd stopping a unit it just
        # started) must stop the daemon cleanly, not kill it.
        restore = _install_signal_handlers(self.request_stop, self.reload_tls)
        reporter: asyncio.Task[None] | None = None
        try:
            await self.start()
            reporter = asyncio.create_task(self._report(), name="status")
            await self._stop.wait()
        finally:
            if reporter is not None:
                reporter.cancel()
            restore()
            # A request cannot outlast the client timeout: waiting longer for it is pointless.
            await self.stop(grace=min(5.0, self.config.cad.timeout_seconds))

    def request_stop(self) -> None:
        """Ask `run` to return."""
        self._stop.set()

    def reload_tls(self) -> None:
        """Read the certificate and key again (SIGHUP): later handshakes get the new pair."""
        if self.tls is None:
            log.info("SIGHUP: no TLS configured, nothing to reload")
            return
        self.tls.reload("SIGHUP")

    async def stop(self, grace: float = 5.0) -> None:
        """Close the listener, let a request in flight finish within `grace` seconds, then stop."""
        # Nothing to stop when the start failed: the error alone is the news.
        started, self._started = self._started, False
        if started:
            log.info("stopping")
        self._stop.set()
        await self.listener.stop()
        if self._tls_watch is not None:
            self._tls_watch.cancel()
            self._tls_watch = None
        if self.status_page is not None:
            await self.status_page.stop()
        self.pusher.stop()
        for task in list(self.postal_reads):
            task.cancel()
        if self._push_task is not None:
            done, _ = await asyncio.wait({self._push_task}, timeout=grace)
            if not done:
                log.warning("abandoning the request in flight", grace_seconds=grace)
                self._push_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._push_task
            self._push_task = None
        if self.gate is not None:
            self.gate.abandon()
            await self.gate.engine.close()
        if self._own_cad:
            close = getattr(self.cad, "aclose", None)
            if close is not None:
                await close()
        if started:
            log.info("stopped", requests=self.pusher.requests, pushes=self.tally.pushes)

    def _budgets(self) -> dict[str, Budget]:
        budgets = {"update_call": self.planner.update_budget}
        if self.planner.get_budget is not None:
            budgets["get_calls"] = self.planner.get_budget
        return budgets

    def _resume_spending(self) -> None:
        """Count what a previous run spent in the current window, so a restart draws no 429."""
        if self.spendlog is None:
            return
        recent = self.spendlog.load(self.clock())
        for route, budget in self._budgets().items():
            budget.seed(recent.get(route, []))
        if recent:
            log.info(
                "counting the previous run's requests",
                **{route: len(times) for route, times in recent.items()},
            )

    def _keep_spending(self) -> None:
        assert self.spendlog is not None
        now = self.clock()
        # A request in flight has ended by the client timeout at the latest.
        latest_end = now + self.config.cad.timeout_seconds
        ended = {
            route: budget.ended_times() + [latest_end] * budget.in_flight
            for route, budget in self._budgets().items()
        }
        self.spendlog.save(ended, now)

    def on_message(self, server_id: int, message: InboundMessage) -> None:
        """Hand one message from a game server to the planner and send what it answers."""
        if isinstance(message, PostalFile):
            # Reading the offered file is I/O: the shell's, off the loop, and nobody waits.
            task = asyncio.create_task(self._take_postal_offer(server_id, message.path))
            self.postal_reads.add(task)
            task.add_done_callback(self.postal_reads.discard)
        else:
            if isinstance(message, Positions):
                self.tally.heard(len(message.items))
            for said in self.planner.receive(server_id, message, self.clock()):
                if isinstance(said, Notice):
                    self._notify(said)
                elif isinstance(said, Refused):
                    self._refuse(said)
                else:
                    log.info(said.event, **said.fields)
        self.pusher.wake()

    def _connection_refused(self, reason: str) -> None:
        self.metrics.refused(reason)

    async def _take_postal_offer(self, server_id: int, path: str) -> None:
        if (index := await self.postals.offered(server_id, path)) is not None:
            self.planner.postals = index

    def _refuse(self, refused: Refused) -> None:
        """Tell the game server what was not done; the log hears of it without flooding."""
        self.listener.send(refused.server_id, Error(code=refused.code, message=refused.message))
        count = self._refused.get(refused.server_id, 0) + 1
        self._refused[refused.server_id] = count
        if count <= 3 or count % 100 == 0:
            log.warning(
                "refused a game server's request",
                server_id=refused.server_id,
                code=refused.code,
                detail=refused.message,
                count=count,
            )

    def _on_link(self, server_id: int, up: bool) -> None:
        if up:
            self.departed.pop(server_id, None)
            for notice in self.planner.states_of(server_id):
                self._notify(notice)
        else:
            self.departed[server_id] = self.clock()

    def _key_refused(self, notice: Notice) -> Notice:
        """While the CAD refuses the key, a call the resource thinks is `following` or
        `pushed` is not moving: say so, and why, so the console and `callState` show it."""
        if not self.planner.auth_failing or notice.state not in ("following", "pushed"):
            return notice
        return Notice(notice.server_id, notice.call_id, "failed", self._refusal)

    def _tell_every_link(self) -> None:
        """Each connected game server's calls as they stand now (the key refused or not)."""
        for server_id in list(self.listener.links):
            for notice in self.planner.states_of(server_id):
                self._notify(notice)

    def _on_event(self, event: Notice | Alert) -> None:
        if isinstance(event, Alert):
            self._alert(event)
            return
        self._notify(event)

    def _alert(self, alert: Alert) -> None:
        """Tell the operator (and, for the key, every game server) what an alert is about."""
        match alert.event:
            case AlertKind.AUTH_FAILED:
                log.error(
                    "the CAD refused the API key: check cad.api_key; pausing and retrying",
                    detail=alert.detail,
                    **alert.trace,
                )
                self._refusal = f"{KEY_REFUSED} ({alert.detail})"
                self._tell_every_link()
            case AlertKind.AUTH_RESOLVED:
                log.warning("resolved", alert=alert.event.value, detail=alert.detail)
                self._tell_every_link()
            case AlertKind.SERVER_UNKNOWN:
                log.error(
                    "the CAD does not know this server id: check cad.server_id and the "
                    "resource's sonoran_bridge_server_id; its calls are kept, its requests paused",
                    server_id=alert.server_id,
                    cad_server_id=self.config.cad.server_id,
                    detail=alert.detail,
                    **alert.trace,
                )
            case AlertKind.SERVER_KNOWN | AlertKind.RATE_LIMIT_RESOLVED | AlertKind.CAD_RESOLVED:
                where = {} if alert.server_id is None else {"server_id": alert.server_id}
                log.warning("resolved", alert=alert.event.value, detail=alert.detail, **where)
            case unknown:
                assert_never(unknown)

    def _notify(self, notice: Notice) -> None:
        notice = self._key_refused(notice)
        self.listener.send(
            notice.server_id,
            CallState(
                call_id=notice.call_id,
                state=notice.state,
                detail=notice.detail,
                kind=UNSET if notice.kind == DISPATCH else notice.kind,
            ),
        )

    def status(self) -> dict[str, Any]:
        """The figures of the `status` log line (the snapshot's `summary`), for tests too."""
        return self.snapshot().summary

    def snapshot(self) -> Snapshot:
        """The one view of the daemon now: the status page, `/status.json`, `/metrics` and
        the `status` log line all render it."""
        return snapshot(
            self.planner,
            self.listener.links.values(),
            self.tally,
            self.clock(),
            started=self.started,
            requests_made=self.pusher.requests,
            departed=self.departed,
            shared=self.gate.status() if self.gate is not None else None,
        )

    async def serve_status(
        self,
        host: str,
        port: int,
        *,
        allowed_hosts: list[str] | None = None,
        password: str = "",
        tls: bool = False,
    ) -> str:
        """Serve the status page on host:port (0: any free port); returns its URL.

        `allowed_hosts`: Host names answered besides loopback's; `password`: the login ("" for
        none); `tls`: over the daemon's TLS context (https).
        """
        page = StatusPage(
            host=host,
            port=port,
            snapshot_json=lambda: _json(self.snapshot()),
            metrics=self.metrics.render,
            postals_json=self._postals_json,
            allowed_hosts=allowed_hosts,
            password=password,
            tls=self.tls.context if tls and self.tls is not None else None,
        )
        await page.start()
        self.status_page = page
        return page.url

    def _postals_json(self) -> bytes:
        """The postal points the page draws behind the map (`[]` without a postal file)."""
        index = self.postals.index
        if index is None:
            return b"[]"
        if self._postals_cache is None or self._postals_cache[0] is not index:
            points = [{"code": p.code, "x": p.x, "y": p.y} for p in index.postals]
            self._postals_cache = (index, _encoder.encode(points))
        return self._postals_cache[1]

    def _on_result(
        self, action: Push | Fetch, result: PatchResult | GetResult, began: float, ended: float
    ) -> None:
        record = record_of(action, result, began, ended)
        self.tally.finished(record)
        self.metrics.record(record)

    async def _report(self) -> None:
        """Log a `status` line now and then, so an operator sees the daemon at work."""
        every = self.config.log.status_seconds
        if not every:
            return
        while True:
            await asyncio.sleep(every)
            log.info("status", **self.status())


_encoder = msgspec.json.Encoder()


def _json(view: Snapshot) -> bytes:
    return _encoder.encode(view)


def _install_signal_handlers(
    stop: Callable[[], None], reload: Callable[[], None] | None = None
) -> Callable[[], None]:
    """SIGINT/SIGTERM ask the daemon to stop, SIGHUP to `reload` (where there is one: not on
    Windows); on Windows fall back to `signal.signal`."""
    loop = asyncio.get_running_loop()
    signals = [signal.SIGINT, signal.SIGTERM]
    hangup = getattr(signal, "SIGHUP", None)
    try:
        for sig in signals:
            loop.add_signal_handler(sig, stop)
    except (NotImplementedError, RuntimeError):
        previous = {sig: signal.getsignal(sig) for sig in signals}
        try:
            for sig in signals:
                signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop))
        except ValueError:
            # Not the main thread (a service wrapper or a host that runs the daemon in one):
            # no signal can reach this loop, and request_stop() still stops it.
            for sig, handler in previous.items():
                with contextlib.suppress(ValueError):
                    signal.signal(sig, handler)
            log.info("signals not handled: the daemon runs outside the main thread")
            return lambda: None

        def restore_plain() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore_plain

    if hangup is not None and reload is not None:
        loop.add_signal_handler(hangup, reload)
        signals.append(hangup)

    def restore() -> None:
        for sig in signals:
            loop.remove_signal_handler(sig)

    return restore
