"""`check-config --online`: one read of the call list, to learn whether the CAD takes the config.

The read is spent like the daemon's own: within `budget.get_calls`, counting what a daemon on
the same key spent lately (the spend log), and written back to it so a daemon started right
after counts it too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from bridge import logs
from bridge.app import spendlog_from
from bridge.budget import Budget
from bridge.cad import CadClient
from bridge.config import Config
from bridge.outcomes import (
    Answered,
    AuthFailed,
    CallList,
    GetResult,
    Gone,
    RateLimited,
    Rejected,
    Transient,
)

ROUTE = "get_calls"


class CallLister(Protocol):
    """The part of the CAD client the check uses."""

    async def get_calls(self, server_id: int) -> Answered[GetResult]: ...


@dataclass(frozen=True, slots=True)
class OnlineCheck:
    """What the CAD said of the config; `key` names the config key at fault, if one is."""

    ok: bool
    message: str
    key: str | None = None


def verdict(config: Config, result: GetResult) -> OnlineCheck:
    """What the answer to the call-list read says about the config."""
    server_id = config.cad.server_id
    match result:
        case CallList(calls=calls, emergency=emergency):
            return OnlineCheck(
                True,
                f"the CAD accepts cad.api_key and knows server id {server_id} "
                f"({len(calls)} active calls, {len(emergency)} 911 calls)",
            )
        case AuthFailed(status=status, detail=detail):
            return OnlineCheck(
                False,
                f"cad.api_key: the CAD refused the key (HTTP {status}: {detail}); check it, "
                "or $SONORAN_API_KEY if set",
                "cad.api_key",
            )
        case Gone(detail=detail):
            return OnlineCheck(
                False,
                f"cad.server_id: the CAD knows no server id {server_id} (HTTP 404: {detail}); "
                "use the id shown in the CAD's server settings (and check cad.api_url)",
                "cad.server_id",
            )
        case RateLimited(retry_after=retry_after):
            later = f" in {retry_after:.0f} s" if retry_after is not None else " in a minute"
            return OnlineCheck(
                False,
                "the CAD rate-limited the read: something else spends this key's call-list "
                f"budget; try again{later}",
            )
        case Rejected(status=status, detail=detail):
            return OnlineCheck(False, f"the CAD rejected the read (HTTP {status}: {detail})")
        case Transient(reason=reason):
            return OnlineCheck(
                False,
                f"cad.api_url: could not read from {config.cad.api_url} ({reason})",
                "cad.api_url",
            )
    raise AssertionError(f"unexpected result {result!r}")  # pragma: no cover


def with_trace(check: OnlineCheck, result: GetResult) -> OnlineCheck:
    """A failed check with the ids Sonoran's support asks for, those the answer carried."""
    trace = {} if check.ok or isinstance(result, CallList) else result.trace
    if not trace:
        return check
    ids = ", ".join(f"{name} {value}" for name, value in trace.items())
    return OnlineCheck(check.ok, f"{check.message} [{ids}]", check.key)


async def check_online(
    config: Config,
    *,
    cad: CallLister | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    on_wait: Callable[[float], None] | None = None,
) -> OnlineCheck:
    """Read the call list once, within the budget, and say what the answer means."""
    if config.budget.get_calls == 0:
        return OnlineCheck(
            False, "budget.get_calls = 0 allows no read of the call list", "budget.get_calls"
        )
    logs.register_secret(config.cad.api_key)
    spendlog = spendlog_from(config)
    budget = Budget(
        config.budget.get_calls, config.budget.window_seconds, config.budget.margin_seconds
    )
    recent = spendlog.load(clock()) if spendlog is not None else {}
    budget.seed(recent.get(ROUTE, []))
    wait = budget.next_slot(clock()) - clock()
    if wait > 0:
        if on_wait is not None:
            on_wait(wait)
        await sleep(wait)

    def keep() -> None:
        if spendlog is None:
            return
        now = clock()
        # Like the daemon: a read in flight has ended by the client timeout at the latest.
        ended = budget.ended_times() + [now + config.cad.timeout_seconds] * budget.in_flight
        spendlog.save({**recent, ROUTE: ended}, now)

    own = cad is None
    client: CallLister = cad or CadClient(
        config.cad.api_url, config.cad.api_key, timeout=config.cad.timeout_seconds
    )
    try:
        budget.begin(clock())
        keep()
        result = (await client.get_calls(config.cad.server_id)).result
        budget.end(clock(), reached_server=not (isinstance(result, Transient)
                                                 and not result.reached_server))
        keep()
    finally:
        if own and isinstance(client, CadClient):
            await client.aclose()
    check = with_trace(verdict(config, result), result)
    return OnlineCheck(check.ok, logs.scrub(check.message), check.key)
