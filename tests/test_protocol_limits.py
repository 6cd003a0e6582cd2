"""Protocol v1's limits are written once (bridge/protocol.py) and held equal in Lua and JS."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
from lupa import lua54

from bridge import protocol

RESOURCE = Path(__file__).resolve().parents[1] / "lua_resource"


def _lua_modules() -> Any:
    lua = lua54.LuaRuntime(unpack_returned_tuples=True)
    lua.globals().package.path = f"{RESOURCE}/?.lua"
    require = lua.eval("function(name) return (require(name)) end")
    names = ("Motion", "Sampler", "Messages")
    modules = {name: require(f"shared.{name.lower()}") for name in names}
    return lua, lua.table_from(modules)


def _js_const(name: str) -> int:
    """A `const NAME = <integer arithmetic>;` of transport.js, evaluated."""
    text = (RESOURCE / "server" / "transport.js").read_text()
    found = re.search(rf"const {name} = ([0-9 *+]+);", text)
    assert found is not None, f"transport.js has no const {name}"
    return math.prod(int(f) for f in found.group(1).split("*"))


def test_lua_uses_the_python_limits() -> None:
    _, m = _lua_modules()
    messages = m.Messages
    assert messages.PROTOCOL == protocol.PROTOCOL_VERSION
    assert messages.MAX_FRAME_BYTES == protocol.MAX_FRAME_BYTES
    assert messages.MAX_BATCH == protocol.MAX_BATCH
    assert messages.MAX_TRACKS == protocol.MAX_TRACKS
    assert messages.FRAME_BUDGET < protocol.MAX_FRAME_BYTES
    assert dict(messages.LIMITS.items()) == protocol.LIMITS
    sampler = m.Sampler
    assert protocol.LIMITS["horizontal"] == sampler.MAX_HORIZONTAL
    assert protocol.LIMITS["vertical"] == sampler.MAX_VERTICAL
    assert protocol.LIMITS["speed"] == sampler.MAX_SPEED


def test_js_uses_the_python_limits() -> None:
    assert _js_const("PROTOCOL") == protocol.PROTOCOL_VERSION
    assert _js_const("MAX_FRAME_BYTES") == protocol.MAX_FRAME_BYTES


def _item(**fields: Any) -> dict[str, Any]:
    return {"subject": "player:1", "x": 1.0, "y": 2.0, "z": 3.0, **fields}


@pytest.mark.parametrize(
    ("field", "limit", "low"),
    [
        ("x", "horizontal", -1), ("y", "horizontal", -1), ("z", "vertical", -1),
        ("heading", "heading", 0), ("speed", "speed", 0), ("vx", "speed", -1), ("vy", "speed", -1),
    ],
)  # fmt: skip
def test_both_ends_take_an_item_at_each_limit_and_refuse_it_past(
    field: str, limit: str, low: int
) -> None:
    lua, m = _lua_modules()
    edge = float(protocol.LIMITS[limit])
    for value, ok in [(edge, True), (low * edge, True), (edge + 0.01, False)]:
        item = _item(**{field: value})
        answer = m.Messages.item_ok(lua.table_from(item))
        lua_ok = answer[0] if isinstance(answer, tuple) else answer
        try:
            msgspec.convert(item, protocol.Position)
            python_ok = True
        except msgspec.ValidationError:
            python_ok = False
        assert (lua_ok, python_ok) == (ok, ok), (field, value)
