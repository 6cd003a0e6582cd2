"""What an owner sees when the config or the start goes wrong: the key, the cause, the fix.

Windows input is simulated: backslash paths as typed, Notepad's byte-order mark, PowerShell 5's
UTF-16.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import structlog

from bridge.cli import main
from bridge.config import ConfigError, load_config, parse_config

KEY = "live-key-ABCDEFGHIJKLMNOPQRSTUVWX"
TOKEN = "shared-token-abcdefghijkl"
GOOD = f'[cad]\napi_key = "{KEY}"\n[listen]\ntoken = "{TOKEN}"\n'


def error_of(text: str | bytes) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={}, require_secrets=False)
    return str(caught.value)


@pytest.mark.parametrize(
    ("line", "key", "value"),
    [
        (
            r"[postal]" "\n" r'file = "C:\fivem\resources\nearest-postal\new-postals.json"',
            "postal.file",
            r"C:\fivem\resources\nearest-postal\new-postals.json",
        ),
        (
            r"[budget]" "\n" r'state_file = "C:\Users\owner\bridge"',
            "budget.state_file",
            r"C:\Users\owner\bridge",
        ),
        (
            r"[budget]" "\n" r'state_file = "\\nas\share\bridge"',
            "budget.state_file",
            r"\\nas\share\bridge",
        ),
    ],
)
def test_a_windows_path_in_double_quotes_names_the_key_and_both_ways_to_write_it(
    line: str, key: str, value: str
) -> None:
    text = error_of(line + "\n")
    assert text.startswith(f"{key} (line 2): {value} is a Windows path in double quotes")
    forward = value.replace("\\", "/")
    name = key.split(".")[1]
    assert f'{name} = "{forward}"' in text and f"{name} = '{value}'" in text
    assert "\n" not in text and "\f" not in text and "Invalid hex" not in text


@pytest.mark.parametrize(
    "line",
    [
        r"""state_file = 'C:\Users\owner\bridge'""",
        r'state_file = "C:\\Users\\owner\\bridge"',
        r'state_file = "C:/Users/owner/bridge"',
    ],
)
def test_a_windows_path_written_either_right_way_is_read_as_meant(line: str) -> None:
    config = parse_config(f"[budget]\n{line}\n", env={}, require_secrets=False)
    assert config.budget.state_file.replace("\\", "/") == "C:/Users/owner/bridge"


def test_notepads_byte_order_mark_is_read() -> None:
    config = parse_config(b"\xef\xbb\xbf" + GOOD.encode(), env={})
    assert config.cad.api_key == KEY


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_from_powershell_is_named_plainly(encoding: str) -> None:
    text = error_of(GOOD.encode(encoding))
    assert "saved as UTF-16" in text and "save it again as UTF-8" in text
    assert "codec" not in text


def test_a_legacy_code_page_is_named_with_its_line() -> None:
    text = error_of(("# café\n" + GOOD).encode("cp1252"))
    assert "not UTF-8" in text and "line 1" in text and "codec" not in text


@pytest.mark.parametrize(
    ("text", "suggested"),
    [
        ("[tracking]\nmin_mov = 3\n", "tracking.min_mov: unknown key (did you mean `min_move`?"),
        ("[budget]\nupdate_calls = 3\n", "did you mean `update_call`?"),
        ("[trackin]\nmin_move = 3\n", "trackin: unknown key (did you mean `tracking`?"),
        ("[cad]\nserverid = 3\n", "did you mean `server_id`?"),
    ],
)
def test_a_typo_in_a_key_suggests_the_nearest_key(text: str, suggested: str) -> None:
    assert suggested in error_of(text)


def test_a_key_like_no_other_suggests_nothing() -> None:
    text = error_of("[cad]\nzzzz = 1\n")
    assert "did you mean" not in text and "check its spelling" in text


def test_a_missing_config_points_at_init_not_at_an_example_pipx_users_lack(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "my configs" / "bridge.toml")
    text = str(caught.value)
    assert "sonoran-bridge init --config" in text and "config.example.toml" not in text


@pytest.mark.parametrize("command", ["run", "check-config"])
def test_run_and_check_config_default_to_the_config_init_writes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SONORAN_API_KEY", raising=False)
    assert main(["init"]) == 0
    capsys.readouterr()
    # init's config has no key yet: the error is about the key, so the file was found and read.
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert "cad.api_key is empty" in err


def test_without_any_config_run_says_to_run_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert "'config.toml' not found" in err and "`sonoran-bridge init`" in err


@pytest.mark.parametrize("taken", ["listen", "status"])
def test_a_port_in_use_names_its_key_and_nothing_claims_to_stop_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], taken: str
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = holder.getsockname()[1]
        ports = {"listen": 0, "status": 0, taken: busy}
        text = GOOD.replace("[listen]\n", f"[listen]\nport = {ports['listen']}\n") + (
            f'[status]\nport = {ports["status"]}\n[budget]\nstate_file = ""\n'
            '[log]\nformat = "json"\n'
        )
        path = tmp_path / "config.toml"
        path.write_text(text)
        try:
            assert main(["run", "--config", str(path)]) == 1
        finally:
            logging.getLogger().handlers.clear()
            structlog.reset_defaults()
    events = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    names = [event["event"] for event in events]
    assert "stopping" not in names and "stopped" not in names, names
    (failed,) = [event for event in events if event["event"] == "could not start"]
    assert failed["error"].startswith(f"{taken}.port = {busy} on 127.0.0.1: address already in use")
    assert f"set {taken}.port to a free port" in failed["error"]


def test_the_console_script_reads_a_bom_config(tmp_path: Path) -> None:
    """End to end, as `check-config` runs from a shell on a Notepad-saved file."""
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, "SONORAN_API_KEY": ""},
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout


def test_a_config_the_service_user_cannot_read_names_both_users_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests run as root, who reads everything: the refusal is simulated at the read."""
    import pwd

    path = tmp_path / "config.toml"
    path.write_text(GOOD)
    path.chmod(0o600)

    def refused(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refused)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    user = pwd.getpwuid(os.geteuid()).pw_name
    assert text.startswith(f"cannot read config file '{path}': Permission denied for user {user}")
    assert "mode 0600" in text and f"chmod 0640 {path}" in text
