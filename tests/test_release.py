"""A release is a version and a changelog entry: the version the program reports has one."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import bridge

ROOT = Path(__file__).resolve().parent.parent


def test_the_changelog_has_a_heading_for_this_version_below_unreleased() -> None:
    headings = re.findall(r"^## (.+)$", (ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    versions = [heading.split()[0] for heading in headings]
    assert bridge.__version__ in versions
    if "Unreleased" in versions:
        assert versions.index("Unreleased") < versions.index(bridge.__version__)


def test_version_prints_the_version_the_package_carries() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "--version"], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == f"sonoran-bridge {bridge.__version__}"


def test_the_readme_names_no_made_up_repository_address() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "<repository URL>" not in readme
    # Every clone line uses the placeholder the README explains.
    clones = re.findall(r"^git clone (\S+)", readme, re.MULTILINE)
    assert clones and set(clones) == {"REPO"}
    assert "`REPO` stands for" in readme


def test_the_release_check_is_in_ci_after_the_tests() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    tests = ci.index('pip install -e ".[test]" && python -m pytest')
    build = ci.index("python -m build")
    assert tests < build
    assert re.search(r"sonoran-bridge\" demo --seconds 5", ci[build:])


ENTRY_POINTS = ("bridge.cli", "bridge.__main__", "bridge.standin.cad", "bridge.standin.game")
"""The wheel's programs: `sonoran-bridge` (`python -m bridge`), and the stand-in and the
simulated game the docs run by hand (`python -m bridge.standin.cad`, `...game`)."""
TEST_ONLY = ("TraceFleet", "load_gpx", "load_csv", "RedisServer", "MariaDbServer", "MemoryEngine")
"""What tests and the benchmark use and no user does: it lives in tests/ and bench/."""


def _imports(source: str, package: str) -> set[str]:
    """The `bridge` modules one module's source imports, at any depth of the code."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}"
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == "bridge" or name.startswith("bridge.")}


def test_the_wheel_ships_what_users_run_and_nothing_test_only(tmp_path: Path) -> None:
    from hatchling.builders.wheel import WheelBuilder

    (wheel,) = WheelBuilder(str(ROOT)).build(directory=str(tmp_path), versions=["standard"])
    with zipfile.ZipFile(wheel) as built:
        sources = {
            name[:-3].replace("/", ".").removesuffix(".__init__"): built.read(name).decode()
            for name in built.namelist()
            if name.endswith(".py")
        }
        packages = {
            name.removesuffix("/__init__.py").replace("/", ".")
            for name in built.namelist()
            if name.endswith("/__init__.py")
        }
    assert all(module.split(".")[0] == "bridge" for module in sources)
    for module in ("bridge.build", "bridge.standin.cad", "bridge.standin.game"):
        assert module in sources
    assert "bridge.standin.routes" in sources and "class Fleet" in sources["bridge.standin.routes"]
    defined = {
        node.name
        for source in sources.values()
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ClassDef | ast.FunctionDef)
    }
    assert defined.isdisjoint(TEST_ONLY)
    # Every module is one a program of the wheel imports: nothing ships that nothing runs.
    reached: set[str] = set()
    todo = list(ENTRY_POINTS)
    while todo:
        module = todo.pop()
        if module in reached or module not in sources:
            continue
        reached.add(module)
        package = module if module in packages else module.rpartition(".")[0]
        todo.extend(_imports(sources[module], package))
    # A package's __init__ runs when any module of it is imported.
    assert set(sources) - reached - packages == set()
