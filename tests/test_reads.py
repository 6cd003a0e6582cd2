"""The reads of a server's list on their own: when one is due, what one teaches, a pause."""

from __future__ import annotations

from bridge.actions import UNKNOWN_META, Alert, AlertKind, Fetch, Notice
from bridge.budget import Budget
from bridge.outcomes import CallList, Gone
from bridge.reads import Reads
from bridge.settings import Settings
from bridge.tracker import Tracker

SETTINGS = Settings(fetch_interval=15.0)


def wait(rejections: int) -> float:
    return 60.0 * rejections


def followed(*, meta: dict[str, str] | None = None) -> Tracker:
    tracker = Tracker()
    tracker.track(1, 7, "veh:7", 0.0, meta=meta)
    tracker.observe(1, "veh:7", 10.0, 0.0, 0.0, 1.0)
    return tracker


def test_a_call_waiting_for_its_metadata_makes_its_list_due_and_one_lacking_it_again() -> None:
    tracker, reads, budget = followed(), Reads(), Budget(5, 60.0)
    assert reads.next_fetch(tracker, SETTINGS, budget, 1.0) == Fetch(1)
    assert reads.next_fetch(tracker, SETTINGS, None, 1.0) is None  # no GET budget: no reads
    reads.begun(1, 1.0)
    reads.answered(1, CallList(calls={}), 1.5, tracker, SETTINGS, wait)
    call = tracker.get(1, 7)
    assert call is not None and call.absent_at == 1.0  # one reading does not make it gone
    assert reads.due(tracker, SETTINGS, budget, 2.0) == {1: 16.5}  # a fetch interval on


def test_barren_reads_slow_down_to_a_quarter_of_the_rate() -> None:
    tracker, reads, budget = followed(), Reads(), Budget(30, 60.0)
    now, apart = 1.0, []
    for _ in range(3):
        reads.begun(1, now)
        said = reads.answered(1, CallList(calls={7: None}), now, tracker, SETTINGS, wait)
        due = reads.due(tracker, SETTINGS, budget, now)[1]
        apart.append(due - now)
        now = due
    assert said == []  # the game server heard it once, on the first read
    assert reads.barren[1] == 3 and apart == [30.0, 60.0, 60.0]


def test_a_read_that_lacks_the_metadata_says_so_once_and_one_that_has_it_teaches_it() -> None:
    tracker, reads = followed(), Reads()
    reads.begun(1, 1.0)
    said = reads.answered(1, CallList(calls={7: None}), 2.0, tracker, SETTINGS, wait)
    assert said == [Notice(1, 7, "failed", UNKNOWN_META)]
    reads.begun(1, 20.0)
    meta = {"x": "0", "y": "0", "postal": "221"}
    assert reads.answered(1, CallList(calls={7: meta}), 21.0, tracker, SETTINGS, wait) == []
    call = tracker.get(1, 7)
    assert call is not None and call.meta == meta and call.meta_at == 21.0


def test_a_404_pauses_the_server_doubling_and_its_list_ends_the_pause() -> None:
    tracker, reads = followed(meta={"postal": "1"}), Reads()
    settings = Settings(server_pause=60.0, server_pause_cap=600.0)
    assert reads.pause(1, 10.0, settings)
    assert not reads.pause(1, 70.0, settings)  # the same pause, grown
    assert reads.paused_until[1] == 190.0
    reads.begun(1, 190.0)
    assert reads.answered(1, Gone("not configured", "server"), 191.0, tracker, settings, wait) == []
    assert reads.fetched_at[1] == 191.0  # a 404 is an answer: it spaces the reads
    reads.begun(1, 300.0)
    said = reads.answered(1, CallList(calls={7: None}), 301.0, tracker, settings, wait)
    assert said[0] == Alert(AlertKind.SERVER_KNOWN, "the CAD lists its calls again", 1)
    assert 1 not in reads.paused_until and 1 not in reads.pauses


def test_a_911_call_goes_apart_only_after_a_read_begun_since_it_was_followed() -> None:
    tracker, reads = Tracker(), Reads()
    call = tracker.track(1, 7, "veh:7", 5.0, kind="emergency")
    reads.dispatch_ids[1] = (4.0, frozenset())
    assert not reads.apart(call, tracker)  # the read began before it was followed
    reads.dispatch_ids[1] = (6.0, frozenset({7}))
    assert not reads.apart(call, tracker)  # a dispatch call has its id
    reads.dispatch_ids[1] = (6.0, frozenset({8}))
    assert reads.apart(call, tracker)
