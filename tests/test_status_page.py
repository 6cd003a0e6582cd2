"""The status page over real HTTP: `/status.json`, `/metrics` (parsed by prometheus_client's own
parser), the page's files, and no secret in any of them."""

from __future__ import annotations

from typing import Any

import httpx
import msgspec
import pytest
from conftest import API_KEY, TOKEN, Game, MakeDaemon, Running, make_config
from prometheus_client.parser import text_string_to_metric_families

from bench.kit import free_port
from bridge.app import Daemon
from bridge.config import ConfigError, StatusConfig, parse_config
from bridge.standin.cad import CadStandIn, Fault

META = {"postal": "9002", "uuid": "u-501"}


async def following(running: Running, *calls: int) -> Game:
    """A game server whose calls follow moving players; returns once each was pushed."""
    for call_id in calls:
        running.standin.add_call(1, call_id, dict(META))
    game = await running.game()
    await game.send(
        type="sync",
        tracks=[{"call_id": c, "subject": f"player:{c}", "meta": META} for c in calls],
    )
    await game.send(
        type="positions",
        items=[{"subject": f"player:{c}", "x": 100.0 + c, "y": -200.0, "z": 30.0} for c in calls],
    )
    for call_id in calls:
        await game.expect("call_state", call_id=call_id, state="pushed")
    return game


async def get(url: str, path: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url + path.lstrip("/"), headers=headers)


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


async def test_status_json_shows_the_link_each_call_the_budget_and_the_last_requests(
    daemon: Running,
) -> None:
    url = await daemon.bridge.serve_status("127.0.0.1", 0)
    await following(daemon, 501, 502)
    answer = await get(url, "/status.json")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    assert answer.headers["cache-control"] == "no-store"
    view = answer.json()
    assert [link["server_id"] for link in view["links"]] == [1]
    calls = {c["call_id"]: c for c in view["calls"]}
    assert set(calls) == {501, 502}
    first = calls[501]
    assert first["subject"] == "player:501" and first["state"] == "pushed"
    assert first["subject_at"] == [601.0, -200.0, 30.0]
    assert first["drawn_at"] == [601.0, -200.0] and first["error"] == 0.0
    assert first["last_push_ago"] >= 0 and first["radius"] == 50.0
    budgets = {b["route"]: b for b in view["budgets"]}
    assert budgets["update_call"]["limit"] == 10 and budgets["update_call"]["used"] >= 2
    assert budgets["update_call"]["share"] == 10
    assert view["pushes"] >= 2 and view["rate_limited"] == 0
    pushes = [r for r in view["recent"] if r["route"] == "update_call"]
    assert {r["call_id"] for r in pushes} == {501, 502}
    assert all(r["status"] == "200" and r["latency_ms"] >= 0 for r in pushes)
    assert view["summary"]["calls"] == 2


OLD_KEYS = {"version", "uptime", "links", "departed", "calls", "budgets", "requests", "pushes",
            "rate_limited", "auth_failing", "mean_error", "recent", "summary"}  # fmt: skip
SUMMARY_KEYS = {"links", "calls", "requests", "pushes", "refusals", "budget_used",
                "budget_share", "mean_error_m", "servers"}  # fmt: skip


async def test_status_json_keeps_its_keys_and_shows_the_counts_the_metrics_show(
    daemon: Running,
) -> None:
    """One view: /status.json keeps every key it had, and has the counts /metrics renders."""
    url = await daemon.bridge.serve_status("127.0.0.1", 0)
    await following(daemon, 501)
    view = (await get(url, "/status.json")).json()
    assert OLD_KEYS <= set(view) and SUMMARY_KEYS <= set(view["summary"])
    summary = view["summary"]
    assert (summary["pushes"], summary["refusals"]) == (view["pushes"], view["rate_limited"])
    found = families((await get(url, "/metrics")).text)
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in found.values()
        for s in family.samples
    }
    for answered in view["answered"]:
        key = (("route", answered["route"]), ("status", answered["status"]))
        assert samples[("sonoran_bridge_requests_total", key)] >= answered["count"]
    assert samples[("sonoran_bridge_positions_received_total", ())] >= view["positions_received"]
    assert view["servers"][0]["pushes"] == view["summary"]["servers"]["1"]["pushes"] >= 1


async def test_metrics_parse_as_prometheus_text_with_the_expected_families(
    daemon: Running,
) -> None:
    url = await daemon.bridge.serve_status("127.0.0.1", 0)
    await following(daemon, 501)
    answer = await get(url, "/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    found = families(answer.text)
    kinds = {name: family.type for name, family in found.items()}
    assert kinds == {
        "sonoran_bridge_requests": "counter",
        "sonoran_bridge_rate_limited_requests": "counter",
        "sonoran_bridge_request_duration_seconds": "histogram",
        "sonoran_bridge_updates_dropped": "counter",
        "sonoran_bridge_build_info": "gauge",
        "sonoran_bridge_positions_received": "counter",
        "sonoran_bridge_calls_tracked": "gauge",
        "sonoran_bridge_game_servers_connected": "gauge",
        "sonoran_bridge_game_servers_disconnected": "gauge",
        "sonoran_bridge_map_error_meters": "gauge",
        "sonoran_bridge_budget_slots_used": "gauge",
        "sonoran_bridge_budget_slots_limit": "gauge",
        "sonoran_bridge_budget_slots_share": "gauge",
        "sonoran_bridge_budget_paused_seconds": "gauge",
        "sonoran_bridge_auth_failing": "gauge",
        "sonoran_bridge_connections_refused": "counter",
    }
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in found.values()
        for s in family.samples
    }
    pushed = ("sonoran_bridge_requests_total", (("route", "update_call"), ("status", "200")))
    assert samples[pushed] >= 1
    assert samples[("sonoran_bridge_positions_received_total", ())] == 1
    assert samples[("sonoran_bridge_calls_tracked", ())] == 1
    assert samples[("sonoran_bridge_budget_slots_limit", (("route", "update_call"),))] == 10
    assert samples[("sonoran_bridge_map_error_meters", ())] == 0.0
    count = ("sonoran_bridge_request_duration_seconds_count", (("route", "update_call"),))
    assert samples[count] >= 1
    # Counters end in _total, durations in _seconds; no label tells calls or subjects apart.
    for family in found.values():
        if family.type == "counter":
            assert all(s.name.endswith("_total") for s in family.samples)
        for sample in family.samples:
            assert set(sample.labels) <= {"route", "status", "reason", "le", "version"}


async def test_a_neighbours_429_shows_as_a_rate_limited_request_and_a_smaller_share(
    daemon: Running,
) -> None:
    url = await daemon.bridge.serve_status("127.0.0.1", 0)
    daemon.standin.add_call(1, 501, dict(META))
    daemon.standin.spend_external("update_call", 10)
    game = await daemon.game()
    await game.send(type="sync", tracks=[{"call_id": 501, "subject": "player:1", "meta": META}])
    await game.send(type="positions", items=[{"subject": "player:1", "x": 5.0, "y": 5.0, "z": 0}])
    await game.expect("call_state", call_id=501, state="pushed", timeout=10.0)
    view = (await get(url, "/status.json")).json()
    assert view["rate_limited"] >= 1
    assert "429" in {r["status"] for r in view["recent"]}
    update = next(b for b in view["budgets"] if b["route"] == "update_call")
    assert update["share"] < update["limit"]
    assert update["rate_limited"] == view["rate_limited"] >= 1  # the budget row counts them
    found = families((await get(url, "/metrics")).text)
    limited = {
        s.labels["route"]: s.value for s in found["sonoran_bridge_rate_limited_requests"].samples
    }
    assert limited["update_call"] >= 1
    dropped = {s.labels["reason"]: s.value for s in found["sonoran_bridge_updates_dropped"].samples}
    assert dropped["rate_limited"] >= 1


async def test_no_secret_is_on_any_page_even_when_the_cad_echoes_the_key(
    daemon: Running,
) -> None:
    url = await daemon.bridge.serve_status("127.0.0.1", 0)
    daemon.standin.inject(Fault(400, detail=f"metaData invalid for key {API_KEY}"), count=1)
    daemon.standin.add_call(1, 501, dict(META))
    game = await daemon.game()
    await game.send(type="sync", tracks=[{"call_id": 501, "subject": "player:1", "meta": META}])
    await game.send(type="positions", items=[{"subject": "player:1", "x": 5.0, "y": 5.0, "z": 0}])
    await game.expect("call_state", call_id=501, state="failed")
    paths = ("/", "/status.js", "/status.css", "/status.json", "/metrics")
    bodies = [await get(url, path) for path in paths]
    assert all(b.status_code == 200 for b in bodies)
    view = bodies[3].json()
    assert any(r["status"] == "400" for r in view["recent"])
    for body in bodies:
        assert API_KEY not in body.text and TOKEN not in body.text


async def test_a_loopback_page_refuses_other_host_names_and_unknown_paths(daemon: Running) -> None:
    url = await daemon.bridge.serve_status("127.0.0.1", 0)
    assert (await get(url, "/status.json", Host="attacker.example")).status_code == 421
    assert (await get(url, "/status.json", Host="localhost:1")).status_code == 200
    assert (await get(url, "/nothing")).status_code == 404
    page = await get(url, "/")
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]


async def test_the_status_port_in_the_config_starts_the_page_with_the_daemon(
    make_daemon: MakeDaemon,
) -> None:
    port = free_port()

    def configure(standin: CadStandIn) -> Any:
        config = make_config(standin)
        config.status = StatusConfig(port=port)
        return config

    running = await make_daemon(configure=configure)
    assert running.bridge.status_page is not None
    answer = await get(f"http://127.0.0.1:{port}/", "/status.json")
    assert answer.status_code == 200 and msgspec.json.decode(answer.content)["calls"] == []
    await running.bridge.stop()
    with pytest.raises(httpx.ConnectError):
        await get(f"http://127.0.0.1:{port}/", "/status.json")


async def test_port_zero_in_the_config_means_no_status_page(daemon: Running) -> None:
    assert isinstance(daemon.bridge, Daemon) and daemon.bridge.status_page is None


def test_a_status_page_beyond_loopback_needs_allow_remote() -> None:
    base = f'[cad]\napi_key = "{API_KEY}"\n[listen]\ntoken = "{TOKEN}"\n'
    with pytest.raises(ConfigError, match=r"status\.host"):
        parse_config(base + '[status]\nhost = "0.0.0.0"\nport = 30126\n', env={})
    config = parse_config(
        base + '[status]\nhost = "0.0.0.0"\nport = 30126\nallow_remote = true\n'
        'password = "status-login-0123"\n',
        env={},
    )
    assert config.status.allow_remote and config.status.port == 30126
