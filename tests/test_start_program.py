"""`init` names the program by its absolute path, and the Windows recipes take it.

A venv's `sonoran-bridge` is not on PATH for a service or a start script: the bare name made
cmd exit 9009 and the start script retry for ever.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.cli import _parser, main
from bridge.onboarding import shell_line, start_lines, start_program

ROOT = Path(__file__).resolve().parent.parent
WINDOWS = ROOT / "deploy" / "windows"
VENV_EXE = r"C:\fivem\sonoran bridge\venv\Scripts\sonoran-bridge.exe"
VENV_PY = r"C:\fivem\sonoran bridge\venv\Scripts\python.exe"


def exists_only(*paths: str) -> Callable[[str], bool]:
    return lambda path: path in paths


def test_on_windows_the_launcher_path_gets_its_exe_back() -> None:
    argv0 = VENV_EXE.removesuffix(".exe")
    found = start_program(
        argv0, VENV_PY, r"C:\elsewhere", os_name="nt", exists=exists_only(VENV_EXE)
    )
    assert found == [VENV_EXE]


def test_under_python_m_bridge_the_scripts_folder_has_the_program() -> None:
    scripts = r"C:\fivem\sonoran bridge\venv\Scripts"
    found = start_program(
        r"C:\fivem\sonoran bridge\venv\Lib\site-packages\bridge\__main__.py",
        VENV_PY,
        scripts,
        os_name="nt",
        exists=exists_only(VENV_EXE),
    )
    assert found == [VENV_EXE]


def test_with_no_console_script_anywhere_it_is_this_python_with_m_bridge() -> None:
    found = start_program(
        "-c", "/usr/bin/python3", "/usr/bin", os_name="posix", exists=exists_only()
    )
    assert found == ["/usr/bin/python3", "-m", "bridge"]


def test_windows_start_lines_quote_the_path_and_name_both_recipes() -> None:
    text = start_lines([VENV_EXE], r"C:\fivem\config.toml", os_name="nt")
    assert f'"{VENV_EXE}" run --config C:\\fivem\\config.toml' in text
    assert "PowerShell, put &" in text
    assert f'sonoran-bridge.cmd "{VENV_EXE}"' in text
    assert f'-Config C:\\fivem\\config.toml -Exe "{VENV_EXE}"' in text


def test_init_prints_a_start_command_that_runs_this_installation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    program = str(Path(sysconfig.get_path("scripts")) / "sonoran-bridge")
    monkeypatch.setattr(sys, "argv", [program, "init"])
    assert main(["init"]) == 0
    out = capsys.readouterr().out
    config = str((tmp_path / "config.toml").resolve())
    (line,) = [x.strip() for x in out.splitlines() if x.strip().endswith(f"run --config {config}")]
    command = shlex.split(line)
    assert Path(command[0]).is_absolute() and command[0] == program
    assert _parser().parse_args(command[1:]).config == config
    done = subprocess.run([command[0], "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("sonoran-bridge ")
    assert f"{shell_line([program])} check-config --online --config {config}" in out


def cmd_blocks(text: str) -> dict[str, list[str]]:
    """The start script's lines under each label (`""` before the first one)."""
    blocks: dict[str, list[str]] = {"": []}
    label = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith(":"):
            label = line[1:]
            blocks[label] = []
        elif line and not line.lower().startswith("rem"):
            blocks[label].append(line)
    return blocks


def test_the_start_script_runs_the_program_it_is_given_and_stops_when_it_is_missing() -> None:
    blocks = cmd_blocks((WINDOWS / "sonoran-bridge.cmd").read_text())
    assert 'set "PROGRAM=%~1"' in blocks[""]
    # Not found before the first start: no loop at all.
    assert any('if not exist "%PROGRAM%" goto :missing' in line for line in blocks[""])
    run = blocks["run"]
    (start,) = [line for line in run if line.startswith('"%PROGRAM%" ')]
    args = shlex.split(start.replace('"%CONFIG%"', "config.toml"))[1:]
    assert _parser().parse_args(args).command == "run"
    # cmd's "not recognized" (9009) leaves the loop before the restart.
    missing = run.index('if "%CODE%"=="9009" goto :missing')
    assert missing < run.index("goto :run")
    assert not any("goto :run" in line for line in blocks["missing"])
    assert any("sonoran-bridge init" in line for line in blocks["missing"])


def test_the_service_script_refuses_a_missing_program_naming_init() -> None:
    script = (WINDOWS / "install-service.ps1").read_text()
    assert re.search(r"Get-Command sonoran-bridge -ErrorAction SilentlyContinue", script)
    assert "pass -Exe" in script and "sonoran-bridge init" in script
    assert re.search(r"Test-Path -PathType Leaf \$Exe", script)
