"""What the CAD's answer to a PATCH means for the call it updated.

Pure: the tracker, the push, its result and the time come in; the call's state moves by the
named transitions of `bridge.phase`, and the notices to send come out. What the answer says of
the route (429s, failures, the key) is `bridge.routes.Health`'s; a 404 that names the server id
is the planner's, which pauses the server.
"""

from __future__ import annotations

from bridge import phase
from bridge.actions import MISSING, Notice, Push
from bridge.outcomes import Gone, PatchResult, Rejected, Updated
from bridge.tracker import Tracker


def fold_update(
    tracker: Tracker, push: Push, result: PatchResult, now: float, wait: phase.RejectionWait
) -> list[Notice]:
    """Fold the answer to a PATCH into the call it updated; returns what to tell its server."""
    call = tracker.calls.get(push.key)
    server_id, kind, call_id = push.key
    copy = phase.push_ended(call) if call is not None else None
    match result:
        case Updated(meta=meta):
            if call is not None:
                # The PATCH replaced the stored object whole: an answer without readable
                # metaData leaves what was sent as the best knowledge of it, never {}.
                stored = meta if meta is not None else push.meta
                phase.landed(
                    call, stored, push.meta, copy, now,
                    listed_postal=result.call.get("postal"), sent_postal=push.postal,
                )  # fmt: skip
                # The CAD's stored position is the truth; the pushed one if it sent none.
                x, y = call.drawn or (push.x, push.y)
                tracker.drawn_moved(call, x, y, now)
            return [Notice(server_id, call_id, "pushed", None, kind)]
        case Gone(what="server"):
            return []
        case Gone(detail=detail, what="unknown") if call is not None:
            # The only 404 the CAD documents is "serverId not configured": never drop a call
            # on one that does not say which; the list read tells the two apart.
            phase.missing(call, now)
            return [Notice.of(call, "failed", f"{MISSING}: {detail}")]
        case Gone(detail=detail):
            tracker.untrack(server_id, call_id, kind)
            return [Notice(server_id, call_id, "gone", detail, kind)]
        case Rejected(status=status, detail=detail):
            if call is not None:
                phase.refused(call, push.fix_t, now, wait)
            return [Notice(server_id, call_id, "failed", f"HTTP {status}: {detail}", kind)]
    return []
