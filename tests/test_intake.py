"""What a game server says, folded into the tracker on its own (no planner, time given)."""

from __future__ import annotations

from bridge.actions import TOO_MANY_CALLS, Heard, Notice
from bridge.intake import receive
from bridge.protocol import CallMetaStale, Sync, Track, TrackSpec
from bridge.settings import Settings
from bridge.tracker import Tracker


def test_a_track_keeps_whether_sonorans_track_primary_keeps_the_postal() -> None:
    tracker = Tracker()
    receive(tracker, Settings(), 1, Track(call_id=7, subject="veh:7", cad_postal=True), 0.0)
    spec = TrackSpec(call_id=8, subject="veh:8", cad_postal=True)
    receive(tracker, Settings(), 1, Sync(tracks=[spec]), 1.0)
    assert [c.cad_postal for c in tracker] == [True]  # the sync ended call 7
    receive(tracker, Settings(), 1, Sync(tracks=[TrackSpec(call_id=8, subject="veh:8")]), 2.0)
    assert [c.cad_postal for c in tracker] == [False]


def test_a_sync_past_the_cap_follows_the_first_and_refuses_the_rest() -> None:
    tracker, settings = Tracker(), Settings(max_calls=2)
    specs = [TrackSpec(call_id=c, subject=f"veh:{c}") for c in (1, 2, 3)]
    said = receive(tracker, settings, 4, Sync(tracks=specs), 0.0)
    assert [c.call_id for c in tracker] == [1, 2]
    (refused,) = [s for s in said if not isinstance(s, Notice | Heard)]
    assert refused.code == TOO_MANY_CALLS and "(call 3)" in refused.message
    assert Heard("synced", {"server_id": 4, "tracks": 2, "added": 2, "removed": 0}) in said


def test_a_stale_mark_holds_the_call_until_a_read_and_is_logged() -> None:
    tracker = Tracker()
    receive(tracker, Settings(), 1, Track(call_id=7, subject="veh:7", meta={"x": "0"}), 0.0)
    said = receive(tracker, Settings(), 1, CallMetaStale(call_id=7), 3.0)
    call = tracker.get(1, 7)
    assert call is not None and call.stale_at == 3.0
    assert said == [
        Heard("metaData stale, reading it before the next push", {"server_id": 1, "call_id": 7})
    ]
