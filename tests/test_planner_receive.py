"""What each message from a game server means, folded in by `Planner.receive` (no sockets)."""

from __future__ import annotations

from bench.kit import make_planner
from bridge.planner import Heard, Notice, Planner, Push, Settings
from bridge.protocol import (
    CallClosed,
    CallMeta,
    Position,
    Positions,
    PostalFile,
    Sync,
    Track,
    TrackSpec,
    Untrack,
)

META = {"x": "0", "y": "0", "z": "0", "radius": "100", "postal": "221", "uuid": "u-1"}


def notices(said: list[Notice | Heard]) -> list[Notice]:
    return [item for item in said if isinstance(item, Notice)]


def test_track_follows_the_subject_and_says_so() -> None:
    planner = make_planner(get_limit=None, settings=Settings())
    said = planner.receive(1, Track(call_id=7, subject="veh:7", meta=META, cad_postal=True), 2.0)
    assert notices(said) == [Notice(1, 7, "following")]
    assert Heard("tracking", {"server_id": 1, "call_id": 7, "subject": "veh:7"}) in said
    call = planner.call(1, 7)
    assert call is not None and call.meta == META and call.cad_postal and call.since == 2.0


def test_positions_are_fixes_and_make_a_tracked_call_pushable() -> None:
    planner = make_planner(get_limit=None, settings=Settings())
    planner.receive(1, Track(call_id=7, subject="veh:7", meta=META), 0.0)
    fixes = Positions(items=[Position(subject="veh:7", x=100, y=0, z=20, speed=0.0)])
    assert planner.receive(1, fixes, 1.0) == []
    action = planner.next_action(1.0)
    assert isinstance(action, Push) and (action.x, action.y) == (100.0, 0.0)


def test_untrack_stops_following_quietly() -> None:
    planner = make_planner(get_limit=None, settings=Settings())
    planner.receive(1, Track(call_id=7, subject="veh:7"), 0.0)
    said = planner.receive(1, Untrack(call_id=7), 1.0)
    assert notices(said) == [] and planner.call(1, 7) is None
    assert planner.receive(1, Untrack(call_id=7), 2.0) == []


def test_sync_says_following_only_for_calls_it_added() -> None:
    planner = make_planner(get_limit=None, settings=Settings())
    planner.receive(1, Track(call_id=7, subject="veh:7"), 0.0)
    planner.receive(1, Track(call_id=8, subject="veh:8"), 0.0)
    tracks = [
        TrackSpec(call_id=7, subject="veh:7"),
        TrackSpec(call_id=9, subject="veh:9", cad_postal=True),
    ]
    said = planner.receive(1, Sync(tracks=tracks), 1.0)
    assert notices(said) == [Notice(1, 9, "following")]
    assert Heard("synced", {"server_id": 1, "tracks": 2, "added": 1, "removed": 1}) in said
    assert planner.call(1, 8) is None
    nine = planner.call(1, 9)
    assert nine is not None and nine.cad_postal


def test_sync_of_one_server_leaves_another_alone() -> None:
    planner = make_planner(get_limit=None, settings=Settings())
    planner.receive(2, Track(call_id=7, subject="veh:7"), 0.0)
    planner.receive(1, Sync(tracks=[]), 1.0)
    assert planner.call(2, 7) is not None


def test_call_meta_teaches_a_tracked_call_and_ignores_others() -> None:
    planner = make_planner(get_limit=None, settings=Settings())
    planner.receive(1, Track(call_id=7, subject="veh:7"), 0.0)
    assert planner.receive(1, CallMeta(call_id=7, meta=META), 3.0) == []
    call = planner.call(1, 7)
    assert call is not None and call.meta == META and call.meta_at == 3.0
    assert planner.receive(1, CallMeta(call_id=8, meta=META), 3.0) == []
    assert planner.call(1, 8) is None


def test_call_closed_ends_following_with_gone_once() -> None:
    planner = make_planner(get_limit=None, settings=Settings())
    planner.receive(1, Track(call_id=7, subject="veh:7"), 0.0)
    said = planner.receive(1, CallClosed(call_id=7), 1.0)
    assert notices(said) == [Notice(1, 7, "gone", "closed in the CAD")]
    assert planner.call(1, 7) is None
    assert planner.receive(1, CallClosed(call_id=7), 2.0) == []


def test_a_postal_file_is_left_to_the_shell() -> None:
    planner = make_planner(get_limit=None, settings=Settings())
    assert planner.receive(1, PostalFile(path="/nowhere/postals.json"), 0.0) == []
    assert planner.postals is None


# --- a relay while a PATCH is in flight ---------------------------------------------------


def pushing(planner: Planner) -> Push:
    """Call 7 moved 100 m and its PATCH has begun at 1.0."""
    planner.receive(1, Track(call_id=7, subject="veh:7", meta=META), 0.0)
    planner.receive(1, Positions(items=[Position(subject="veh:7", x=100, y=0, z=0)]), 1.0)
    push = planner.next_action(1.0)
    assert isinstance(push, Push)
    planner.begin(push, 1.0)
    return push


def test_an_edit_relayed_during_a_patch_outlives_its_answer_and_is_pushed_again() -> None:
    from bridge.outcomes import Updated

    planner = make_planner(get_limit=None, settings=Settings())
    push = pushing(planner)
    edited = {**META, "note": "dispatcher edit", "units": [7, 8]}
    planner.receive(1, CallMeta(call_id=7, meta=edited), 1.2)
    # The answer is the CAD's copy after our PATCH: without the edit, which it overwrote.
    planner.finish_push(push, Updated(call={"metaData": push.meta}, meta=dict(push.meta)), 1.4)
    call = planner.call(1, 7)
    assert call is not None and call.meta is not None
    assert call.meta["note"] == "dispatcher edit" and call.meta["units"] == [7, 8]
    assert (call.meta["x"], call.meta["y"]) == ("100", "0")  # the owned keys: the answer's
    again = planner.next_action(8.0)  # the subject did not move: the edit alone is owed
    assert isinstance(again, Push) and again.meta["note"] == "dispatcher edit"
    planner.begin(again, 8.0)
    planner.finish_push(again, Updated(call={}, meta=dict(again.meta)), 8.2)
    assert planner.next_action(20.0) is None  # restored: nothing owed any more


def test_a_relay_before_the_patch_began_is_no_reason_to_push_again() -> None:
    from bridge.outcomes import Updated

    planner = make_planner(get_limit=None, settings=Settings())
    planner.receive(1, Track(call_id=7, subject="veh:7", meta=META), 0.0)
    edited = {**META, "note": "dispatcher edit"}
    planner.receive(1, CallMeta(call_id=7, meta=edited), 0.5)
    planner.receive(1, Positions(items=[Position(subject="veh:7", x=100, y=0, z=0)]), 1.0)
    push = planner.next_action(1.0)
    assert isinstance(push, Push) and push.meta["note"] == "dispatcher edit"
    planner.begin(push, 1.0)
    planner.finish_push(push, Updated(call={}, meta=dict(push.meta)), 1.4)
    assert planner.next_action(20.0) is None


def test_an_edit_relayed_just_after_the_answer_is_pushed_back_a_later_one_is_not() -> None:
    from bridge.outcomes import Updated

    for relayed_at, owed in ((2.5, True), (9.0, False)):
        planner = make_planner(get_limit=None, settings=Settings())
        push = pushing(planner)
        planner.finish_push(push, Updated(call={}, meta=dict(push.meta)), 1.4)
        edited = {**push.meta, "note": "dispatcher edit"}
        planner.receive(1, CallMeta(call_id=7, meta=edited), relayed_at)
        again = planner.next_action(20.0)
        assert isinstance(again, Push) is owed, relayed_at
        if owed:
            assert again.meta["note"] == "dispatcher edit"  # type: ignore[union-attr]
