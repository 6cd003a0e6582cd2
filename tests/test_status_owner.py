"""The status page as an owner reads it: a game server that left shows as gone, since when and
what it means; a budget in use is not an alarm; the words are explained; every dot is named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import Running
from test_status import FakeLink
from test_status_browser import CHROMIUM, Elements, chromium

from bench.kit import make_planner, until
from bridge.status import DEPARTED_STATE, snapshot
from bridge.tally import Tally

META = {"postal": "9002"}


def test_a_game_server_that_left_is_listed_with_how_long_ago_and_its_calls_say_so() -> None:
    planner = make_planner(paced=True)
    planner.track(2, 701, "player:4", 0.0, meta=dict(META))
    view = snapshot(
        planner,
        [FakeLink(1, 3)],
        Tally(),
        100.0,
        started=0.0,
        requests_made=0,
        departed={2: 40.0, 1: 10.0},  # server 1 came back since: only 2 is gone
    )
    assert [(d.server_id, d.gone_for, d.calls) for d in view.departed] == [(2, 60.0, 1)]
    (call,) = view.calls
    assert call.state == DEPARTED_STATE


async def test_the_daemon_remembers_a_link_that_went_down_until_it_comes_back(
    daemon: Running,
) -> None:
    daemon.standin.add_call(1, 501, dict(META))
    game = await daemon.game()
    await game.send(type="track", call_id=501, subject="player:1", meta=META)
    await game.expect("call_state", call_id=501, state="following")
    await game.ws.close()
    await until(lambda: bool(daemon.bridge.snapshot().departed), within=5.0)
    view = daemon.bridge.snapshot()
    assert [d.server_id for d in view.departed] == [1] and view.links == []
    assert view.calls[0].state == DEPARTED_STATE
    metrics = daemon.bridge.metrics.render().decode()
    assert "sonoran_bridge_game_servers_disconnected 1.0" in metrics
    await daemon.game()
    await until(lambda: not daemon.bridge.snapshot().departed, within=5.0)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")
async def test_the_page_shows_a_departed_server_a_calm_full_budget_and_names_every_dot(
    daemon: Running, tmp_path: Path
) -> None:
    bridge = daemon.bridge
    url = await bridge.serve_status("127.0.0.1", 0)
    daemon.standin.add_call(1, 501, dict(META))
    game = await daemon.game()
    await game.send(type="track", call_id=501, subject="player:1", meta=META)
    await game.send(
        type="positions", items=[{"subject": "player:1", "x": 100.0, "y": 200.0, "z": 30.0}]
    )
    await game.expect("call_state", call_id=501, state="pushed")
    await game.ws.close()
    await until(lambda: bool(bridge.snapshot().departed), within=5.0)
    # The whole update budget in use, as in a busy hour (the test window is too short to
    # keep it full while the browser reads the page).
    budget = bridge.planner.update_budget
    budget.used = lambda now: budget.limit  # type: ignore[method-assign]
    html = await chromium(url, tmp_path / "profile", "--dump-dom")
    dom = Elements()
    dom.feed(html)
    assert "1 disconnected" in dom.text["headline"]
    assert any(cell.startswith("disconnected ") and cell.endswith(" ago") for cell in dom.cells)
    assert any("stay where the map last drew them" in cell for cell in dom.cells)
    assert DEPARTED_STATE in dom.cells
    # A budget in use is not coloured as an error.
    in_window = re.search(r'<td( class="[^"]*")?>(\d+) of (\d+) used, per', html)
    assert in_window and in_window[2] == in_window[3] and in_window[1] is None
    assert "call moves (update_call)" in dom.cells
    # The words explained.
    glossary = re.search(r'<dl id="glossary">(.*?)</dl>', html, re.DOTALL)
    assert glossary is not None
    words = re.sub(r"<[^>]+>", "", glossary[1])
    for word in ("subject", "own share", "update_call", "429"):
        assert word in words
    # Every dot on the map has a label: the call's pin and its subject.
    labels = re.findall(r'<text class="label[^"]*"[^>]*>([^<]+)</text>', html)
    assert "call 501" in labels and "player:1" in labels
