"""Whether a push wants the call's metaData read afresh first: pure rules over what is known.

A dispatcher's edit of a call reaches the bridge through a relay (the game server's copy) or
through a read of the server's list of calls. A push sends the whole metaData back, so a push
of metaData known for longer than `meta_max_age` would revert an edit nobody relayed: it is
read afresh first, when the fetch interval and the GET budget let a read go. The planner asks
`freshen`; nothing here changes state.
"""

from __future__ import annotations

import math
from typing import Literal

from bridge.budget import Budget
from bridge.tracker import Call

Freshen = Literal["read", "wait"] | None
"""What a push wants first: a read of its server's list now, to wait for one, or nothing."""


def meta_old(call: Call, at: float, max_age: float) -> bool:
    """Whether a push of the call at `at` wants its metaData read afresh first: known for
    longer than `max_age` (0: never), and no relay brings its edits."""
    if not max_age or call.relayed:
        return False
    return call.meta_at is None or at - call.meta_at > max_age


def may_read(last_read: float | None, now: float, fetch_interval: float) -> bool:
    """Whether the fetch interval since the server's last read (None: never) lets one go now."""
    last = -math.inf if last_read is None else last_read
    return now >= last + fetch_interval


def freshen(
    call: Call,
    at: float,
    now: float,
    *,
    get_budget: Budget | None,
    last_read: float | None,
    max_age: float,
    fetch_interval: float,
    meta_wait: float,
) -> Freshen:
    """A read of the call's list, begun `now`, before its push at `at`, when what is known
    of its metaData is older than `max_age`: an edit no relay brought is then kept, not
    reverted.

    Reads of a server are a fetch interval apart at least, and within the GET budget; between
    them the push goes as is. A read held back by a failure's back-off is waited for
    (`meta_wait` at most). A call whose metaData the game server relays needs none.
    """
    if get_budget is None or not meta_old(call, at, max_age):
        return None
    if not may_read(last_read, now, fetch_interval):
        return None
    slot = get_budget.next_slot(now)
    if slot <= now:
        return "read"
    held = get_budget.blocked_until() > now and slot - now <= meta_wait
    return "wait" if held else None
