"""Dispatch and 911 calls kept apart, and `call_meta_stale` honoured (protocol v1 additions)."""

from __future__ import annotations

import pytest

from bench.kit import make_planner
from bridge import protocol
from bridge.outcomes import CallList, Gone, Updated
from bridge.planner import COLLIDES, Fetch, Notice, Planner, Push
from bridge.postal import PostalIndex
from bridge.protocol import (
    CallClosed,
    CallMeta,
    CallMetaStale,
    CallState,
    Position,
    Positions,
    ProtocolError,
    Sync,
    Track,
    TrackSpec,
    Untrack,
)

META = {"x": "0", "y": "0", "z": "0", "radius": "100", "uuid": "u-1"}
META_911 = {"x": "0", "y": "0", "z": "0", "phone": "555-0100", "postal": "9001"}


def moved(planner: Planner, subject: str, now: float = 1.0) -> None:
    fixes = Positions(items=[Position(subject=subject, x=100.0, y=0.0, z=20.0, speed=0.0)])
    planner.receive(1, fixes, now)


# --- the wire --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"track","call_id":1,"subject":"a","kind":"fire"}',
        '{"type":"untrack","call_id":1,"kind":"911"}',
        '{"type":"call_meta","call_id":1,"meta":{},"kind":"Emergency"}',
        '{"type":"call_meta_stale","call_id":1,"kind":1}',
        '{"type":"call_closed","call_id":1,"kind":null}',
        '{"type":"sync","tracks":[{"call_id":1,"subject":"a","kind":"x"}]}',
    ],
)
def test_any_other_kind_is_an_error_naming_it(frame: str) -> None:
    with pytest.raises(ProtocolError, match=r"\$\.(tracks\[0\]\.)?kind"):
        protocol.decode(frame)


def test_kind_defaults_to_dispatch_and_reads_emergency() -> None:
    assert protocol.decode('{"type":"track","call_id":1,"subject":"a"}').kind == "dispatch"  # type: ignore[union-attr]
    stale = protocol.decode('{"type":"call_meta_stale","call_id":501,"kind":"emergency"}')
    assert stale == CallMetaStale(call_id=501, kind="emergency")
    synced = protocol.decode(
        '{"type":"sync","tracks":[{"call_id":1,"subject":"a","kind":"emergency"}]}'
    )
    assert isinstance(synced, Sync) and synced.tracks[0].kind == "emergency"


def test_call_state_names_the_kind_only_for_a_911_call() -> None:
    dispatch = protocol.encode(CallState(call_id=5, state="pushed"))
    emergency = protocol.encode(CallState(call_id=5, state="pushed", kind="emergency"))
    assert '"kind"' not in dispatch
    assert '"kind":"emergency"' in emergency
    assert protocol.decode_outbound(emergency) == CallState(
        call_id=5, state="pushed", kind="emergency"
    )


# --- one id, two calls ------------------------------------------------------------------


def test_a_dispatch_call_and_a_911_call_with_one_id_are_two_calls() -> None:
    planner = make_planner()
    said = planner.receive(1, Track(call_id=501, subject="a", meta=META), 0.0)
    said += planner.receive(
        1, Track(call_id=501, subject="b", meta=META_911, kind="emergency"), 0.0
    )
    assert [n for n in said if isinstance(n, Notice)] == [
        Notice(1, 501, "following"),
        Notice(1, 501, "following", None, "emergency"),
    ]
    assert len([*planner.calls()]) == 2
    dispatch = planner.call(1, 501)
    emergency = planner.call(1, 501, "emergency")
    assert dispatch is not None and emergency is not None and dispatch is not emergency
    assert dispatch.meta == META and emergency.meta == META_911


def test_messages_about_one_kind_leave_the_other_alone() -> None:
    planner = make_planner()
    planner.receive(1, Track(call_id=501, subject="a", meta=META), 0.0)
    planner.receive(1, Track(call_id=501, subject="b", meta=META_911, kind="emergency"), 0.0)
    planner.receive(1, CallMeta(call_id=501, meta={"edited": "yes"}, kind="emergency"), 1.0)
    assert planner.call(1, 501).meta == META  # type: ignore[union-attr]
    said = planner.receive(1, CallClosed(call_id=501, kind="emergency"), 2.0)
    assert Notice(1, 501, "gone", "closed in the CAD", "emergency") in said
    assert planner.call(1, 501) is not None
    assert planner.call(1, 501, "emergency") is None
    planner.receive(1, Untrack(call_id=501, kind="emergency"), 3.0)
    assert planner.call(1, 501) is not None
    planner.receive(1, Untrack(call_id=501), 3.0)
    assert len([*planner.calls()]) == 0


def test_sync_keeps_both_kinds_of_one_id() -> None:
    planner = make_planner()
    tracks = [
        TrackSpec(call_id=501, subject="a", meta=META),
        TrackSpec(call_id=501, subject="b", meta=META_911, kind="emergency"),
    ]
    said = planner.receive(1, Sync(tracks=tracks), 0.0)
    assert [n for n in said if isinstance(n, Notice)] == [
        Notice(1, 501, "following"),
        Notice(1, 501, "following", None, "emergency"),
    ]
    planner.receive(1, Sync(tracks=tracks[1:]), 1.0)
    assert planner.call(1, 501) is None
    assert planner.call(1, 501, "emergency") is not None


def test_a_404_of_the_911_call_ends_only_it() -> None:
    planner = make_planner()
    planner.receive(1, Track(call_id=501, subject="a", meta=META), 0.0)
    planner.receive(1, Track(call_id=502, subject="b", meta=META_911, kind="emergency"), 0.0)
    moved(planner, "b")
    read = planner.next_action(1.0)
    assert read == Fetch(1)
    planner.begin(read, 1.0)
    planner.finish_fetch(read, CallList({501: META}, emergency={502: META_911}), 1.5)
    push = planner.next_action(1.5)
    assert isinstance(push, Push) and push.key == (1, "emergency", 502)
    planner.begin(push, 1.5)
    events = planner.finish_push(push, Gone("call not found", "call"), 2.0)
    assert events == [Notice(1, 502, "gone", "call not found", "emergency")]
    assert planner.call(1, 501) is not None


def test_a_911_call_is_pushed_only_after_a_read_shows_no_dispatch_call_of_its_id() -> None:
    planner = make_planner()
    planner.receive(1, Track(call_id=501, subject="b", meta=META_911, kind="emergency"), 0.0)
    moved(planner, "b")
    read = planner.next_action(1.0)
    assert read == Fetch(1)  # its metaData is known, yet no push before the read
    planner.begin(read, 1.0)
    events = planner.finish_fetch(read, CallList({501: META}, emergency={501: META_911}), 1.5)
    assert events == [Notice(1, 501, "failed", COLLIDES, "emergency")]
    assert planner.next_action(1.5) is None
    assert planner.next_action(100.0) is None  # and no read spent on it either
    planner.observe(1, "b", 300.0, 0.0, 20.0, 101.0)
    assert planner.next_action(101.0) is None


def test_a_911_call_is_never_pushed_while_the_dispatch_call_of_its_id_is_followed() -> None:
    planner = make_planner()
    planner.receive(1, Track(call_id=501, subject="a", meta=META), 0.0)
    planner.receive(1, Track(call_id=501, subject="b", meta=META_911, kind="emergency"), 0.0)
    moved(planner, "b")
    for now in (1.0, 20.0, 60.0):
        action = planner.next_action(now)
        assert not isinstance(action, Push)


def test_a_list_read_learns_each_kind_from_its_own_list() -> None:
    planner = make_planner()
    planner.receive(1, Track(call_id=501, subject="a"), 0.0)
    planner.receive(1, Track(call_id=501, subject="b", kind="emergency"), 0.0)
    moved(planner, "a")
    fetch = planner.next_action(1.0)
    assert fetch == Fetch(1)
    planner.begin(fetch, 1.0)
    planner.finish_fetch(fetch, CallList({501: META}, emergency={501: META_911}), 1.5)
    assert planner.call(1, 501).meta == META  # type: ignore[union-attr]
    assert planner.call(1, 501, "emergency").meta == META_911  # type: ignore[union-attr]


def test_a_911_call_listed_only_as_a_dispatch_id_is_not_taken_for_it() -> None:
    planner = make_planner()
    planner.receive(1, Track(call_id=501, subject="b", kind="emergency"), 0.0)
    moved(planner, "b")
    fetch = planner.next_action(1.0)
    assert fetch == Fetch(1)
    planner.begin(fetch, 1.0)
    planner.finish_fetch(fetch, CallList({501: META}), 1.5)
    call = planner.call(1, 501, "emergency")
    assert call is not None and call.meta is None and call.absent_at is not None


def test_a_911_call_gets_its_postal_in_its_metadata_not_on_top() -> None:
    postals = PostalIndex.from_json(b'[{"code": "7001", "x": 100, "y": 0}]')
    planner = make_planner(postals=postals)
    planner.receive(1, Track(call_id=302, subject="b", meta=META_911, kind="emergency"), 0.0)
    moved(planner, "b")
    read = planner.next_action(1.0)
    assert read == Fetch(1)
    planner.begin(read, 1.0)
    planner.finish_fetch(read, CallList({}, emergency={302: META_911}), 1.0)
    push = planner.next_action(1.0)
    assert isinstance(push, Push)
    assert push.meta["postal"] == "7001" and push.meta["phone"] == "555-0100"
    planner.begin(push, 1.0)
    planner.finish_push(push, Updated(call={"callId": 302, "metaData": push.meta},
                                      meta=dict(push.meta)), 1.5)  # fmt: skip
    moved(planner, "b", 40.0)
    fixes = Positions(items=[Position(subject="b", x=160.0, y=0.0, z=20.0, speed=0.0)])
    planner.receive(1, fixes, 40.0)
    # sonorancad relays its older copy of the 911 call: the code the bridge wrote stands.
    planner.receive(1, CallMeta(call_id=302, meta=META_911, kind="emergency"), 39.0)
    again = planner.next_action(40.0)
    assert isinstance(again, Push) and again.postal is None  # unchanged: the CAD holds it
    assert again.meta["postal"] == "7001"


# --- call_meta_stale ----------------------------------------------------------------------


def test_a_stale_call_is_read_before_its_next_push_never_pushed_old() -> None:
    planner = make_planner()
    planner.receive(1, Track(call_id=7, subject="a", meta=META), 0.0)
    said = planner.receive(1, CallMetaStale(call_id=7), 0.5)
    assert said and not [n for n in said if isinstance(n, Notice)]
    moved(planner, "a")
    fetch = planner.next_action(1.0)
    assert fetch == Fetch(1)
    planner.begin(fetch, 1.0)
    assert planner.candidates(1.2) == []  # no push of the old copy while the read is out
    edited = {**META, "note": []}
    planner.finish_fetch(fetch, CallList({7: edited}), 1.5)
    push = planner.next_action(1.5)
    assert isinstance(push, Push) and push.meta["note"] == []


def test_a_read_begun_before_the_stale_notice_does_not_clear_it() -> None:
    planner = make_planner()
    planner.receive(1, Track(call_id=7, subject="a", meta=META), 0.0)
    planner.receive(1, Track(call_id=8, subject="b"), 0.0)
    moved(planner, "b")
    fetch = planner.next_action(1.0)
    assert fetch == Fetch(1)
    planner.begin(fetch, 1.0)
    planner.receive(1, CallMetaStale(call_id=7), 1.2)  # the edit came after the read began
    planner.finish_fetch(fetch, CallList({7: META, 8: META}), 1.5)
    call = planner.call(1, 7)
    assert call is not None and call.stale_at == 1.2
    moved(planner, "a", 2.0)
    assert all(c.call.call_id != 7 for c in planner.candidates(2.0))


def test_a_faithful_relay_after_the_stale_notice_clears_it() -> None:
    planner = make_planner()
    planner.receive(1, Track(call_id=7, subject="a", meta=META), 0.0)
    planner.receive(1, CallMetaStale(call_id=7), 0.5)
    planner.receive(1, CallMeta(call_id=7, meta={**META, "note": "x"}), 0.8)
    moved(planner, "a")
    push = planner.next_action(1.0)
    assert isinstance(push, Push) and push.meta["note"] == "x"


def test_stale_for_a_call_of_the_other_kind_changes_nothing() -> None:
    planner = make_planner()
    planner.receive(1, Track(call_id=7, subject="a", meta=META), 0.0)
    planner.receive(1, CallMetaStale(call_id=7, kind="emergency"), 0.5)
    moved(planner, "a")
    assert isinstance(planner.next_action(1.0), Push)
