"""A release is a version and a changelog entry: the version the program reports has one."""

from __future__ import annotations

import re
import subprocess
import sys
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
