"""Where a followed call stands, and the named transitions that move it.

A call's standing is a few facts that hold apart from each other: whether its metaData is
known (and whether the CAD changed it behind the relay), whether a push of it is in flight,
whether the CAD refused its last update or answered it with a bare 404, whether the last read
of the list lacked it. The planner and the tracker change them only through the transitions
here, each named for what happened; `phase_of` reads them, once, into the `Phase` the status
page shows and the game server is told. Pure: the time is an argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum

from bridge import meta as metadata
from bridge.outcomes import Meta
from bridge.tracker import Call, Fix

RejectionWait = Callable[[int], float]
"""Seconds a call refused this many times in a row waits before its next push."""


class Phase(StrEnum):
    """Where a call stands, as the status page words it (the first that holds, in this order)."""

    WAITING_META = "waiting for its metaData"
    """Its metaData is unknown: nothing is pushed until a relay or a read brings it."""
    READING_META = "reading its changed metaData"
    """The CAD changed its metaData in a way the relay could not carry: read before a push."""
    COLLIDES = "not moved: a dispatch call has its id"
    WAITING_POSITION = "waiting for a position"
    REFUSED = "update refused; waiting for a new position"
    FOLLOWING = "following"
    """Followed, not pushed yet."""
    PUSHED = "pushed"

    @property
    def waits_for_meta(self) -> bool:
        """No push can go before metaData is learned."""
        return self in (Phase.WAITING_META, Phase.READING_META)


def phase_of(call: Call, fix: Fix | None) -> Phase:
    """Where the call stands, given its subject's latest fix (None before the first)."""
    if call.meta is None:
        return Phase.WAITING_META
    if call.stale_at is not None:
        return Phase.READING_META
    if call.collides:
        return Phase.COLLIDES
    if fix is None:
        return Phase.WAITING_POSITION
    if call.held_fix_t is not None and fix.t <= call.held_fix_t:
        return Phase.REFUSED
    return Phase.FOLLOWING if call.pushed_at is None else Phase.PUSHED


# --- what the game server said ------------------------------------------------------------


def relayed(call: Call, meta: Meta, now: float, relay_lag: float) -> None:
    """The game server relayed the call's metaData (a faithful copy of the CAD's)."""
    known = call.meta
    call.learn_meta(meta, now, authoritative=False)
    call.stale_at = None  # newer than the edit the relay could not carry
    if call.push_began is not None:  # newer than the PATCH in flight
        call.relayed_in_flight = dict(meta)
    elif (
        call.pushed_at is not None
        and now - call.pushed_at <= relay_lag
        and known is not None
        and metadata.unowned(meta) != metadata.unowned(known)
    ):
        # Relayed just after an answer: the edit may be one that PATCH overwrote in the CAD,
        # its relay late. Push it back to be sure.
        call.owed = True


def marked_stale(call: Call, now: float) -> None:
    """The game server says the CAD changed the metaData in a way it cannot relay."""
    call.stale_at = now


# --- a push and its answer ------------------------------------------------------------------


def push_began(call: Call, now: float) -> None:
    """A PATCH of the call leaves now."""
    call.push_began = now


def push_ended(call: Call) -> Meta | None:
    """The PATCH in flight has its answer; returns the copy relayed while it was in flight."""
    copy, call.relayed_in_flight, call.push_began = call.relayed_in_flight, None, None
    return copy


def landed(
    call: Call,
    stored: Meta,
    sent: Meta,
    copy: Meta | None,
    now: float,
    *,
    listed_postal: object,
    sent_postal: str | None,
) -> None:
    """The CAD took the update: `stored` is its metaData now (the PATCH replaced it whole),
    `copy` one the game server relayed while it was in flight (newer than what was sent)."""
    call.owed = False
    if copy is not None:
        stored = metadata.ordered(stored, copy)
        call.owed = metadata.unowned(stored) != metadata.unowned(sent)
    call.learn_meta(stored, now)
    call.absent_at = None
    call.held_fix_t = None
    call.rejections, call.refused_until = 0, -math.inf
    answered = (call.meta or {}).get("postal") if call.emergency else listed_postal
    if isinstance(answered, str):
        call.postal = answered  # the CAD's, whoever set it
    elif sent_postal is not None:
        call.postal = sent_postal


def refused(call: Call, fix_t: float, now: float, wait: RejectionWait) -> None:
    """The CAD refused the update (400/422...): the call waits for a fix newer than the one
    the update came from, and backs off on its own, so a call refused for good cannot take
    every slot (its error grows for ever: it would always be the most deserving)."""
    call.held_fix_t = fix_t
    call.rejections += 1
    call.refused_until = now + wait(call.rejections)
    call.acc, call.acc_at = 0.0, now
    call.right_at = now


def missing(call: Call, now: float) -> None:
    """A 404 for the update that did not say whether the call or the server id is missing:
    never dropped on that; a read of the list tells the two apart."""
    call.missing_at = now


# --- a read of the server's list ---------------------------------------------------------


def collides(call: Call, colliding: bool) -> bool:
    """Whether a dispatch call listed has this 911 call's id; True when that is news."""
    news = colliding and not call.collides
    call.collides = colliding
    return news


def listed(call: Call, asked_at: float, now: float, wait: RejectionWait) -> None:
    """The list has the call: not gone. Listed, yet its update was a 404: refused, not gone;
    it backs off."""
    if call.missing_at is not None and call.missing_at <= asked_at:
        call.missing_at = None
        call.rejections += 1
        call.refused_until = now + wait(call.rejections)
    call.absent_at = None


def told_unknown(call: Call) -> bool:
    """The game server is told the call waits for its metaData; False when it was told."""
    if call.unknown_told:
        return False
    call.unknown_told = True
    return True


def read(call: Call, meta: Meta, asked_at: float, now: float) -> None:
    """A read asked for at `asked_at` brought the call's metaData, newer than what is known."""
    call.learn_meta(meta, now)
    if call.stale_at is not None and call.stale_at <= asked_at:
        call.stale_at = None


def absent(call: Call, asked_at: float) -> None:
    """A complete read lacked the call: a second one a fetch interval later decides."""
    call.absent_at = asked_at
