"""shared/follow.lua alone: the CAD's rules read the call cache, the tracked calls and the
host's queries handed in, and return their decisions as plain data; they never act
themselves (the bridge applies what they return, in order)."""

from __future__ import annotations

from typing import Any

import pytest
from lupa import lua54

from .fivem import lua_list, stock_require


class Rules:
    """A Follow with its settings, a Tracker of its own, and host queries from Python."""

    def __init__(self, **settings: Any) -> None:
        self.lua = lua54.LuaRuntime(unpack_returned_tuples=True)
        require = stock_require(self.lua)
        self.Follow = require("shared.follow")
        self.tracker = require("shared.tracking").new()
        self.rules = self.Follow.new(self.lua.table_from(settings))
        self.refused: dict[str, str] = {}
        self.postals = False
        host = {
            "check_subject": self._check,
            "identify": lambda key: f"license:{key}",
            "now": lambda: 10_000,
            "cad_postals": lambda: self.postals,
        }
        self.view = self.lua.table_from(
            {"tracker": self.tracker, "host": self.lua.table_from(host)}
        )

    def _check(self, subject: Any) -> Any:
        reason = self.refused.get(subject.key)
        return (False, reason) if reason else (True, None)

    def entry(self, call_id: int, primary: int = 0, track: bool = False, status: int = 1) -> Any:
        return self.lua.table_from(
            {
                "dispatch": self.lua.table_from(
                    {
                        "callId": call_id,
                        "primary": primary,
                        "trackPrimary": track,
                        "status": status,
                        "metaData": self.lua.table_from({"a": "b"}),
                    }
                )
            }
        )

    def units(self, mapping: dict[int, str]) -> Any:
        return self.lua.table_from(mapping)

    def reconcile(self, call_id: int, entry: Any, units: dict[int, str]) -> list[dict[str, Any]]:
        return plain(
            self.rules.reconcile_call(self.rules, call_id, entry, self.units(units), self.view)
        )


def plain(decisions: Any) -> list[dict[str, Any]]:
    """Decisions as Python dicts (nested tables too)."""

    def value(v: Any) -> Any:
        if lua54.lua_type(v) == "table":
            return {k: value(v[k]) for k in v.keys()}  # noqa: SIM118 (lupa's table.keys(), not a dict's)
        return v

    return [value(d) for d in lua_list(decisions)]


def test_track_primary_with_its_unit_in_game_decides_follow_then_say() -> None:
    r = Rules()
    decisions = r.reconcile(501, r.entry(501, primary=7, track=True), {7: "3"})
    assert decisions == [
        {
            "op": "follow",
            "call_id": 501,
            "subject": "unit:7",
            "extra": {"origin": "primary", "cad_postal": False},
            "meta": {"a": "b"},
        },
        {
            "op": "say",
            "call_id": 501,
            "state": "following",
            "detail": "follows unit 7 (player 3), its primary: track primary is on",
        },
    ]
    assert r.tracker.count(r.tracker, r.tracker) == 0  # decided, not done


def test_a_unit_not_in_game_is_said_once() -> None:
    r = Rules()
    entry = r.entry(501, primary=7, track=True)
    assert r.reconcile(501, entry, {}) == [
        {
            "op": "say",
            "call_id": 501,
            "state": "waiting",
            "detail": "its primary unit 7 is not in game; the call follows the unit when it is",
        }
    ]
    assert r.reconcile(501, entry, {}) == []


def test_a_followed_primary_call_stops_when_track_primary_is_off_or_the_unit_leaves() -> None:
    r = Rules()
    r.tracker.track(r.tracker, 501, "unit:7", None, None, r.lua.table_from({"origin": "primary"}))
    assert r.reconcile(501, r.entry(501, primary=7, track=False), {7: "3"}) == [
        {"op": "stop", "call_id": 501, "why": "track primary was turned off"}
    ]
    assert r.reconcile(501, r.entry(501, primary=7, track=True, status=2), {}) == [
        {"op": "stop", "call_id": 501, "why": "the call was closed"}
    ]
    decisions = r.reconcile(501, r.entry(501, primary=7, track=True), {})
    assert decisions[0] == {
        "op": "stop",
        "call_id": 501,
        "why": "its primary unit 7 left the game or logged out",
    }
    assert decisions[1]["state"] == "waiting"


def test_a_manual_track_is_left_alone() -> None:
    r = Rules()
    r.tracker.track(r.tracker, 501, "player:4", None, None, r.lua.table_from({"origin": "manual"}))
    assert r.reconcile(501, r.entry(501, primary=7, track=True), {7: "3"}) == []


def test_a_hold_lasts_until_the_tracking_controls_change_then_is_saved_away() -> None:
    r = Rules()
    r.rules.hold(r.rules, 501, r.entry(501, primary=7, track=True))
    assert r.reconcile(501, r.entry(501, primary=7, track=True), {7: "3"}) == []
    decisions = r.reconcile(501, r.entry(501, primary=8, track=True), {8: "3"})
    assert [d["op"] for d in decisions] == ["save", "follow", "say"]
    assert decisions[1]["subject"] == "unit:8"


def test_sonorancad_keeping_the_postal_is_a_decision_on_the_followed_call() -> None:
    r = Rules()
    r.tracker.track(r.tracker, 501, "unit:7", None, None, r.lua.table_from({"origin": "primary"}))
    r.rules.on_cad_tracking(r.rules, 501, True, 7)
    entry = r.entry(501, primary=7, track=True)
    assert r.reconcile(501, entry, {7: "3"}) == []  # the postals plugin is not loaded
    r.postals = True
    assert r.reconcile(501, entry, {7: "3"}) == [
        {"op": "cad_postal", "call_id": 501, "value": True}
    ]


def test_the_caller_rule_decides_a_timed_follow_or_says_why_not() -> None:
    r = Rules(follow_caller_seconds=60)
    call = r.lua.table_from({"callId": 77, "metaData": r.lua.table_from({"callerPlayerId": 5})})
    assert plain(r.rules.on_new_call(r.rules, call, "emergency", r.view)) == [
        {
            "op": "follow",
            "call_id": 77,
            "subject": "player:5",
            "meta": {"callerPlayerId": 5},
            "extra": {
                "kind": "emergency",
                "origin": "caller",
                "who": "license:player:5",
                "until_ms": 70_000,
            },
        },
        {
            "op": "say",
            "call_id": 77,
            "kind": "emergency",
            "state": "following",
            "detail": "follows its caller, player 5, for 60 s",
        },
    ]
    r.refused["player:5"] = "no player with server id 5"
    assert plain(r.rules.on_new_call(r.rules, call, None, r.view)) == [
        {"op": "log", "line": "call 77: its caller is not followed (no player with server id 5)"}
    ]


@pytest.mark.parametrize("seconds", [0, None])
def test_the_caller_rule_off_decides_nothing(seconds: int | None) -> None:
    r = Rules(follow_caller_seconds=seconds)
    call = r.lua.table_from({"callId": 77, "metaData": r.lua.table_from({"callerPlayerId": 5})})
    assert plain(r.rules.on_new_call(r.rules, call, None, r.view)) == []


def test_a_caller_follow_whose_time_is_up_is_decided_stopped() -> None:
    r = Rules(follow_caller_seconds=60)
    extra = r.lua.table_from({"origin": "caller", "until_ms": 70_000, "kind": "emergency"})
    r.tracker.track(r.tracker, 77, "player:5", None, None, extra)
    assert plain(r.rules.expire(r.rules, 69_999, r.view)) == []
    assert plain(r.rules.expire(r.rules, 70_000, r.view)) == [
        {
            "op": "stop",
            "call_id": 77,
            "kind": "emergency",
            "why": "its caller was followed for 60 s",
        }
    ]
