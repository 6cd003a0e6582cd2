"""The recipes in deploy/: the systemd unit passes `systemd-analyze verify` and its security
audit, and every command the recipes run is one the CLI accepts."""

from __future__ import annotations

import configparser
import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.cli import EXIT_CONFIG, _parser, describe
from bridge.config import parse_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "sonoran-bridge.service"
VPS_UNIT = DEPLOY / "systemd" / "vps" / "sonoran-bridge.service"
ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(ANALYZE is None, reason="needs systemd-analyze")
INSTALLED = "/opt/sonoran-bridge/venv/bin/sonoran-bridge"


def unit_here(tmp_path: Path, text: str | None = None) -> Path:
    """The unit with its ExecStart pointed at this venv's sonoran-bridge: `verify` checks that
    the binary exists, and /opt/sonoran-bridge is not installed here."""
    here = Path(sys.executable).parent / "sonoran-bridge"
    assert here.is_file()
    folder = tmp_path / "units"
    folder.mkdir(exist_ok=True)
    path = folder / UNIT.name
    path.write_text((text or UNIT.read_text()).replace(INSTALLED, str(here)))
    return path


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    assert ANALYZE is not None
    return subprocess.run(
        [ANALYZE, *args], capture_output=True, text=True, check=False, timeout=60
    )


@needs_systemd
def test_the_unit_passes_systemd_analyze_verify_without_a_warning(tmp_path: Path) -> None:
    done = analyze("verify", "--man=no", str(unit_here(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "", done.stderr


@needs_systemd
def test_verify_would_catch_a_misspelt_hardening_option(tmp_path: Path) -> None:
    broken = UNIT.read_text().replace("ProtectHome=yes", "ProtectHom=yes")
    done = analyze("verify", "--man=no", str(unit_here(tmp_path, broken)))
    assert "Unknown key" in done.stderr and "ProtectHom" in done.stderr


@needs_systemd
def test_the_unit_is_hardened_to_an_exposure_of_at_most_two(tmp_path: Path) -> None:
    # `security` scores 0 (locked down) to 10; --threshold is that score times ten.
    done = analyze("security", "--offline=yes", "--threshold=20", str(unit_here(tmp_path)))
    assert done.returncode == 0, done.stdout[-2000:]
    assert re.search(r"Overall exposure level for sonoran-bridge\.service: [01]\.\d", done.stdout)


def unit_options(unit: Path = UNIT) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(unit.read_text())
    return parser


@needs_systemd
def test_the_unit_for_a_machine_of_its_own_verifies_and_is_as_hardened(tmp_path: Path) -> None:
    unit = unit_here(tmp_path, VPS_UNIT.read_text())
    done = analyze("verify", "--man=no", str(unit))
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
    done = analyze("security", "--offline=yes", "--threshold=20", str(unit))
    assert done.returncode == 0, done.stdout[-2000:]


def test_both_units_reload_the_certificate_on_systemctl_reload() -> None:
    for path in (UNIT, VPS_UNIT):
        assert unit_options(path)["Service"]["ExecReload"] == "/bin/kill -HUP $MAINPID", path
    vps = unit_options(VPS_UNIT)
    # Not tied to a game server on the same machine: started at boot, restarted on failure.
    assert "PartOf" not in vps["Unit"] and "fivem" not in VPS_UNIT.read_text()
    assert vps["Install"]["WantedBy"] == "multi-user.target"
    assert vps["Service"]["Restart"] == "on-failure"
    assert vps["Service"]["ExecStart"] == unit_options()["Service"]["ExecStart"]


def test_the_unit_starts_and_stops_with_the_game_server_and_restarts_on_failure() -> None:
    unit = unit_options()
    assert "fivem.service" in unit["Unit"]["After"].split()
    assert unit["Unit"]["PartOf"] == "fivem.service"
    assert unit["Install"]["WantedBy"] == "fivem.service"
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
    # A config error exits 2: restarting cannot fix it.
    assert service["RestartPreventExitStatus"] == str(EXIT_CONFIG)
    # The spend log goes to the state directory the unit gives it.
    assert service["StateDirectory"] == "sonoran-bridge" and "XDG_STATE_HOME=%S" in UNIT.read_text()


def cli_accepts(command: list[str]) -> None:
    """The sonoran-bridge arguments parse as the CLI's own parser reads them."""
    args = _parser().parse_args(command)
    assert args.command in ("run", "check-config")


def test_every_recipe_runs_commands_the_cli_accepts() -> None:
    exec_start = unit_options()["Service"]["ExecStart"]
    program, *arguments = shlex.split(exec_start)
    assert program == INSTALLED
    cli_accepts(arguments)
    dockerfile = (DEPLOY / "container" / "Dockerfile").read_text()
    (cmd,) = re.findall(r"^CMD (\[.*\])$", dockerfile, re.MULTILINE)
    cli_accepts(json.loads(cmd))
    command_file = (DEPLOY / "windows" / "sonoran-bridge.cmd").read_text()
    (line,) = re.findall(r"^\"%PROGRAM%\" (run .*)$", command_file, re.MULTILINE)
    cli_accepts(shlex.split(line.replace("%CONFIG%", "config.toml")))
    script = (DEPLOY / "windows" / "install-service.ps1").read_text()
    check = re.search(r"^& \$Exe (check-config .*)$", script, re.MULTILINE)
    install = re.search(r"^& \$Nssm install \$Name \$Exe (run .*)$", script, re.MULTILINE)
    assert check and install
    for found in (check, install):
        cli_accepts(found[1].replace("$Config", "config.toml").split())
    # NSSM leaves a config error (exit 2) stopped, and restarts anything else.
    assert f"AppExit {EXIT_CONFIG} Exit" in script and "AppExit Default Restart" in script


CONTAINER_ENV = {
    "SONORAN_API_KEY": "k" * 32,
    "SONORAN_BRIDGE_TOKEN": "t" * 43,
    "SONORAN_BRIDGE_STATUS_PASSWORD": "p" * 24,
}


def test_the_container_config_is_valid_and_warns_that_its_link_leaves_loopback() -> None:
    text = (DEPLOY / "container" / "config.toml").read_text()
    env = CONTAINER_ENV
    config = parse_config(text, env=env)
    assert config.listen.allow_remote and config.listen.host == "0.0.0.0"
    assert config.budget.state_file.startswith("/state/")
    described = describe(config, "config.toml")
    assert "WARNING: listening beyond loopback" in described
    assert "WARNING: status page beyond loopback" in described
    dockerfile = (DEPLOY / "container" / "Dockerfile").read_text()
    assert f"http://127.0.0.1:{config.status.port}/status.json" in dockerfile
    assert "os.environ['SONORAN_BRIDGE_STATUS_PASSWORD']" in dockerfile  # the check logs in
    assert "SONORAN_BRIDGE_STATUS_PASSWORD=" in (DEPLOY / "container" / "env.example").read_text()
    assert f"EXPOSE {config.listen.port} {config.status.port}" in dockerfile
    compose = (DEPLOY / "container" / "compose.yaml").read_text()
    assert f'"127.0.0.1:{config.status.port}:{config.status.port}"' in compose


def test_the_container_recipes_publish_the_websocket_on_no_interface_but_the_game_network() -> None:
    port = parse_config(
        (DEPLOY / "container" / "config.toml").read_text(), env=CONTAINER_ENV
    ).listen.port
    for name in ("Dockerfile", "compose.yaml"):
        text = (DEPLOY / "container" / name).read_text()
        # Every publication of the websocket's port names the one address it is published on.
        published = re.findall(rf"([^\s\"'\[]*){port}:{port}", text)
        assert all(re.fullmatch(r"\d+\.\d+\.\d+\.\d+:", a) for a in published), (name, published)
        assert f"EXPOSE {port}" in text if name == "Dockerfile" else True


async def test_the_container_status_page_keeps_its_host_check_and_its_login() -> None:
    import httpx
    import msgspec

    from bench.kit import build_daemon

    config = parse_config((DEPLOY / "container" / "config.toml").read_text(), env=CONTAINER_ENV)
    # As in the container, but on free ports and with no state folder.
    config = msgspec.structs.replace(
        config,
        listen=msgspec.structs.replace(config.listen, port=0),
        status=msgspec.structs.replace(config.status, host="127.0.0.1", port=0),
        budget=msgspec.structs.replace(config.budget, state_file=""),
    )
    daemon = build_daemon(config)
    status = config.status
    url = await daemon.serve_status(
        status.host, 0, allowed_hosts=status.allowed_hosts, password=status.password
    )
    login = {"Authorization": f"Bearer {CONTAINER_ENV['SONORAN_BRIDGE_STATUS_PASSWORD']}"}
    try:
        async with httpx.AsyncClient(trust_env=False) as client:
            rebound = await client.get(
                url + "status.json", headers={"Host": "attacker.example:30126", **login}
            )
            anonymous = await client.get(url + "status.json")
            health = await client.get(
                url + "status.json", headers={"Host": "127.0.0.1:30126", **login}
            )
    finally:
        await daemon.stop(grace=0.5)
    assert rebound.status_code == 421
    assert anonymous.status_code == 401
    assert health.status_code == 200
