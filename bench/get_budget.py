"""The list reads beside sonorancad's own poll, and what a closed call still costs.

Four calls are followed for ten production minutes on one key, on the loopback rig (the real
client, planner and push loop against the strict CAD stand-in, on virtual time); sonorancad
reads the same key's list every 60 s. One call was created in the CAD with `metaData: {}` (the
resource cannot relay it faithfully). At minute 5 two calls are closed through the API: no event
tells the resource. Printed: the daemon's reads a minute, 429s (its own and sonorancad's), and
PATCHes spent on the closed calls, each for a CAD that answers a closed call's PATCH with a 404
and for one that answers 200 with `status` 2 (what it does is not documented).

"before" is the reading the daemon had until the list's documented PascalCase names were read:
only `activeCalls`/`emergencyCalls` (every read of the documented list failed), no closed calls
asked for, every read as the GET budget of 5 allowed, one failure back-off for both routes, no
periodic read for closes. "after" is the daemon as it is.

    python -m bench.get_budget
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, replace
from typing import Any, Literal

import httpx

from bench.loopback import FIRST_CALL, SERVER_ID, loopback, moving
from bridge.budget import Budget
from bridge.cad import CadClient
from bridge.outcomes import (
    Answered,
    CallList,
    GetResult,
    Gone,
    Meta,
    PatchResult,
    Transient,
    Updated,
)
from bridge.planner import Planner

MINUTES = 10.0
CLOSED_AT = 300.0
POLL_EVERY = 60.0
POLL_FIRST = 7.0


class CamelCaseOnly(CadClient):
    """The reading the daemon had: camelCase list names only, no closed calls asked for, any
    404 of an update the call gone, any 200 an update (a closed call's `status` 2 unread)."""

    last_answer: dict[str, Any] = {}  # noqa: RUF012

    async def update_call(
        self, server_id: int, call_id: int, meta: Meta, postal: str | None = None
    ) -> Answered[PatchResult]:
        """The update, its answer read as before."""
        answered = await super().update_call(server_id, call_id, meta, postal)
        result, quota = answered.result, answered.quota
        if isinstance(result, Gone) and "status 2" in result.detail:
            stored = self.last_answer
            return Answered(Updated(call=stored, meta=stored.get("metaData")), quota)
        if isinstance(result, Gone):
            return Answered(Gone(result.detail, "call", result.trace), quota)
        return answered

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response | Transient:
        response = await super()._send(method, path, **kwargs)
        if isinstance(response, httpx.Response) and response.status_code == 200:
            self.last_answer = response.json()
        return response

    async def get_calls(self, server_id: int) -> Answered[GetResult]:
        """Read the list as before: a body without `activeCalls`/`emergencyCalls` failed."""
        return Answered(await self._read_list(server_id))

    async def _read_list(self, server_id: int) -> GetResult:
        response = await self._send("GET", f"/v2/emergency/servers/{server_id}/calls",
                                    params={"closedLimit": "0", "closedOffset": "0",
                                            "type": "100"})  # fmt: skip
        if not isinstance(response, httpx.Response):
            return response
        body = self._success_body(response)
        if not isinstance(body, dict):
            return body
        if "activeCalls" not in body and "emergencyCalls" not in body:
            status = response.status_code
            return Transient(f"HTTP {status}: body has no call lists", True, status=status)
        calls: dict[int, Any] = {}
        for key in ("activeCalls", "emergencyCalls"):
            for item in body.get(key) or []:
                calls[item["callId"]] = item.get("metaData")
        return CallList(calls=calls)


def before(planner: Planner) -> Planner:
    """The planner as it read before: GET budget 5, no close checks, and one failure back-off
    for both routes (an update that went through started a failing read's back-off again from
    a second)."""
    old = replace(planner, get_budget=Budget(5, 60.0, 1.0))
    old.configure(replace(old.settings, close_check=0.0))
    health = old.health
    health.route("get_calls").fault_backoff = health.route("update_call").fault_backoff
    return old


@dataclass
class Run:
    """One ten-minute run."""

    label: str
    closed_patch: int
    reads_per_minute: float
    own_429s: int
    sonorancad_429s: int
    sonorancad_polls: int
    patches_on_closed: int
    closed_told_after: list[float | None]


async def run(label: Literal["before", "after"], closed_patch: Literal[404, 200]) -> Run:
    """Ten minutes of four calls beside sonorancad's poll; two closed at minute 5."""
    old = label == "before"
    rig, close = await loopback(
        close_check=0.0 if old else 30.0,
        naive_planner=before if old else None,
        client=CamelCaseOnly if old else CadClient,
    )
    try:
        rig.standin.closed_patch = closed_patch
        subjects = []
        for i in range(4):
            call_id = FIRST_CALL + i
            # The last call was created in the CAD with {}: the resource cannot relay it.
            meta: dict[str, Any] = {} if i == 3 else {"uuid": f"u-{call_id}", "postal": "9001"}
            rig.standin.add_call(SERVER_ID, call_id, dict(meta))
            rig.track(call_id, f"veh:{call_id}", None if i == 3 else dict(meta))
            if i < 3:
                rig.relay(call_id, dict(meta))  # sonorancad relays what it can
            subjects.append((f"veh:{call_id}", 1.0 + i * 1.5))
        moving(rig, subjects, until=MINUTES * 60.0)
        closed = [FIRST_CALL, FIRST_CALL + 3]
        polls = refused = 0

        def poll() -> None:
            nonlocal polls, refused
            polls += 1
            refused += not rig.standin.external_request("get_calls")

        rig.clock.every(POLL_EVERY, poll, start=POLL_FIRST, until=MINUTES * 60.0)
        for call_id in closed:
            rig.clock.at(CLOSED_AT, functools.partial(rig.standin.close_call, SERVER_ID, call_id))
        await rig.run(MINUTES * 60.0)
        reads = rig.requests("get_calls")
        own = [r for r in rig.standin.requests if r.status == 429 and r.fault is None]
        on_closed = [
            r for r in rig.requests("update_call")
            if r.t >= CLOSED_AT and int(r.path.rsplit("/", 1)[1]) in closed
        ]
        told = []
        for call_id in closed:
            gone = [t for t, n in rig.notices("gone") if n.call_id == call_id and t >= CLOSED_AT]
            told.append(round(gone[0] - CLOSED_AT, 1) if gone else None)
        return Run(label, closed_patch, round(len(reads) / MINUTES, 1), len(own), refused,
                   polls, len(on_closed), told)  # fmt: skip
    finally:
        await close()


async def main() -> None:
    """Print each run's figures."""
    print(f"{'run':<7} {'closed PATCH':>12} {'reads/min':>9} {'own 429s':>8} "
          f"{'sonorancad 429s':>15} {'PATCHes on closed':>17}  told gone after (s)")
    labels: tuple[Literal["before", "after"], ...] = ("before", "after")
    patches: tuple[Literal[404, 200], ...] = (404, 200)
    for label in labels:
        for closed_patch in patches:
            r = await run(label, closed_patch)
            print(f"{r.label:<7} {r.closed_patch:>12} {r.reads_per_minute:>9} {r.own_429s:>8} "
                  f"{r.sonorancad_429s:>9} of {r.sonorancad_polls:<3} {r.patches_on_closed:>17}"
                  f"  {r.closed_told_after}")


if __name__ == "__main__":
    asyncio.run(main())
