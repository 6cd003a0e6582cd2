"""Every convar is read in one place, shared/settings.lua (through server/main.lua's
GetConvar): transport.js reads none and gets its share from main.lua at start."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from lupa import lua54

from .fivem import RESOURCE_DIR, FakeServer, lua_list, stock_require
from .node_transport import NodeTransport, transport_settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "resource.md"
SETTINGS = RESOURCE_DIR / "shared" / "settings.lua"


def test_only_settings_lua_names_convars_and_only_main_lua_reads_them() -> None:
    documented = set(re.findall(r"`(sonoran_bridge_\w+)`", DOCS.read_text()))
    assert "sonoran_bridge_server_id" in documented and "sonoran_bridge_keepalive_ms" in documented
    named = set(re.findall(r'"(sonoran_bridge_[a-z_]+)"', SETTINGS.read_text()))
    assert documented <= named, documented - named
    for path in RESOURCE_DIR.rglob("*"):
        if path.suffix not in (".lua", ".js"):
            continue
        code = path.read_text()
        readers = re.findall(r"\bGetConvar\w*\s*[(,)]", code)
        if path.name == "main.lua":
            assert re.findall(r"\bGetConvar\w*", code) == ["GetConvar"], path
            assert "Settings.read(GetConvar)" in code
        else:
            assert readers == [], path


def read(convars: dict[str, str]) -> tuple[Any, list[str]]:
    lua = lua54.LuaRuntime(unpack_returned_tuples=True)
    settings = stock_require(lua)("shared.settings")
    got, warnings = settings.read(lambda name, default: convars.get(name, default))
    return got, list(lua_list(warnings))


def test_the_transport_share_with_defaults() -> None:
    assert transport_settings({"sonoran_bridge_token": "  secret  "}) == {
        "url": "ws://127.0.0.1:30125",
        "token": "secret",  # trimmed, as the transport sent it in hello before
        "server_id": 1,
        "backoff_min_ms": 500,
        "backoff_max_ms": 30000,
        "connect_timeout_ms": 10000,
        "keepalive_ms": 30000,
        "problems": [],
    }


def test_the_transport_share_problems_in_order_and_the_cap_not_below_the_floor() -> None:
    share = transport_settings(
        {
            "sonoran_bridge_url": " wss://bridge.example:30125 ",
            "sonoran_bridge_server_id": "2.5",
            "sonoran_bridge_backoff_min_ms": "2000",
            "sonoran_bridge_backoff_max_ms": "1000",
            "sonoran_bridge_keepalive_ms": "99999999999999999999999",
        }
    )
    assert share["url"] == "wss://bridge.example:30125"
    assert share["backoff_max_ms"] == 2000
    assert share["problems"] == [
        'sonoran_bridge_token is not set (server.cfg: set sonoran_bridge_token "...")',
        'sonoran_bridge_server_id: expected an integer between 1 and 2147483647, got "2.5"',
        "sonoran_bridge_keepalive_ms: expected an integer between 100 and 600000, "
        'got "99999999999999999999999"',
    ]
    got, warnings = read({"sonoran_bridge_token": " \t "})
    assert got.token_set is False and warnings == []


def test_main_lua_hands_the_transport_its_share_once_at_start() -> None:
    server = FakeServer({"sonoran_bridge_token": "tok", "sonoran_bridge_server_id": "7"}).start()
    handed = server.events("sonoran_bridge:transportSettings")
    assert len(handed) == 1
    share = handed[0][0]
    assert (share.token, share.server_id, share.url) == ("tok", 7, "ws://127.0.0.1:30125")
    assert not [line for line in server.prints if "tok" in line.split()]


async def test_the_transport_takes_its_settings_once_and_survives_bad_ones() -> None:
    transport = await NodeTransport.start({"sonoran_bridge_token": "tok"})
    try:
        await transport.wait_for(lambda e: e["ev"] == "attempt")
        # A second copy (another resource firing the event) changes nothing.
        await transport.trigger("transportSettings", {"url": "ws://evil.example:1", "token": "x"})
        # Real sleep: nothing may happen: the real Node process gets time to (wrongly) act.
        await asyncio.sleep(0.2)
        assert {e["url"] for e in transport.events if e["ev"] == "attempt"} == {
            "ws://127.0.0.1:30125"
        }
        assert transport.errors() == []
    finally:
        await transport.stop()
    for given in ("not a table", None, {"url": 5, "problems": "x", "token": ["t"]}):
        blank = await start_without_settings()
        try:
            await blank.trigger("transportSettings", given)
            await blank.wait_for(lambda e: e["ev"] == "log" and "link idle" in e["line"])
            assert blank.logs() == [
                "[sonoran_bridge] sonoran_bridge_token is not set (server.cfg: set "
                'sonoran_bridge_token "...")',
                "[sonoran_bridge] link idle: fix the convars above and restart the resource",
            ]
            assert blank.attempts() == [] and blank.errors() == []
        finally:
            await blank.stop()


async def start_without_settings() -> NodeTransport:
    """transport.js loaded, main.lua not run yet: it waits, silent, for its settings."""
    transport = await NodeTransport.start({}, env={"HARNESS_SETTINGS": ""})
    assert transport.logs() == [] and transport.attempts() == []
    return transport
