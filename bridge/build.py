"""The daemon's objects from its config: the one place that wires them.

`load(config)` reads what the config names outside itself, once: the postal file, the TLS pair,
the shared budget's URL (and the TLS files it names), the postal offer folder. It raises
`ConfigError` naming the key, so `check-config` and `run` report a bad file before anything
starts (`bridge.config` checks the config's shape and opens nothing).

`build_daemon(config)` makes the CAD client, the planner with its budgets and settings, the
shared budget's gate, the spend log, the postal source and the TLS context, and hands them to
`Daemon`. The CLI, the demo, the benchmark and the tests all make their daemon with it; tests
and the benchmark pass their own CAD client, clock, policy or wait.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bridge import logs
from bridge.app import Daemon
from bridge.budget import Budget
from bridge.cad import MAX_WAIT_WINDOWS, CadClient
from bridge.config import Config, ConfigError, config_warnings
from bridge.exposure import exposure_warnings
from bridge.planner import Fetch, Planner, Push, Settings
from bridge.postal import PostalError, PostalIndex, PostalSource
from bridge.pusher import Cad, InputWait, wait_for_input
from bridge.scheduler import PacedAccumulator, Policy
from bridge.shared.engine import Engine, MissingClient, Terms, keyspace
from bridge.shared.gate import ENGINE_TIMEOUT, GET, UPDATE, Claim, SharedGate, terms_for
from bridge.shared.url import Location, SharedUrlError, parse, raw_password
from bridge.spendlog import SpendLog, default_path
from bridge.tls import ServerTls, TlsError


@dataclass(frozen=True, slots=True)
class Resources:
    """What the config names outside itself, read once by `load`."""

    postal_index: PostalIndex | None = None
    """The postals of `[postal] file` (None without one)."""
    tls: ServerTls | None = None
    """The listeners' TLS context from `[tls]` (None without TLS)."""
    shared: Location | None = None
    """Where `budget.shared_url` leads (None: this daemon owns the whole budget)."""


def load(config: Config) -> Resources:
    """Read the files and the URL the config names; `ConfigError` names the key at fault."""
    shared = None
    if config.budget.shared_url:
        try:
            shared = parse(config.budget.shared_url)
        except SharedUrlError as exc:
            raise ConfigError(str(exc)) from None
    folder = config.postal.offer_folder
    if folder and not (os.path.isabs(folder) and os.path.isdir(folder)):
        raise ConfigError(
            f"postal.offer_folder = {folder!r} is not an existing folder given by its full path: "
            "point it at the folder that holds nearest-postal (the game server's resources folder)"
        )
    tls = None
    if config.tls.enabled:
        try:
            tls = ServerTls(config.tls.cert_file, config.tls.key_file)
        except TlsError as exc:
            raise ConfigError(str(exc)) from None
    postal_index = None
    if config.postal.file:
        try:
            postal_index = PostalIndex.load(config.postal.file)
        except PostalError as exc:
            raise ConfigError(f"postal.file: {exc}") from None
    return Resources(postal_index=postal_index, tls=tls, shared=shared)


def all_warnings(config: Config, resources: Resources | None = None) -> list[str]:
    """What in a valid config guarantees trouble later: the config's own warnings, then what
    it exposes beyond this machine (`resources` as `load` read them, for the shared URL)."""
    shared = resources.shared if resources is not None else None
    return config_warnings(config) + exposure_warnings(config, shared)


def settings_from(config: Config) -> Settings:
    """The planner's settings from the tracking section of the config."""
    tracking = config.tracking
    return Settings(
        min_move=tracking.min_move,
        default_radius=tracking.default_radius,
        max_stale=tracking.max_stale_seconds,
        lead=tracking.lead,
        trails=tracking.trails,
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


def cad_from(config: Config) -> CadClient:
    """The CAD client for `[cad]`, its waits capped as the budget's window says."""
    return CadClient(
        config.cad.api_url,
        config.cad.api_key,
        timeout=config.cad.timeout_seconds,
        max_wait=MAX_WAIT_WINDOWS * config.budget.window_seconds,
    )


def open_engine(location: Location, space: str, *, member: str | None = None) -> Engine:
    """The shared budget's engine `location` names, for the key `space`.

    Raises `MissingClient` when the engine's client library (an optional extra) is missing.
    """
    if location.kind == "redis":
        from bridge.shared.redis_budget import RedisEngine

        return RedisEngine(location, space, member=member)
    from bridge.shared.mariadb_budget import MariaDbEngine

    return MariaDbEngine(location, space, member=member)


def claim_of(planner: Planner) -> Callable[[Push | Fetch], Claim]:
    """How much the planner wants each request's slot of the shared budget.

    A push asks with its call's accumulated error and says how much the other calls worth a
    push will still want after it, so the engine defers to a daemon with more error to mend;
    a read of the call list asks with nothing.
    """

    def claim(request: Push | Fetch) -> Claim:
        if isinstance(request, Fetch):
            return Claim(GET)
        tracker, threshold = planner.tracker, planner.settings.min_move
        call = tracker.calls.get(request.key)
        own = call.acc if call is not None else 0.0
        rest = (c.acc for c in tracker if c.key != request.key and c.acc_err >= threshold)
        return Claim(UPDATE, own, max(rest, default=0.0))

    return claim


def planner_gate(
    planner: Planner,
    engine: Engine,
    terms: dict[str, Terms],
    *,
    clock: Callable[[], float],
    describe: str = "",
    max_hosts: int = 0,
) -> SharedGate[Push | Fetch]:
    """A gate over `engine` that blocks the planner's budgets and claims as it wants."""
    budgets = {UPDATE: planner.update_budget}
    if planner.get_budget is not None:
        budgets[GET] = planner.get_budget
    return SharedGate(
        engine,
        terms,
        budgets,
        claim_of(planner),
        clock=clock,
        describe=describe,
        max_hosts=max_hosts,
    )


def gate_from(
    config: Config,
    planner: Planner,
    clock: Callable[[], float],
    location: Location | None = None,
) -> SharedGate[Push | Fetch] | None:
    """The gate `budget.shared_url` asks for, or None for the embedded budget.

    `location`: the URL as `load` read it (read here when not given). Raises `ConfigError`
    when the URL is unusable or its engine's client is not installed.
    """
    budget, cad = config.budget, config.cad
    if not budget.shared_url:
        return None
    try:
        location = location or parse(budget.shared_url)
        engine = open_engine(location, keyspace(cad.api_url, cad.api_key))
    except (SharedUrlError, MissingClient) as exc:
        raise ConfigError(str(exc)) from None
    logs.register_secret(location.password)
    logs.register_secret(raw_password(budget.shared_url))
    terms = {
        UPDATE: terms_for(
            budget.update_call,
            budget.window_seconds,
            budget.margin_seconds,
            cad.timeout_seconds,
            ENGINE_TIMEOUT,
        )
    }
    if budget.get_calls:
        terms[GET] = terms_for(
            budget.get_calls,
            budget.window_seconds,
            budget.margin_seconds,
            cad.timeout_seconds,
            ENGINE_TIMEOUT,
            shared_pace=False,
        )
    return planner_gate(
        planner,
        engine,
        terms,
        clock=clock,
        describe=location.describe(),
        max_hosts=budget.shared_max_hosts,
    )


def build_daemon(
    config: Config,
    resources: Resources | None = None,
    *,
    cad: Cad | None = None,
    clock: Callable[[], float] = time.monotonic,
    policy: Policy | None = None,
    wait: InputWait = wait_for_input,
) -> Daemon:
    """The daemon the config describes, not yet started.

    `resources`: what `load` read (read now when not given, raising `ConfigError`); `cad`: a
    CAD client to use instead of one of its own (the daemon then leaves it open at stop);
    `clock` and `wait`: the push loop's sense of time; `policy`: the scheduler's.
    """
    # Scrubbed from every log line and every error sent back, however logging was set up.
    logs.register_secret(config.cad.api_key)
    logs.register_secret(config.listen.token)
    logs.register_secret(config.status.password)
    resources = load(config) if resources is None else resources
    planner = planner_from(config, policy)
    gate = gate_from(config, planner, clock, resources.shared)
    return Daemon(
        config,
        planner=planner,
        cad=cad or cad_from(config),
        own_cad=cad is None,
        postals=PostalSource(config.postal, resources.postal_index),
        tls=resources.tls,
        spendlog=spendlog_from(config),
        gate=gate,
        clock=clock,
        wait=wait,
    )
