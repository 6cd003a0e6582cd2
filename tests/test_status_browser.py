"""The status page in a real headless Chromium: its script draws subjects and pins in game
coordinates, fills the tables, and refreshes by itself."""

from __future__ import annotations

import asyncio
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import TOKEN, MakeDaemon, Running, make_config

from bridge.config import Config, PostalConfig
from bridge.protocol import Position, Positions
from bridge.standin.cad import CadStandIn

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium")

META = {"postal": "9002"}


class Elements(HTMLParser):
    """Every element of a dumped DOM with its attributes; the text of table cells and spans."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str]]] = []
        self.text: dict[str, str] = {}
        self.cells: list[str] = []
        self._open: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.found.append((tag, values))
        self._open.append((tag, values.get("id")))

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if self._open:
            tag, element_id = self._open[-1]
            if element_id:
                self.text[element_id] = self.text.get(element_id, "") + data
            if tag == "td":
                self.cells.append(data)

    def of_class(self, tag: str, cls: str) -> list[dict[str, str]]:
        return [a for t, a in self.found if t == tag and cls in a.get("class", "").split()]


async def chromium(url: str, profile: Path, *extra: str) -> str:
    assert CHROMIUM is not None
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # refused as root otherwise
        "--disable-gpu",
        f"--user-data-dir={profile}",  # never share a profile with another run
        "--virtual-time-budget=5000",  # 5 s of page time: the script refreshes every 2 s
        *extra,
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0
    return out.decode()


async def test_the_page_draws_subjects_and_pins_where_they_are_and_refreshes_itself(
    daemon: Running, tmp_path: Path
) -> None:
    bridge = daemon.bridge
    url = await bridge.serve_status("127.0.0.1", 0)
    for call_id in (501, 502):
        daemon.standin.add_call(1, call_id, dict(META))
    game = await daemon.game()
    await game.send(
        type="sync",
        tracks=[
            {"call_id": 501, "subject": "player:1", "meta": META, "radius": 120},
            {"call_id": 502, "subject": "player:2", "meta": META},
        ],
    )
    await game.send(
        type="positions",
        items=[
            {"subject": "player:1", "x": -1200.5, "y": 2400.0, "z": 30.0},
            {"subject": "player:2", "x": 300.0, "y": -800.0, "z": 30.0},
        ],
    )
    for call_id in (501, 502):
        await game.expect("call_state", call_id=call_id, state="pushed")
    # Once the page has read the first snapshot, player 2 drives off: a later read shows it.
    served = 0
    take = bridge.snapshot

    def counted():  # type: ignore[no-untyped-def]  # a local test double
        nonlocal served
        served += 1
        view = take()
        if served == 1:
            moved = Position(subject="player:2", x=900.0, y=-800.0, z=30.0)
            bridge.on_message(1, Positions(items=[moved]))
        return view

    bridge.snapshot = counted  # type: ignore[method-assign]  # a test double counts or scripts the method in place
    dom = Elements()
    dom.feed(await chromium(url, tmp_path / "profile", "--dump-dom"))
    assert served >= 2
    pins = {a["data-call"]: a for a in dom.of_class("circle", "pin")}
    assert set(pins) == {"1:501", "1:502"}
    assert (float(pins["1:501"]["data-x"]), float(pins["1:501"]["data-y"])) == (-1200.5, 2400.0)
    subjects = {a["data-subject"]: a for a in dom.of_class("circle", "subject")}
    assert set(subjects) == {"1:player:1", "1:player:2"}
    assert float(subjects["1:player:2"]["data-x"]) == 900.0  # the refreshed position
    # North up: player 1 (farther north) is drawn above player 2, and west of it.
    one, two = subjects["1:player:1"], subjects["1:player:2"]
    assert float(one["cy"]) < float(two["cy"]) and float(one["cx"]) < float(two["cx"])
    # The 120 m radius is drawn to the same scale as the distances between points.
    scale = (float(two["cx"]) - float(one["cx"])) / (900.0 + 1200.5)
    assert float(pins["1:501"]["r"]) == pytest.approx(120 * scale, rel=1e-3)
    assert "2 call(s)" in dom.text["headline"] and "1 game server(s)" in dom.text["headline"]
    assert {"501", "502", "player:1", "player:2"} <= set(dom.cells)
    assert "200" in dom.cells  # the last requests table
    assert TOKEN not in "".join(dom.cells)


async def test_the_page_says_so_when_the_daemon_stops_answering(
    daemon: Running, tmp_path: Path
) -> None:
    bridge = daemon.bridge
    url = await bridge.serve_status("127.0.0.1", 0)
    served = 0
    take = bridge.snapshot

    def then_fail():  # type: ignore[no-untyped-def]  # a local test double
        nonlocal served
        served += 1
        if served > 1:
            raise RuntimeError("snapshot failed")
        return take()

    bridge.snapshot = then_fail  # type: ignore[method-assign]  # a test double counts or scripts the method in place
    dom = Elements()
    dom.feed(await chromium(url, tmp_path / "profile", "--dump-dom"))
    banner = next(a for t, a in dom.found if a.get("id") == "banner")
    assert "hidden" not in banner and "unreachable" in dom.text["banner"]


async def test_with_a_postal_file_the_map_draws_its_postals_behind_the_calls(
    make_daemon: MakeDaemon, tmp_path: Path
) -> None:
    postals = [
        {"code": "101", "x": 0.0, "y": 0.0},
        {"code": "102", "x": 150.0, "y": 90.0},
        {"code": "903", "x": 4000.0, "y": 7000.0},
    ]  # the last one off the drawn area
    file = tmp_path / "postals.json"
    file.write_text(json.dumps(postals))

    def with_postals(standin: CadStandIn) -> Config:
        config = make_config(standin)
        config.postal = PostalConfig(file=str(file))
        return config

    daemon = await make_daemon(configure=with_postals)
    url = await daemon.bridge.serve_status("127.0.0.1", 0)
    daemon.standin.add_call(1, 501, dict(META))
    game = await daemon.game()
    await game.send(type="sync", tracks=[{"call_id": 501, "subject": "player:1", "meta": META}])
    await game.send(type="positions", items=[{"subject": "player:1", "x": 60, "y": 40, "z": 0}])
    await game.expect("call_state", call_id=501, state="pushed")
    dom = Elements()
    dom.feed(await chromium(url, tmp_path / "profile", "--dump-dom"))
    drawn = dom.of_class("circle", "postal")
    labels = [t for t, a in dom.found if t == "text" and "postal" in a.get("class", "")]
    assert len(drawn) == 2 and len(labels) == 2  # the two near the call, not the far one
    assert dom.of_class("circle", "pin")  # the call is drawn over them


async def test_behind_its_login_the_page_reads_its_data_too(
    daemon: Running, tmp_path: Path
) -> None:
    password = "status-login-0123456789"
    url = await daemon.bridge.serve_status("127.0.0.1", 0, password=password)
    daemon.standin.add_call(1, 501, dict(META))
    game = await daemon.game()
    await game.send(type="sync", tracks=[{"call_id": 501, "subject": "player:1", "meta": META}])
    await game.send(
        type="positions", items=[{"subject": "player:1", "x": 10.0, "y": 20.0, "z": 30.0}]
    )
    await game.expect("call_state", call_id=501, state="pushed")
    # The login as a browser holds it after its prompt (here given in the address).
    logged_in = url.replace("http://", f"http://me:{password}@")
    dom = Elements()
    dom.feed(await chromium(logged_in, tmp_path / "profile", "--dump-dom"))
    assert "1 call(s)" in dom.text["headline"], dom.text.get("headline")
    assert {"501", "player:1"} <= set(dom.cells)
    assert password not in "".join(dom.cells)
