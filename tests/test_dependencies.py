"""What the wheel imports is what it declares: a shipped module that imports an undeclared
package works here (something else pulled it in) and fails on a clean install."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL = ("ImportError", "ModuleNotFoundError")


def _optional(handlers: list[ast.ExceptHandler]) -> bool:
    """Whether a `try` falls back when its imports are missing."""
    for handler in handlers:
        caught = handler.type
        names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
        if any(isinstance(name, ast.Name) and name.id in OPTIONAL for name in names):
            return True
    return False


def required_imports(source: str) -> set[str]:
    """Top-level names of the modules `source` imports, leaving out guarded optional ones."""
    tree = ast.parse(source)
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and _optional(node.handlers):
            guarded.update(id(inner) for stmt in node.body for inner in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
    return found


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = (re.split(r"[<>=!~;\[ ]", dep, maxsplit=1)[0] for dep in project["dependencies"])
    return {_normal(name) for name in names}


def third_party_of_the_wheel() -> dict[str, set[str]]:
    """Distribution name -> the shipped files that import it."""
    owners = importlib.metadata.packages_distributions()
    used: dict[str, set[str]] = {}
    for path in sorted((ROOT / "bridge").rglob("*.py")):
        for module in required_imports(path.read_text()):
            if module in sys.stdlib_module_names or module in ("bridge", "__future__"):
                continue
            for dist in owners.get(module, [module]):
                used.setdefault(_normal(dist), set()).add(str(path.relative_to(ROOT)))
    return used


def test_every_third_party_import_of_the_wheel_is_a_declared_dependency() -> None:
    used = third_party_of_the_wheel()
    missing = {dist: sorted(files) for dist, files in used.items() if dist not in declared()}
    assert missing == {}
    assert {"websockets", "httpx", "msgspec", "structlog", "h11"} <= set(used)


def test_every_declared_dependency_is_imported_by_the_wheel() -> None:
    assert declared() - set(third_party_of_the_wheel()) == set()


def test_a_guarded_optional_import_is_not_required() -> None:
    source = (
        "import json\nimport httpx\ntry:\n    import colorama\nexcept ImportError:\n"
        "    colorama = None\nfrom websockets.frames import CloseCode\n"
    )
    assert required_imports(source) == {"json", "httpx", "websockets"}
