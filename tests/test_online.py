"""`check-config --online`: one read of the call list from the real CAD stand-in says whether the
key and the server id are right, within the budget a daemon on the same key left."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.config import BudgetConfig, CadConfig, Config, ListenConfig
from bridge.online import check_online
from bridge.spendlog import SpendLog
from bridge.standin.cad import CadStandIn, Fault

KEY = "online-key-0123456789abcdefghij"
TOKEN = "online-token-0123456789abcdef"


def config_for(url: str, *, key: str = KEY, server_id: int = 1, state_file: str = "") -> Config:
    return Config(
        cad=CadConfig(api_url=url, api_key=key, server_id=server_id, timeout_seconds=2.0),
        listen=ListenConfig(token=TOKEN),
        budget=BudgetConfig(state_file=state_file),
    )


@pytest.fixture
async def standin() -> AsyncIterator[CadStandIn]:
    cad = CadStandIn(api_key=KEY)
    await cad.start()
    cad.add_call(1, 501, {"postal": "9002"})
    yield cad
    await cad.stop()


async def test_a_good_key_and_server_id_pass_with_one_read(standin: CadStandIn) -> None:
    check = await check_online(config_for(standin.url))
    assert check.ok, check.message
    assert "server id 1" in check.message and "1 active calls, 0 911 calls" in check.message
    assert [(r.route, r.status) for r in standin.requests] == [("get_calls", 200)]


async def test_a_refused_key_names_cad_api_key(standin: CadStandIn) -> None:
    wrong = "wrong-key-zyxwvutsrqponmlkjihg"
    check = await check_online(config_for(standin.url, key=wrong))
    assert not check.ok and check.key == "cad.api_key"
    assert check.message.startswith("cad.api_key:") and "401" in check.message
    assert wrong not in check.message and KEY not in check.message


async def test_an_unknown_server_id_names_cad_server_id(standin: CadStandIn) -> None:
    check = await check_online(config_for(standin.url, server_id=7))
    assert not check.ok and check.key == "cad.server_id"
    assert "server id 7" in check.message


async def test_an_unreachable_cad_names_cad_api_url(standin: CadStandIn) -> None:
    url = standin.url
    await standin.stop()
    check = await check_online(config_for(url))
    assert not check.ok and check.key == "cad.api_url" and "connection refused" in check.message


async def test_a_neighbour_spending_the_reads_is_not_blamed_on_the_config(
    standin: CadStandIn,
) -> None:
    standin.spend_external("get_calls", 5)
    check = await check_online(config_for(standin.url))
    assert not check.ok and check.key is None and "rate-limited" in check.message


async def test_the_read_waits_for_a_slot_the_spend_log_says_is_taken_and_is_counted_there(
    standin: CadStandIn, tmp_path: Path
) -> None:
    state = tmp_path / "spent.json"
    window = 60.0 + 1.0
    log = SpendLog(state, window)
    clock = [1000.0]
    # A daemon on this key read the list 5 times in the last 20 s, and pushed once.
    log.save({"get_calls": [980.0, 985.0, 990.0, 995.0, 1000.0], "update_call": [999.0]}, 1000.0)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    check = await check_online(
        config_for(standin.url, state_file=str(state)),
        clock=lambda: clock[0],
        sleep=sleep,
        on_wait=waits.append,
    )
    assert check.ok, check.message
    # The budget allows 4 of the key's 5: the fourth newest leaves the window 61 s after it
    # ended, 46 s from now.
    assert waits == [pytest.approx(46.0, abs=0.5)]
    kept = log.load(clock[0])
    assert len(kept["get_calls"]) == 4  # three left; ours took a place
    assert kept["get_calls"][-1] == pytest.approx(clock[0], abs=0.5)
    assert kept["update_call"] == [pytest.approx(999.0, abs=0.5)]


async def test_no_reads_allowed_means_no_online_check(standin: CadStandIn) -> None:
    config = config_for(standin.url)
    config.budget.get_calls = 0
    check = await check_online(config)
    assert not check.ok and check.key == "budget.get_calls" and not standin.requests


def write(tmp_path: Path, url: str, server_id: int = 1) -> str:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[cad]\napi_url = "{url}"\napi_key = "{KEY}"\nserver_id = {server_id}\n'
        f'[listen]\ntoken = "{TOKEN}"\n[budget]\nstate_file = ""\n'
    )
    return str(path)


async def test_the_command_exits_zero_when_the_cad_takes_the_config_and_non_zero_when_not(
    standin: CadStandIn, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, standin.url)
    assert await asyncio.to_thread(main, ["check-config", "--online", "--config", good]) == 0
    out = capsys.readouterr().out
    assert "config" in out and "online: OK" in out and KEY not in out
    bad = write(tmp_path, standin.url, server_id=3)
    assert await asyncio.to_thread(main, ["check-config", "--online", "-c", bad]) == 1
    out = capsys.readouterr().out
    assert "online: FAILED: cad.server_id" in out and KEY not in out


def test_without_online_nothing_is_sent(tmp_path: Path) -> None:
    started = time.monotonic()
    assert main(["check-config", "--config", write(tmp_path, "http://127.0.0.1:9")]) == 0
    assert time.monotonic() - started < 2


async def test_a_failed_check_names_the_ids_support_asks_for(standin: CadStandIn) -> None:
    standin.inject(Fault(503), 1, "get_calls")
    check = await check_online(config_for(standin.url))
    assert not check.ok and "traceId " in check.message and "x-kong-request-id " in check.message


async def test_the_documented_list_passes_the_check(standin: CadStandIn) -> None:
    standin.add_emergency_call(1, 302, {"postal": "9001"})
    check = await check_online(config_for(standin.url))
    assert check.ok and "1 911 calls" in check.message
