"""The command line: check-config, config errors, demo, and a clean exit on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import structlog
from websockets.sync.client import connect as sync_connect

from bench.kit import free_port
from bridge.cli import main

ROOT = Path(__file__).resolve().parent.parent
KEY = "live-key-ABCDEFGHIJKLMNOPQRSTUVWX"
TOKEN = "shared-token-abcdefghijkl"


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def good_config(port: int = 30125, api_url: str = "https://api.sonorancad.com") -> str:
    return (
        f'[cad]\napi_url = "{api_url}"\napi_key = "{KEY}"\n'
        f'[listen]\nport = {port}\ntoken = "{TOKEN}"\n'
    )


def test_the_example_config_is_valid_once_secrets_are_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SONORAN_API_KEY", KEY)
    monkeypatch.setenv("SONORAN_BRIDGE_TOKEN", TOKEN)
    assert main(["check-config", "--config", str(ROOT / "config.example.toml")]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "from $SONORAN_API_KEY" in out


def test_check_config_masks_secrets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--config", str(write_config(tmp_path, good_config()))]) == 0
    captured = capsys.readouterr()
    assert "ws://127.0.0.1:30125" in captured.out
    assert KEY not in captured.out + captured.err and TOKEN not in captured.out + captured.err


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[cad]\napi_key = "k"\nport = 1\n', "cad.port"),
        ('[listen]\nport = "high"\n', "listen.port"),
        ("[budget]\nupdate_call = 0\n", "budget.update_call"),
        ('[listen]\ntoken = "abcdefghijklmnop"\n', "cad.api_key"),
        ('[cad]\napi_key = "k"\n', "listen.token"),
        ("[cad\n", "TOML"),
    ],
)
def test_config_errors_name_the_key_and_exit_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, named: str
) -> None:
    assert main(["check-config", "--config", str(write_config(tmp_path, text))]) == 2
    assert named in capsys.readouterr().err


def test_a_missing_config_points_at_init(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--config", "/nonexistent/config.toml"]) == 2
    assert "sonoran-bridge init" in capsys.readouterr().err


def test_the_demo_runs_offline_and_reports(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--seconds", "3", "--calls", "3", "--speedup", "10"]) == 0
    out = capsys.readouterr().out
    assert "summary" in out and "429s 0" in out and "intact" in out and "LOST" not in out


def provoke_secret_paths(port: int) -> list[str]:
    """Drive the paths that handle what a client sent in place of, or beside, the secrets:
    a wrong token that extends the real one, and bad frames with both pasted in (the decoder
    echoes a bad tag). Returns the error messages the daemon sent back."""
    url = f"ws://127.0.0.1:{port}"
    answers: list[str] = []
    with sync_connect(url, open_timeout=5) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "token": TOKEN + KEY}))
        answers.append(json.loads(ws.recv(5))["message"])
    with sync_connect(url, open_timeout=5) as ws:
        ws.send(json.dumps({"type": "hello", "protocol": 1, "token": TOKEN}))
        assert json.loads(ws.recv(5))["type"] == "welcome"
        for pasted in (KEY, TOKEN, f"{KEY} {TOKEN}"):
            ws.send(json.dumps({"type": pasted}))
            answers.append(json.loads(ws.recv(5))["message"])
    return answers


def test_run_exits_zero_on_sigterm_and_never_logs_secrets(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, good_config(port, api_url="http://127.0.0.1:9"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bridge", "run", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        answers = provoke_secret_paths(port)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=15)
    finally:
        process.kill()
    assert process.returncode == 0, output
    assert '"event": "listening"' in output and '"event": "stopped"' in output
    # The secret-bearing paths ran: the wrong token was refused, each bad tag drew a warning.
    assert "refused connection: wrong token" in output
    assert output.count('"event": "bad frame"') == 3 and "***" in output
    assert len(answers) == 4 and all("***" in answer for answer in answers[1:])
    for text in [output, *answers]:
        assert KEY not in text and TOKEN not in text


def test_check_config_shows_what_guarantees_trouble_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = good_config() + "idle_timeout_seconds = 20\n[budget]\nupdate_call = 12\n"
    assert main(["check-config", "--config", str(write_config(tmp_path, text))]) == 0
    out = capsys.readouterr().out
    assert "WARNING: budget.update_call = 12 is above the 10" in out
    assert "WARNING: listen.idle_timeout_seconds = 20" in out


def test_check_config_names_a_postal_file_it_cannot_use_and_a_plain_shared_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the config names outside itself is read by check-config too: a bad postal file is a
    config error naming the key and the file; a shared engine reached in clear is warned of."""
    postals = tmp_path / "postals.json"
    postals.write_text('[{"x": 1}]')
    text = good_config() + f"[postal]\nfile = '{postals}'\n"
    assert main(["check-config", "--config", str(write_config(tmp_path, text))]) == 2
    err = capsys.readouterr().err
    assert f"config error: postal.file: {postals}" in err and "missing required field" in err
    shared = good_config() + '[budget]\nshared_url = "redis://:pw@cache.example:6379/0"\n'
    assert main(["check-config", "--config", str(write_config(tmp_path, shared))]) == 0
    assert "WARNING: budget.shared_url reaches redis at cache.example" in capsys.readouterr().out


@pytest.mark.parametrize("pasted", ["\u201c", "\\u007f"])  # a smart quote; DEL, escaped in TOML
def test_check_config_refuses_a_pasted_character_in_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pasted: str
) -> None:
    text = good_config().replace(KEY, KEY + pasted)
    assert main(["check-config", "--config", str(write_config(tmp_path, text))]) == 2
    err = capsys.readouterr().err
    assert "cad.api_key" in err and "not printable ASCII" in err and KEY not in err


def test_check_config_accepts_a_key_with_a_trailing_space_and_masks_its_real_length(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = good_config().replace(KEY, f"  {KEY} ")
    assert main(["check-config", "--config", str(write_config(tmp_path, text))]) == 0
    assert f"<set, {len(KEY)} chars>" in capsys.readouterr().out


def test_run_logs_each_config_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    class Idle:
        def __init__(self, config: object, resources: object) -> None:
            pass

        async def run(self) -> None:
            return None

    monkeypatch.setattr("bridge.build.build_daemon", Idle)
    text = good_config() + "[budget]\nwindow_seconds = 30\n"
    try:
        assert main(["run", "--config", str(write_config(tmp_path, text))]) == 0
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    (warned,) = [line for line in lines if line["event"] == "config will cause trouble"]
    assert warned["level"] == "warning" and warned["problem"].startswith("budget.window_seconds")


# -- Windows, by simulation ----------------------------------------------------------------


async def test_without_add_signal_handler_signals_still_stop_the_daemon(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Windows' event loops have no add_signal_handler: signal.signal takes over."""
    from bridge.app import _install_signal_handlers

    loop = asyncio.get_running_loop()

    def missing(*args: object) -> None:
        raise NotImplementedError

    monkeypatch.setattr(loop, "add_signal_handler", missing)
    before = signal.getsignal(signal.SIGINT)
    stopped = asyncio.Event()
    restore = _install_signal_handlers(stopped.set)
    try:
        signal.raise_signal(signal.SIGINT)
        await asyncio.wait_for(stopped.wait(), 5)
    finally:
        restore()
    assert signal.getsignal(signal.SIGINT) is before


def test_a_daemon_run_outside_the_main_thread_starts_without_signal_handlers() -> None:
    """Where neither add_signal_handler nor signal.signal may be used, run still starts."""
    from bridge.app import _install_signal_handlers

    failures: list[BaseException] = []

    def in_a_thread() -> None:
        async def install() -> None:
            _install_signal_handlers(lambda: None)()

        try:
            asyncio.run(install())
        except BaseException as exc:  # reported by the assertion below
            failures.append(exc)

    before = signal.getsignal(signal.SIGINT)
    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join(10)
    assert failures == []
    assert signal.getsignal(signal.SIGINT) is before


def test_ci_runs_exactly_the_readmes_test_command_and_it_suits_cmd_exe() -> None:
    readme = (ROOT / "README.md").read_text()
    (command,) = [line for line in readme.splitlines() if line.endswith("python -m pytest")]
    assert "'" not in command  # cmd.exe does not take single quotes as quotes
    assert command in (ROOT / ".ci/run").read_text().splitlines()
    assert "'" not in " ".join(
        line for line in readme.splitlines() if line.lstrip().startswith("pip install")
    )
