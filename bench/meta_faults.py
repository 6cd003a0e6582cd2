"""metaData and calls under ordinary faults: how much the bridge loses, before and after.

    python -m bench.meta_faults

Each scenario runs twice on the same seeded timeline: once with the daemon's behaviour, once
with the naive one it replaced (named in each line). Both run over loopback: the real CAD
client against the HTTP CAD stand-in, the real planner and push loop, on virtual time in
production seconds (a 60 s window, 10 updates and 5 reads of the list a minute), so a run of
twenty minutes takes a second or two and is the same on every machine.

- unlisted metaData: the CAD's list carries no `metaData` in its items (the shape of
  `emergencyCalls` is not documented); naive: the missing field read as `{}`.
- one reading: a list lagging behind the CAD, a list with an item that cannot be read, a 404
  for the list; naive: one read without a call, or the 404, ends it.
- edits without a relay: no sonorancad beside the resource, a dispatcher edits a call every
  20 s, with 503s and 429s; naive: the known metaData pushed however old it is.
- an edit relayed while a PATCH is in flight (sonorancad beside the resource); naive: the
  PATCH's answer replaces the relayed copy.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import sys
from dataclasses import dataclass, fields
from pathlib import Path

import httpx
import structlog

if __package__ in (None, ""):  # run as a file: python bench/meta_faults.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loopback import (
    FIRST_CALL,
    SERVER_ID,
    Loopback,
    headings,
    keys_lost,
    loopback,
    moving,
)
from bench.rig import given_meta
from bridge.cad import CadClient
from bridge.outcomes import Answered, CallList, GetResult, Gone, PatchResult
from bridge.planner import Alert, Fetch, Notice, Planner, Push
from bridge.protocol import Untrack
from bridge.standin.cad import Fault

# -- item 2: metaData missing from the list ---------------------------------------------------


class GuessingClient(CadClient):
    """The naive reading of the list: an item without `metaData` holds `{}`."""

    async def get_calls(self, server_id: int) -> Answered[GetResult]:
        answered = await super().get_calls(server_id)
        result = answered.result
        if isinstance(result, CallList):
            guessed = CallList({k: {} if v is None else v for k, v in result.calls.items()})
            return Answered(guessed, answered.quota)
        return answered


@dataclass
class Unlisted:
    """What calls tracked without metaData came to while the list carried none."""

    label: str
    seeded_keys: int
    keys_lost: int
    patches: int
    failed_notices: int
    patches_after_relay: int = 0
    lost_after_relay: int = 0


async def unlisted_meta(*, naive: bool, calls: int = 10, seconds: float = 60.0) -> Unlisted:
    """`calls` calls created with the keys the official resource writes, tracked without
    metaData (no relay), subjects moving; the list serves its items without `metaData`. After
    `seconds`, the resource relays each call's metaData and the run goes on as long again."""
    rig, close = await loopback(client=GuessingClient if naive else CadClient)
    try:
        seeded = {}
        subjects = []
        for i, heading in enumerate(headings(calls)):
            call_id = FIRST_CALL + i
            seeded[call_id] = given_meta(call_id)
            rig.standin.add_call(SERVER_ID, call_id, dict(seeded[call_id]))
            rig.track(call_id, f"veh:{call_id}")
            subjects.append((f"veh:{call_id}", heading))
        rig.standin.list_meta = False
        moving(rig, subjects, until=2 * seconds)
        await rig.run(seconds)
        outcome = Unlisted(
            "naive: missing metaData read as {}" if naive else "daemon: missing is unknown",
            seeded_keys=sum(len(m) for m in seeded.values()),
            keys_lost=keys_lost(rig, seeded),
            patches=len(rig.requests("update_call")),
            failed_notices=len(rig.notices("failed")),
        )
        for call_id in seeded:
            rig.relay(call_id, rig.standin.call(SERVER_ID, call_id)["metaData"])
        await rig.run(2 * seconds)
        outcome.patches_after_relay = len(rig.requests("update_call")) - outcome.patches
        outcome.lost_after_relay = keys_lost(rig, seeded)
        return outcome
    finally:
        await close()


# -- item 5: a call declared gone on one reading ----------------------------------------------


class OneReading(Planner):
    """The naive reading of the list: one read without a call, or a 404 for it, ends it."""

    def finish_fetch(self, fetch: Fetch, result: GetResult, now: float) -> list[Notice | Alert]:
        asked_at = self.reads.started.get(fetch.server_id, now)
        events = super().finish_fetch(fetch, result, now)
        if isinstance(result, CallList | Gone):
            for call in self.calls_of(fetch.server_id):
                if call.since <= asked_at and (
                    isinstance(result, Gone) or call.call_id not in result.calls
                ):
                    self.receive(call.server_id, Untrack(call_id=call.call_id), now)
                    events.append(Notice(call.server_id, call.call_id, "gone", "one reading"))
            self.reads.paused_until.pop(fetch.server_id, None)
        return [e for e in events if not (isinstance(e, Notice) and e.state == "failed")]


def one_reading(planner: Planner) -> Planner:
    """The same planner, reading the list the naive way."""
    return OneReading(**{f.name: getattr(planner, f.name) for f in fields(planner) if f.init})


LIST_FAULTS = ("a list lagging behind the CAD", "an item that cannot be read", "404 for the list")


@dataclass
class Readings:
    """Calls wrongly ended by one faulty read of the list, and a really closed call."""

    label: str
    wrongly_ended: dict[str, int]
    closed_reported_after: float | None
    """Seconds from the CAD closing a parked call until the game server was told it is gone."""


async def _one_fault(fault: str, *, naive: bool, calls: int) -> int:
    rig, close = await loopback(naive_planner=one_reading if naive else None)
    try:
        subjects = []
        for i, heading in enumerate(headings(calls)):
            call_id = FIRST_CALL + i
            rig.standin.add_call(SERVER_ID, call_id, given_meta(call_id))
            rig.track(call_id, f"veh:{call_id}")  # no relay: the list is read for its metaData
            subjects.append((f"veh:{call_id}", heading))
        moving(rig, subjects, until=120.0)
        hidden = {FIRST_CALL + i for i in range(calls)}

        def start() -> None:
            if fault == LIST_FAULTS[2]:
                rig.standin.inject(Fault(404, detail="Server 1 is not configured"), 1, "get_calls")
            else:
                rig.standin.list_hidden = hidden
                rig.standin.list_junk = int(fault == LIST_FAULTS[1])

        def end() -> None:
            rig.standin.list_hidden, rig.standin.list_junk = set(), 0

        rig.clock.at(20.0, start)
        # The lag or the unreadable item lasts until the next read is due: one reading is off.
        rig.clock.at(20.0 + 15.0 if fault == LIST_FAULTS[0] else 80.0, end)
        await rig.run(120.0)
        return len(rig.notices("gone"))
    finally:
        await close()


async def _closed_call(*, naive: bool) -> float | None:
    rig, close = await loopback(naive_planner=one_reading if naive else None)
    try:
        subjects = []
        for i, heading in enumerate(headings(4)):
            call_id = FIRST_CALL + i
            rig.standin.add_call(SERVER_ID, call_id, given_meta(call_id))
            rig.track(call_id, f"veh:{call_id}")
            subjects.append((f"veh:{call_id}", heading))
        parked = FIRST_CALL + 4
        rig.standin.add_call(SERVER_ID, parked, given_meta(parked))
        rig.track(parked, "ped:parked")
        rig.clock.at(0.5, lambda: rig.observe("ped:parked", 5.0, 5.0))
        moving(rig, subjects, until=200.0)
        closed_at = 60.0
        rig.clock.at(closed_at, lambda: rig.standin.close_call(SERVER_ID, parked))
        await rig.run(200.0)
        told = [t for t, n in rig.notices("gone") if n.call_id == parked]
        return told[0] - closed_at if told else None
    finally:
        await close()


async def readings(*, naive: bool, calls: int = 4) -> Readings:
    """Each list fault on its own run of `calls` moving calls, and a parked call closed."""
    ended = {fault: await _one_fault(fault, naive=naive, calls=calls) for fault in LIST_FAULTS}
    return Readings(
        "naive: one reading ends a call" if naive else "daemon: closed list, two readings",
        ended,
        await _closed_call(naive=naive),
    )


# -- item 4: a dispatcher's edits, and no relay -----------------------------------------------


@dataclass
class Edits:
    """A dispatcher's edits of calls no relay reports, and how many the bridge reverted."""

    label: str
    edits: int
    reverted: int
    patches: int
    gets: int
    minutes: float

    @property
    def reverted_share(self) -> float:
        """Reverted edits over all edits."""
        return self.reverted / self.edits if self.edits else 0.0

    @property
    def gets_per_minute(self) -> float:
        """Reads of the list per minute."""
        return self.gets / self.minutes


async def edits_without_relay(
    *, meta_max_age: float, calls: int = 6, minutes: float = 20.0, every: float = 20.0
) -> Edits:
    """`calls` moving calls tracked without metaData (no relay); every `every` seconds a
    dispatcher edits the first of them in the CAD; the CAD answers a 503 every 45 s, two
    429s to updates every 5 minutes, and another integration reads the list once a minute (as
    sonorancad's poll does). An edit counts as reverted when a PATCH the CAD
    took replaced it before the dispatcher's next edit of that call."""
    rig, close = await loopback(meta_max_age=meta_max_age)
    seconds = 60.0 * minutes
    try:
        subjects = []
        for i, heading in enumerate(headings(calls)):
            call_id = FIRST_CALL + i
            rig.standin.add_call(SERVER_ID, call_id, given_meta(call_id))
            rig.track(call_id, f"veh:{call_id}")
            subjects.append((f"veh:{call_id}", heading))
        moving(rig, subjects, until=seconds)
        made: list[tuple[int, int, str]] = []
        """(requests the stand-in had seen, call id, the edited value) of each edit."""
        turn = itertools.count()

        def edit() -> None:
            k = next(turn)
            call_id = FIRST_CALL
            meta = rig.standin.call(SERVER_ID, call_id)["metaData"]
            value = f"edit {k}"
            rig.standin.edit_meta(SERVER_ID, call_id, {**meta, "note": value})
            made.append((len(rig.standin.requests), call_id, value))

        rig.clock.every(every, edit, start=every / 2, until=seconds - every)
        rig.clock.every(45.0, lambda: rig.standin.inject(Fault(503)), start=30.0, until=seconds)
        rig.clock.every(
            300.0, lambda: rig.standin.inject(Fault(429, retry_after=6), 2, "update_call"),
            start=100.0, until=seconds,
        )  # fmt: skip
        # sonorancad's own poll of the list, on the same key (elsewhere: it relays nothing here).
        poll = lambda: rig.standin.spend_external("get_calls")  # noqa: E731
        rig.clock.every(60.0, poll, start=7.0, until=seconds)
        await rig.run(seconds)
        reverted = 0
        for n, (mark, call_id, value) in enumerate(made):
            later = [m for m, c, _ in made[n + 1 :] if c == call_id]
            until = later[0] if later else len(rig.standin.requests)
            path = f"/v2/emergency/servers/{SERVER_ID}/dispatch-calls/{call_id}"
            reverted += any(
                r.path == path and r.status == 200 and r.body["metaData"].get("note") != value
                for r in rig.standin.requests[mark:until]
            )
        off = " (off: naive)" if not meta_max_age else ""
        return Edits(
            f"meta_max_age_seconds = {meta_max_age:g}{off}",
            len(made),
            reverted,
            len(rig.requests("update_call")),
            len(rig.requests("get_calls")),
            minutes,
        )
    finally:
        await close()


# -- item 3: an edit relayed while a PATCH is in flight -------------------------------------


class AnswerLast(Planner):
    """The naive order of copies: the PATCH's answer replaces whatever came during it."""

    def finish_push(self, push: Push, result: PatchResult, now: float) -> list[Notice | Alert]:
        server_id, kind, call_id = push.key
        call = self.call(server_id, call_id, kind)
        if call is not None:
            call.relayed_in_flight = None
        return super().finish_push(push, result, now)


def answer_last(planner: Planner) -> Planner:
    """The same planner, letting a PATCH's answer overwrite a relay that came during it."""
    return AnswerLast(**{f.name: getattr(planner, f.name) for f in fields(planner) if f.init})


@dataclass
class InFlight:
    """A dispatcher's edit, relayed while a PATCH of the call was in flight."""

    label: str
    later_patches: int
    carrying: int
    """Of the PATCHes of that call after the one in flight, those that carried the edit."""
    stored: bool
    """Whether the CAD holds the edit at the end."""


async def edit_during_patch(*, naive: bool, minutes: float = 3.0) -> InFlight:
    """Three moving calls whose metaData the resource relays (sonorancad beside it); while the
    third PATCH of the first is in flight, a dispatcher edits it in the CAD (the PATCH then
    overwrites the edit there) and the resource relays the edit."""
    rig, close = await loopback(naive_planner=answer_last if naive else None)
    edited = FIRST_CALL
    try:
        subjects = []
        for i, heading in enumerate(headings(3)):
            call_id = FIRST_CALL + i
            rig.standin.add_call(SERVER_ID, call_id, given_meta(call_id))
            rig.track(call_id, f"veh:{call_id}", given_meta(call_id))
            subjects.append((f"veh:{call_id}", heading))
        moving(rig, subjects, until=60.0 * minutes)
        seen = itertools.count(1)
        marks: list[int] = []
        def during(request: httpx.Request) -> None:
            # The PATCH has begun and not yet reached the CAD.
            call_id = int(request.url.path.rsplit("/", 1)[1])
            if request.method != "PATCH" or call_id != edited or next(seen) != 3:
                return
            meta = {**rig.standin.call(SERVER_ID, call_id)["metaData"], "note": "edited"}
            rig.standin.edit_meta(SERVER_ID, call_id, meta)
            rig.relay(call_id, meta)
            marks.append(len(rig.standin.requests))

        rig.cad.on_send = during
        await rig.run(60.0 * minutes)
        path = f"/v2/emergency/servers/{SERVER_ID}/dispatch-calls/{edited}"
        later = [
            r for r in rig.standin.requests[marks[0] + 1 :] if r.path == path and r.status == 200
        ]
        stored = rig.standin.call(SERVER_ID, edited)["metaData"].get("note") == "edited"
        return InFlight(
            "naive: the answer overwrites the relay" if naive else "daemon: copies ordered",
            len(later),
            sum(1 for r in later if r.body["metaData"].get("note") == "edited"),
            stored,
        )
    finally:
        await close()


# -- the report -------------------------------------------------------------------------------


def _ratio(before: float, after: float) -> str:
    return f"{after / before:.2f}x" if before else "n/a"


async def report(minutes: float) -> list[str]:
    """Every scenario, naive then the daemon's, as report lines."""
    lines = []
    naive, ours = await unlisted_meta(naive=True), await unlisted_meta(naive=False)
    lines.append("item 2, metaData missing from the list (10 calls, 60 s, subjects moving):")
    for run in (naive, ours):
        lines.append(
            f"  {run.label:40} keys lost {run.keys_lost}/{run.seeded_keys}, "
            f"{run.patches} PATCHes, {run.failed_notices} `failed` notices"
        )
    lines.append(
        f"  then each call's metaData relayed: {ours.patches_after_relay} PATCHes in 60 s, "
        f"keys lost {ours.lost_after_relay}"
    )
    lines.append(f"  before -> after: {naive.keys_lost} -> {ours.keys_lost} keys lost")

    naive5, ours5 = await readings(naive=True), await readings(naive=False)
    lines.append("item 5, a call declared gone on one reading (4 moving calls per fault):")
    for reading in (naive5, ours5):
        faults = ", ".join(f"{fault}: {n}" for fault, n in reading.wrongly_ended.items())
        closed = (
            f"{reading.closed_reported_after:.0f} s"
            if reading.closed_reported_after is not None
            else "never"
        )
        lines.append(
            f"  {reading.label:40} wrongly ended: {faults}; a closed parked call told after "
            f"{closed}"
        )
    before, after = sum(naive5.wrongly_ended.values()), sum(ours5.wrongly_ended.values())
    lines.append(f"  before -> after: {before} -> {after} calls wrongly ended")

    off = await edits_without_relay(meta_max_age=0.0, minutes=minutes)
    on = await edits_without_relay(meta_max_age=15.0, minutes=minutes)
    lines.append(
        f"item 4, edits without a relay (6 moving calls, one edited every 20 s, 503s and 429s, "
        f"{minutes:g} min):"
    )
    for edits in (off, on):
        lines.append(
            f"  {edits.label:40} reverted {edits.reverted}/{edits.edits} "
            f"({edits.reverted_share:.0%}), {edits.patches} PATCHes, "
            f"{edits.gets_per_minute:.1f} GETs/min"
        )
    lines.append(
        f"  before -> after: {off.reverted_share:.0%} -> {on.reverted_share:.0%} reverted "
        f"({_ratio(off.reverted_share, on.reverted_share)})"
    )
    naive3, ours3 = await edit_during_patch(naive=True), await edit_during_patch(naive=False)
    lines.append("item 3, an edit relayed while a PATCH is in flight (3 moving calls, 3 min):")
    for run3 in (naive3, ours3):
        lines.append(
            f"  {run3.label:40} later PATCHes carrying the edit {run3.carrying}/"
            f"{run3.later_patches}; the CAD holds it at the end: {run3.stored}"
        )
    lines.append(
        f"  before -> after: {naive3.carrying}/{naive3.later_patches} -> "
        f"{ours3.carrying}/{ours3.later_patches} later PATCHes carry the edit"
    )
    return lines


def main(argv: list[str] | None = None) -> None:
    """Run every scenario and print the figures."""
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=20.0, help="length of the edits run")
    args = parser.parse_args(argv)
    for line in asyncio.run(report(args.minutes)):
        print(line)


if __name__ == "__main__":
    main()


__all__ = ["Loopback", "edits_without_relay", "loopback", "readings", "unlisted_meta"]
