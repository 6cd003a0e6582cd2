"""The reads of each game server's list of calls: when one is due, and what one teaches.

A list is read to learn metaData the bridge does not know, to tell whether a call the last
read lacked (or whose update was a bare 404) is gone, to tell a 911 call from a dispatch call
of its id, to see calls closed with no event (`close_check`), and at the end of a server's
pause. Per server, `Reads` keeps when its list was last read and asked for, the dispatch ids
the last read listed, and its pause after a 404 for the list. No I/O and no clock: every
method takes the time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from bridge import phase
from bridge.actions import (
    CLOSED_LISTED,
    COLLIDES,
    UNKNOWN_META,
    Alert,
    AlertKind,
    Fetch,
    Notice,
)
from bridge.budget import Backoff, Budget
from bridge.outcomes import CallList, GetResult, Gone
from bridge.settings import Settings
from bridge.tracker import Call, Tracker


@dataclass
class Reads:
    """Each game server's reads of its list of calls, and its pause."""

    fetched_at: dict[int, float] = field(default_factory=dict)
    """Server -> when its list last answered (a failed read does not space the next)."""
    started: dict[int, float] = field(default_factory=dict)
    """Server -> when the read of its list now in flight was asked for."""
    dispatch_ids: dict[int, tuple[float, frozenset[int]]] = field(default_factory=dict)
    """Server -> (when the last read of its list was asked for, the dispatch call ids it had,
    closed ones too): a 911 call sharing one of them is not pushed."""
    barren: dict[int, int] = field(default_factory=dict)
    """Server -> reads in a row that taught none of the metaData its calls wait for."""
    paused_until: dict[int, float] = field(default_factory=dict)
    """Servers whose list of calls answered 404, and until when their requests wait."""
    pauses: dict[int, Backoff] = field(default_factory=dict)

    def apart(self, call: Call, tracker: Tracker) -> bool:
        """Whether a 911 call may go through the update route, which serves both kinds
        ("Dispatch or 911 call ID"): a read of its server's list begun after it was followed
        listed no dispatch call of its id, and no dispatch call of its id is followed."""
        if tracker.get(call.server_id, call.call_id) is not None:
            return False
        read = self.dispatch_ids.get(call.server_id)
        return read is not None and read[0] >= call.since and call.call_id not in read[1]

    def wanted(self, tracker: Tracker, interval: float) -> dict[int, float]:
        """Servers whose list must be read -> the least time since the last read.

        A call whose metaData is unknown (and has a fix to push), a call the last read lacked
        (a second reading decides), a paused server (the read at the pause's end tells whether
        the CAD knows it again). Reads that keep lacking the metaData wanted slow down to a
        quarter of the rate: nothing is spent for nothing.
        """
        wanted: dict[int, float] = {}
        for call in tracker:
            server_id = call.server_id
            if (
                call.absent_at is not None
                or call.missing_at is not None
                or server_id in self.paused_until
            ):
                least = interval
            elif (call.meta is None or call.stale_at is not None) and tracker.fix_of(
                call
            ) is not None:
                least = interval * 2 ** min(self.barren.get(server_id, 0), 2)
            elif (
                call.emergency
                and tracker.fix_of(call) is not None
                and not call.collides
                and tracker.get(server_id, call.call_id) is None
                and not self.apart(call, tracker)
            ):
                least = interval  # pushed once a read shows no dispatch call of its id
            else:
                continue
            wanted[server_id] = min(least, wanted.get(server_id, math.inf))
        return wanted

    def due(
        self, tracker: Tracker, settings: Settings, budget: Budget | None, now: float
    ) -> dict[int, float]:
        """Servers whose list must be read -> when a GET of their calls may go."""
        if budget is None:
            return {}
        slot = budget.next_slot(now)
        due = {
            server_id: max(
                slot,
                self.fetched_at.get(server_id, -math.inf) + least,
                self.paused_until.get(server_id, -math.inf),
            )
            for server_id, least in self.wanted(tracker, settings.fetch_interval).items()
        }
        for server_id, since in self._close_checks(tracker, settings.close_check).items():
            last = max(self.fetched_at.get(server_id, -math.inf), since)
            at = max(slot, last + settings.close_check)
            due[server_id] = min(due.get(server_id, math.inf), at)
        return due

    def _close_checks(self, tracker: Tracker, close_check: float) -> dict[int, float]:
        """Servers whose list is read every `close_check` -> since when: those with a call that
        has a fix (one a push could go to). Closing is told by events only in part: the first
        of several calls closed at once, none closed through the API."""
        if not close_check:
            return {}
        since: dict[int, float] = {}
        for call in tracker:
            server_id = call.server_id
            if server_id in self.paused_until or tracker.fix_of(call) is None:
                continue
            since[server_id] = min(call.since, since.get(server_id, math.inf))
        return since

    def next_fetch(
        self, tracker: Tracker, settings: Settings, budget: Budget | None, now: float
    ) -> Fetch | None:
        """The read due now (the lowest server id first), or None."""
        due = [s for s, at in self.due(tracker, settings, budget, now).items() if at <= now]
        return Fetch(min(due)) if due else None

    def begun(self, server_id: int, now: float) -> None:
        """A read of the server's list leaves now."""
        self.started[server_id] = now

    def answered(
        self,
        server_id: int,
        result: GetResult,
        now: float,
        tracker: Tracker,
        settings: Settings,
        wait: phase.RejectionWait,
    ) -> list[Notice | Alert]:
        """Fold the answer to a read of the server's list into state (a 404 for it is the
        caller's to pause on)."""
        asked_at = self.started.pop(server_id, now)
        if isinstance(result, CallList | Gone):
            # Only an answer spaces the reads: a failed one is retried after the back-off its
            # budget took, or a push waiting for fresh metaData would go without it.
            self.fetched_at[server_id] = now
        if not isinstance(result, CallList):
            return []
        events = self.resume(server_id)
        events.extend(self._learn(server_id, result, asked_at, now, tracker, settings, wait))
        return events

    def _learn(
        self,
        server_id: int,
        listed: CallList,
        asked_at: float,
        now: float,
        tracker: Tracker,
        settings: Settings,
        wait: phase.RejectionWait,
    ) -> list[Notice | Alert]:
        """Learn from one read of a server's calls; a call is gone once two complete reads a
        fetch interval apart both lack it (one may lag behind the CAD)."""
        events: list[Notice | Alert] = []
        wanted = taught = False
        self.dispatch_ids[server_id] = (asked_at, frozenset(listed.calls) | listed.closed)
        for call in tracker.calls_of(server_id):
            if call.emergency and call.since <= asked_at:
                if phase.collides(call, not self.apart(call, tracker)):
                    events.append(Notice.of(call, "failed", COLLIDES))
            if call.since > asked_at:
                continue  # tracked after the list was asked for: it may be newer than it
            active = listed.emergency if call.emergency else listed.calls
            missing = call.missing_at is not None and call.missing_at <= asked_at
            if not call.emergency and call.call_id in listed.closed:
                tracker.untrack(server_id, call.call_id, call.kind)
                events.append(Notice.of(call, "gone", CLOSED_LISTED))
            elif missing and call.call_id not in active and listed.complete:
                tracker.untrack(server_id, call.call_id, call.kind)
                detail = "404 for its update, and the CAD's list of calls lacks it"
                events.append(Notice.of(call, "gone", detail))
            elif call.call_id in active:
                phase.listed(call, asked_at, now, wait)
                meta = active[call.call_id]
                unknown = call.meta is None or (
                    call.stale_at is not None and call.stale_at <= asked_at
                )
                wanted = wanted or unknown
                if meta is None:
                    if unknown and phase.told_unknown(call):
                        events.append(Notice.of(call, "failed", UNKNOWN_META))
                elif unknown or call.meta_at is None or call.meta_at <= asked_at:
                    # Newer than anything known: a relay that came during the read is kept.
                    taught = taught or unknown
                    phase.read(call, meta, asked_at, now)
            elif not listed.complete:
                continue  # an item could not be read: it may have been this call
            elif call.absent_at is None:
                phase.absent(call, asked_at)
            elif asked_at - call.absent_at >= settings.fetch_interval:
                tracker.untrack(server_id, call.call_id, call.kind)
                apart = asked_at - call.absent_at
                detail = f"not an active call in the CAD (two reads {apart:.0f} s apart)"
                events.append(Notice.of(call, "gone", detail))
        self.barren[server_id] = self.barren.get(server_id, 0) + 1 if wanted and not taught else 0
        return events

    def pause(self, server_id: int, now: float, settings: Settings) -> bool:
        """The CAD does not know the server id (now): its requests wait, doubling while the
        answer stays 404. True when the pause begins (not when it grows)."""
        backoff = self.pauses.setdefault(
            server_id, Backoff(settings.server_pause, settings.server_pause_cap)
        )
        first = server_id not in self.paused_until
        self.paused_until[server_id] = now + backoff.delay()
        return first

    def resume(self, server_id: int) -> list[Notice | Alert]:
        """The CAD lists the server's calls: a pause ends."""
        if self.paused_until.pop(server_id, None) is None:
            return []
        self.pauses.pop(server_id, None)
        return [Alert(AlertKind.SERVER_KNOWN, "the CAD lists its calls again", server_id)]
