"""fxmanifest.lua: what FXServer needs to run the resource, and nothing the yarn builder
would act on."""

from __future__ import annotations

import re
from pathlib import Path

import bridge

from .fivem import RESOURCE_DIR, FakeServer


def directives() -> dict[str, object]:
    return dict(FakeServer().manifest())


def test_runtime_directives() -> None:
    d = directives()
    assert d["fx_version"] == "cerulean"
    assert d["game"] == "gta5"
    assert d["server_only"] == "yes"
    assert d["node_version"] == "22"
    assert d["dependencies"] == ["/server:12913", "/onesync"]


def test_metadata_fields() -> None:
    d = directives()
    assert d["name"] == "sonoran_bridge"
    assert d["description"]
    assert str(d["repository"]).startswith("https://")
    # The version travels in `hello`; it is the project's version.
    assert d["version"] == bridge.__version__


def test_scripts_run_js_first_then_the_loader_then_main_and_all_exist() -> None:
    scripts = FakeServer().server_scripts()
    assert scripts == ["server/transport.js", "server/require.lua", "server/main.lua"]
    for script in scripts:
        assert (RESOURCE_DIR / script).is_file(), script
    assert not [s for s in scripts if s.startswith("client")]


def test_no_package_json_in_the_resource() -> None:
    assert not list(RESOURCE_DIR.rglob("package.json"))


def test_lua_has_no_fivem_only_syntax() -> None:
    """Backtick hashes, compound assignment and safe navigation only parse in FiveM's Lua."""
    for path in RESOURCE_DIR.rglob("*.lua"):
        code = re.sub(r"--.*", "", path.read_text())  # comments may mention them
        code = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', code)
        assert "`" not in code, path
        assert not re.search(r"[-+*/]=", code), path
        assert "?." not in code and "?[" not in code, path


def test_only_main_lua_touches_natives() -> None:
    natives = re.compile(
        r"\b(GetPlayers|GetPlayerPed|GetEntityCoords|DoesEntityExist|GetConvar\w*|RegisterCommand|"
        r"AddEventHandler|TriggerEvent|TriggerClientEvent|CreateThread|Wait|GetResourceState|exports|"
        r"LoadResourceFile|GetCurrentResourceName)\s*[\(.:\[]"
    )
    for path in (RESOURCE_DIR / "shared").glob("*.lua"):
        code = re.sub(r"--.*", "", path.read_text())
        assert not natives.search(code), (path, natives.search(code))
    assert natives.search(Path(RESOURCE_DIR / "server" / "main.lua").read_text())
    # The loader reads the resource's files and touches nothing else.
    loader = re.sub(r"--.*", "", (RESOURCE_DIR / "server" / "require.lua").read_text())
    assert {m.group(1) for m in natives.finditer(loader)} == {
        "GetCurrentResourceName",
        "LoadResourceFile",
    }
