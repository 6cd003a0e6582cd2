"""The sans-I/O driver: one request at a time, typed answers, the quota carried in the answer.

No sockets and no clock: the test is the push loop here, handing the driver its times and the
CAD's answers as values."""

from __future__ import annotations

from bench.kit import make_planner
from bridge.driver import Driver, ListAnswer, PatchAnswer, Sleep, failed
from bridge.outcomes import CallList, Quota, Transient, Updated
from bridge.planner import Fetch, Push

META = {"x": "0", "y": "0", "z": "0", "radius": "100", "postal": "221"}


def driver() -> Driver:
    planner = make_planner()
    return Driver(planner)


def moved(d: Driver, call_id: int, x: float, now: float) -> None:
    d.planner.observe(1, f"veh:{call_id}", x, 0.0, 0.0, now)


def updated(push: Push) -> Updated:
    return Updated(call={"callId": push.key[2], "metaData": push.meta}, meta=dict(push.meta))


def test_a_push_is_asked_begun_and_completed_with_its_typed_answer() -> None:
    d = driver()
    d.planner.track(1, 7, "veh:7", 0.0, meta=META)
    moved(d, 7, 100.0, 1.0)
    asked = d.step(1.0)
    assert isinstance(asked, Push) and asked.key[2] == 7
    d.begin(asked, 1.0)
    assert d.in_flight is asked and d.requests == 1
    # One request at a time: nothing else is asked while it is in flight.
    moved(d, 7, 200.0, 1.1)
    assert d.step(1.1) == Sleep(None)
    outcome = d.complete(PatchAnswer(asked, updated(asked), None, 1.0, 1.2))
    assert outcome.request is asked and isinstance(outcome.result, Updated)
    assert d.in_flight is None


def test_no_slot_yet_is_a_sleep_until_the_slot() -> None:
    d = driver()
    for call_id in range(1, 12):
        d.planner.track(1, call_id, f"veh:{call_id}", 0.0, meta=META)
        moved(d, call_id, 100.0 + call_id, 1.0)
    now = 1.0
    for _ in range(10):
        asked = d.step(now)
        assert isinstance(asked, Push)
        d.begin(asked, now)
        d.complete(PatchAnswer(asked, updated(asked), None, now, now + 0.1))
        now += 0.2
    asked = d.step(now)
    assert isinstance(asked, Sleep)
    assert asked.until is not None and asked.until > now


def test_the_quota_in_the_answer_holds_the_route_until_the_key_window_resets() -> None:
    d = driver()
    d.planner.track(1, 7, "veh:7", 0.0, meta=META)
    d.planner.track(1, 8, "veh:8", 0.0, meta=META)
    moved(d, 7, 100.0, 1.0)
    moved(d, 8, 100.0, 1.0)
    asked = d.step(1.0)
    assert isinstance(asked, Push)
    d.begin(asked, 1.0)
    spent = Quota(remaining=0, reset_after=30.0)
    d.complete(PatchAnswer(asked, updated(asked), spent, 1.0, 1.5))
    held = d.step(2.0)
    assert isinstance(held, Sleep) and held.until is not None and held.until >= 31.5
    assert isinstance(d.step(31.5), Push)


def test_a_read_is_answered_by_a_list_and_a_fault_by_a_transient_of_its_own_kind() -> None:
    d = driver()
    d.planner.track(1, 7, "veh:7", 0.0)  # metaData unknown: read the list first
    moved(d, 7, 100.0, 1.0)
    asked = d.step(1.0)
    assert asked == Fetch(1)
    assert isinstance(asked, Fetch)
    d.begin(asked, 1.0)
    lost = failed(asked, Transient("timeout", reached_server=True), 1.0, 2.0)
    assert isinstance(lost, ListAnswer) and lost.fetch is asked
    d.complete(lost)
    assert d.in_flight is None
    # The read is asked again after its back-off, and a listed call is then pushed.
    now = 2.0
    while not isinstance(again := d.step(now), Fetch):
        assert isinstance(again, Sleep)
        now = again.until if again.until is not None else now + 1.0
    d.begin(again, now)
    d.complete(ListAnswer(again, CallList(calls={7: META}), None, now, now + 0.1))
    pushed = d.step(now + 0.1)
    assert isinstance(pushed, Push) and pushed.key[2] == 7
    patch_fault = failed(pushed, Transient("refused", reached_server=False), 0.0, 0.0)
    assert isinstance(patch_fault, PatchAnswer)
