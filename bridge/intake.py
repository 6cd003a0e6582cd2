"""What a game server says, folded into the tracked calls: positions, tracks, relays, closes.

Pure: the tracker, the settings and the time come in; what to tell the game server and the log
comes out. A `postal_file` means reading a file, which is the shell's: it is ignored here.
"""

from __future__ import annotations

from bridge import phase
from bridge.actions import TOO_MANY_CALLS, Heard, Notice, Refused, call_fields
from bridge.protocol import (
    CallClosed,
    CallMeta,
    CallMetaStale,
    InboundMessage,
    Positions,
    Sync,
    Track,
    Untrack,
)
from bridge.settings import Settings
from bridge.tracker import Tracker

Said = Notice | Heard | Refused
"""What a message makes the daemon tell its game server, or the log."""


def receive(
    tracker: Tracker, settings: Settings, server_id: int, message: InboundMessage, now: float
) -> list[Said]:
    """Fold one message from a game server into the tracker; returns what to tell it and log."""
    said: list[Said] = []
    match message:
        case Positions(items=items):
            for item in items:
                tracker.observe(
                    server_id, item.subject, item.x, item.y, item.z, now,
                    vx=item.vx, vy=item.vy, speed=item.speed, heading=item.heading,
                )  # fmt: skip
        case Track(call_id=call_id, kind=kind) if (
            tracker.get(server_id, call_id, kind) is None
            and tracker.count_of(server_id) >= settings.max_calls
        ):
            said.append(too_many(settings.max_calls, server_id, [call_id]))
        case Track(call_id=call_id, subject=subject, radius=radius, meta=meta, kind=kind):
            tracked = tracker.track(
                server_id, call_id, subject, now, radius=radius, meta=meta, kind=kind,
                cad_postal=message.cad_postal,
            )  # fmt: skip
            said.append(Notice.of(tracked, "following"))
            said.append(Heard("tracking", {**call_fields(tracked), "subject": subject}))
        case Untrack(call_id=call_id, kind=kind):
            if (untracked := tracker.untrack(server_id, call_id, kind)) is not None:
                said.append(Heard("untracked", call_fields(untracked)))
        case Sync():
            said.extend(_sync(tracker, settings, server_id, message, now))
        case CallMeta(call_id=call_id, meta=meta, kind=kind):
            if (call := tracker.get(server_id, call_id, kind)) is not None:
                phase.relayed(call, meta, now, settings.relay_lag)
        case CallMetaStale(call_id=call_id, kind=kind):
            if (call := tracker.get(server_id, call_id, kind)) is not None:
                phase.marked_stale(call, now)
                said.append(Heard("metaData stale, reading it before the next push",
                                  call_fields(call)))  # fmt: skip
        case CallClosed(call_id=call_id, kind=kind):
            if (closed := tracker.untrack(server_id, call_id, kind)) is not None:
                said.append(Notice.of(closed, "gone", "closed in the CAD"))
                said.append(Heard("call closed, stopped following", call_fields(closed)))
    return said


def _sync(
    tracker: Tracker, settings: Settings, server_id: int, message: Sync, now: float
) -> list[Said]:
    """A game server's whole set of calls (after it connects): those past the cap refused."""
    said: list[Said] = []
    kept = {(spec.kind, spec.call_id): spec for spec in message.tracks}
    if len(kept) > settings.max_calls:
        over = list(kept)[settings.max_calls :]
        said.append(too_many(settings.max_calls, server_id, [call_id for _, call_id in over]))
        for key in over:
            del kept[key]
    tracks = list(kept.values())
    added, removed = tracker.sync(
        server_id,
        [(t.call_id, t.subject, t.radius, t.meta, t.kind, t.cad_postal) for t in tracks],
        now,
    )
    said.extend(Notice(server_id, call_id, "following", None, kind) for _, kind, call_id in added)
    figures: dict[str, int | str] = {
        "server_id": server_id, "tracks": len(tracks), "added": len(added), "removed": len(removed)
    }  # fmt: skip
    said.append(Heard("synced", figures))
    return said


def too_many(cap: int, server_id: int, call_ids: list[int]) -> Refused:
    """The error for calls past the cap of one game server (the ones it follows stay)."""
    listed = ", ".join(str(c) for c in call_ids[:5]) + (", ..." if len(call_ids) > 5 else "")
    return Refused(
        server_id,
        TOO_MANY_CALLS,
        f"server {server_id} may have {cap} calls followed at once "
        f"(tracking.max_calls_per_server): {len(call_ids)} more not followed (call "
        f"{listed}); untrack closed calls, or raise the cap in the daemon's config",
    )
