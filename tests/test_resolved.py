"""A spell of 429s or of failed requests ends with one "resolved" alert (fixed clocks), and the
daemon logs it."""

from __future__ import annotations

import pytest
from conftest import Running

from bench.kit import make_planner
from bridge.outcomes import RateLimited, Transient, Updated
from bridge.planner import Alert, Planner, Push
from bridge.standin.cad import Fault

META = {"x": "0", "y": "0", "postal": "221"}


def planner_with_a_moved_call() -> Planner:
    planner = make_planner()
    planner.track(1, 7, "veh:7", 0.0, meta=META)
    planner.observe(1, "veh:7", 100.0, 0.0, 0.0, 1.0)
    return planner


def answer(planner: Planner, now: float, result: object) -> list[object]:
    wake = planner.next_wake(now)
    action = planner.next_action(max(now, wake))
    assert isinstance(action, Push), action
    planner.begin(action, max(now, wake))
    return planner.finish_push(action, result, max(now, wake) + 0.1)  # type: ignore[arg-type,return-value]


def ok(planner: Planner) -> Updated:
    meta = {**META, "x": "100", "y": "0"}
    return Updated(call={"metaData": meta}, meta=meta)


def alerts(events: list[object]) -> list[Alert]:
    return [e for e in events if isinstance(e, Alert)]


def test_the_first_answer_after_429s_resolves_the_spell_once() -> None:
    planner = planner_with_a_moved_call()
    assert alerts(answer(planner, 1.0, RateLimited(2.0, "API rate limit exceeded"))) == []
    assert alerts(answer(planner, 4.0, RateLimited(2.0, "API rate limit exceeded"))) == []
    (resolved,) = alerts(answer(planner, 8.0, ok(planner)))
    assert resolved.event == "rate_limit_resolved"
    assert "update_call" in resolved.detail and "2 429s" in resolved.detail
    planner.observe(1, "veh:7", 300.0, 0.0, 0.0, 70.0)
    assert alerts(answer(planner, 70.0, ok(planner))) == []


def test_the_first_answer_after_failed_requests_resolves_that_spell() -> None:
    planner = planner_with_a_moved_call()
    answer(planner, 1.0, Transient("HTTP 503: unavailable", True))
    answer(planner, 3.0, Transient("timeout after 10.0 s", True))
    answer(planner, 6.0, Transient("connection refused", False))
    (resolved,) = alerts(answer(planner, 20.0, ok(planner)))
    assert resolved.event == "cad_resolved" and "3 failed requests" in resolved.detail


def test_no_spell_no_resolved() -> None:
    planner = planner_with_a_moved_call()
    assert alerts(answer(planner, 1.0, ok(planner))) == []


async def test_the_daemon_logs_resolved_when_the_cad_answers_again(
    daemon: Running, capsys: pytest.CaptureFixture[str]
) -> None:
    daemon.standin.add_call(1, 501, dict(META))
    daemon.standin.inject(Fault(503), count=2)
    game = await daemon.game()
    await game.send(type="sync", tracks=[{"call_id": 501, "subject": "player:1", "meta": META}])
    await game.send(type="positions", items=[{"subject": "player:1", "x": 50.0, "y": 5.0, "z": 0}])
    await game.expect("call_state", call_id=501, state="pushed", timeout=10.0)
    out = capsys.readouterr().out
    resolved = [line for line in out.splitlines() if "resolved" in line]
    assert len(resolved) == 1 and "cad_resolved" in resolved[0] and "2 failed" in resolved[0]
