"""server/require.lua, the resource's module loader: "shared.follow" is shared/follow.lua of the
resource's folder (LoadResourceFile), loaded once; a missing module, one that does not load,
and a cycle stop with an error that names them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lupa import lua54

from .fivem import RESOURCE_DIR, FakeServer


class Loader:
    """server/require.lua in a bare Lua 5.4, its resource's files held in a dict."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = files
        self.reads: list[str] = []
        self.lua = lua54.LuaRuntime(unpack_returned_tuples=True)
        g = self.lua.globals()
        g.GetCurrentResourceName = lambda: "sonoran_bridge"
        g.LoadResourceFile = self._load
        path = RESOURCE_DIR / "server" / "require.lua"
        g.load(path.read_text(), "@" + str(path))()

    def _load(self, resource: str, path: str) -> str | None:
        if resource != "sonoran_bridge":
            return None
        self.reads.append(path)
        return self.files.get(path)

    def require(self, name: object) -> object:
        return self.lua.globals().require(name)


def test_a_dotted_name_is_a_file_of_the_resource_and_returns_its_table() -> None:
    loader = Loader({"shared/thing.lua": "return { answer = 42, name = ... }"})
    module = loader.require("shared.thing")
    assert module.answer == 42
    assert module.name == "shared.thing"  # like stock require, the name is its argument
    assert loader.reads == ["shared/thing.lua"]


def test_a_module_runs_once_and_every_require_gets_the_same_table() -> None:
    loader = Loader(
        {
            "shared/count.lua": "RUNS = (RUNS or 0) + 1; return {}",
            "shared/a.lua": 'return { count = require("shared.count") }',
        }
    )
    first = loader.require("shared.count")
    again = loader.require("shared.a").count
    assert loader.lua.eval("rawequal")(first, again)
    assert loader.lua.globals().RUNS == 1
    assert loader.reads == ["shared/count.lua", "shared/a.lua"]


def test_a_module_that_returns_nothing_is_loaded_once_too() -> None:
    loader = Loader({"x.lua": "RUNS = (RUNS or 0) + 1"})
    assert loader.require("x") is True
    assert loader.require("x") is True
    assert loader.lua.globals().RUNS == 1


def test_a_missing_module_is_named_with_its_file() -> None:
    loader = Loader({"shared/a.lua": 'return require("shared.nowhere")'})
    with pytest.raises(lua54.LuaError) as caught:
        loader.require("shared.a")
    message = str(caught.value)
    assert (
        'module "shared.nowhere" not found (no file shared/nowhere.lua in resource sonoran_bridge)'
        in message
    )
    assert 'module "shared.a" failed' in message


def test_a_cycle_is_named_with_its_path() -> None:
    loader = Loader(
        {
            "shared/a.lua": 'return { b = require("shared.b") }',
            "shared/b.lua": 'return { c = require("shared.c") }',
            "shared/c.lua": 'return { a = require("shared.a") }',
        }
    )
    with pytest.raises(lua54.LuaError) as caught:
        loader.require("shared.a")
    assert "a cycle: shared.a -> shared.b -> shared.c -> shared.a" in str(caught.value)


def test_a_module_that_does_not_parse_or_fails_is_named() -> None:
    loader = Loader({"bad.lua": "return {", "boom.lua": 'error("no luck")'})
    with pytest.raises(lua54.LuaError, match=r'module "bad" does not load: .*bad\.lua'):
        loader.require("bad")
    with pytest.raises(lua54.LuaError, match=r'module "boom" failed: .*no luck'):
        loader.require("boom")
    # A failed module is not kept: once fixed, the next require loads it.
    loader.files["boom.lua"] = "return { fixed = true }"
    assert loader.require("boom").fixed is True


@pytest.mark.parametrize("name", ["", "../etc/passwd", "shared..a", ".a", "a.", "a/b", 12, None])
def test_a_name_that_is_not_a_module_name_is_refused(name: object) -> None:
    loader = Loader({})
    with pytest.raises(lua54.LuaError, match=r'expected a module name like "shared\.follow"'):
        loader.require(name)
    assert loader.reads == []


def test_the_resource_starts_through_the_loader_alone() -> None:
    """Under the emulator the manifest's three entry files are run; every module comes from
    the resource's folder through LoadResourceFile, and nothing lands in the globals."""
    server = FakeServer()
    server.start()
    assert not server.errors
    assert server.eval("SonoranBridge") is None
    assert server.eval("Bridge") is None


def test_a_resource_with_a_module_missing_stops_at_start_naming_it(tmp_path: Path) -> None:
    folder = tmp_path / "sonoran_bridge"
    shutil.copytree(RESOURCE_DIR, folder)
    (folder / "shared" / "units.lua").unlink()
    missing = r'module "shared\.units" not found \(no file shared/units\.lua'
    with pytest.raises(lua54.LuaError, match=missing):
        FakeServer(resource_dir=folder).start()
