"""First steps: `init` writes a config with a fresh token, `install-resource` writes the resource,
and the wheel carries both the resource and the example config."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from bridge import bundled
from bridge.cli import main
from bridge.config import load_config
from bridge.onboarding import first_config, server_cfg_lines

ROOT = Path(__file__).resolve().parent.parent


def token_in(output: str) -> str:
    match = re.search(r'^set sonoran_bridge_token "([^"]+)"$', output, re.MULTILINE)
    assert match, output
    return match[1]


def test_init_writes_a_config_whose_token_matches_the_server_cfg_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    assert main(["init", "--config", str(path), "--server-id", "4", "--port", "30200"]) == 0
    out = capsys.readouterr().out
    token = token_in(out)
    assert len(token) >= 32
    config = load_config(path, env={}, require_secrets=False)
    assert config.listen.token == token
    assert (config.cad.server_id, config.listen.port, config.cad.api_key) == (4, 30200, "")
    lines = out.splitlines()
    for expected in (
        'set sonoran_bridge_url "ws://127.0.0.1:30200"',
        "set sonoran_bridge_server_id 4",
        "add_ace group.admin command.trackcall allow",
        "add_ace group.admin command.untrackcall allow",
    ):
        assert expected in lines
    # sonorancad first: the bridge reads its call cache when it starts.
    ensures = [line.split("#")[0].strip() for line in lines if line.startswith("ensure ")]
    assert ensures == ["ensure sonorancad", "ensure sonoran_bridge"]
    assert not any(line.startswith("setr ") for line in lines)
    if os.name == "posix":
        assert path.stat().st_mode & 0o077 == 0


def test_init_draws_a_new_token_each_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init", "--config", str(tmp_path / "a.toml")]) == 0
    first = token_in(capsys.readouterr().out)
    assert main(["init", "--config", str(tmp_path / "b.toml")]) == 0
    assert token_in(capsys.readouterr().out) != first


def test_init_never_overwrites_an_existing_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# mine\n")
    assert main(["init", "--config", str(path)]) == 2
    assert "never overwrites" in capsys.readouterr().err
    assert path.read_text() == "# mine\n"


def test_the_written_config_is_ready_once_the_key_is_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "config.toml"
    assert main(["init", "--config", str(path)]) == 0
    token = token_in(capsys.readouterr().out)
    monkeypatch.setenv("SONORAN_API_KEY", "a-key-from-the-environment")
    assert main(["check-config", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and token not in out


def test_the_first_config_keeps_every_comment_of_the_example() -> None:
    example = bundled.example_config()
    written = first_config("t" * 43, server_id=2, port=30300)
    comments = [line.split("#", 1)[1] for line in example.splitlines()[3:] if "#" in line]
    for comment in comments:
        assert comment in written


def test_the_server_cfg_lines_quote_the_token_and_use_set_not_setr() -> None:
    text = server_cfg_lines("abc_DEF-123", url="ws://10.0.0.5:30125", server_id=9)
    assert 'set sonoran_bridge_token "abc_DEF-123"' in text.splitlines()
    assert 'set sonoran_bridge_url "ws://10.0.0.5:30125"' in text.splitlines()


def test_install_resource_writes_every_file_of_the_resource(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "resources" / "[sonoran]" / "sonoran_bridge"
    assert main(["install-resource", str(target)]) == 0
    assert str(target) in capsys.readouterr().out
    source = ROOT / "lua_resource"
    expected = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    written = sorted(
        p.relative_to(target)
        for p in target.rglob("*")
        if p.is_file() and p.name != bundled.INSTALL_RECORD
    )
    assert written == expected
    for name in expected:
        assert (target / name).read_bytes() == (source / name).read_bytes()


def test_install_resource_into_a_category_folder_names_the_resource_sonoran_bridge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    category = tmp_path / "[sonoran]"
    assert main(["install-resource", str(category)]) == 0
    assert (category / "sonoran_bridge" / "fxmanifest.lua").is_file()


def test_install_resource_leaves_a_used_folder_alone_unless_upgrading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "sonoran_bridge"
    target.mkdir()
    (target / "fxmanifest.lua").write_text("-- an old version\n")
    (target / "notes.txt").write_text("the owner's\n")
    assert main(["install-resource", str(target)]) == 2
    assert "--upgrade" in capsys.readouterr().err
    assert (target / "fxmanifest.lua").read_text() == "-- an old version\n"
    assert main(["install-resource", "--upgrade", str(target)]) == 0
    manifest = (ROOT / "lua_resource" / "fxmanifest.lua").read_bytes()
    assert (target / "fxmanifest.lua").read_bytes() == manifest
    assert (target / "notes.txt").read_text() == "the owner's\n"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project built as a wheel, as `pip install` from the repository builds it."""
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("sonoran_bridge-*.whl")
    return built


def test_the_wheel_carries_the_resource_and_the_example_config(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    source = ROOT / "lua_resource"
    for path in source.rglob("*"):
        if path.is_file():
            assert f"bridge/_data/lua_resource/{path.relative_to(source).as_posix()}" in names
    assert "bridge/_data/config.example.toml" in names
    for page in ("status.html", "status.js", "status.css"):
        assert f"bridge/static/{page}" in names


def test_an_installed_wheel_runs_init_and_install_resource_away_from_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), wheel],
        check=True,
        capture_output=True,
    )
    work = tmp_path / "server"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}

    def bridge(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "bridge", *args],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    where = subprocess.run(
        [sys.executable, "-c", "import bridge; print(bridge.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert where.startswith(str(site))
    token = token_in(bridge("init"))
    assert f'token = "{token}"' in (work / "config.toml").read_text()
    bridge("install-resource", "resources/[sonoran]")
    installed = work / "resources" / "[sonoran]" / "sonoran_bridge" / "fxmanifest.lua"
    assert installed.read_bytes() == (ROOT / "lua_resource" / "fxmanifest.lua").read_bytes()


def test_init_promises_owner_only_permissions_only_where_the_mode_bits_give_them() -> None:
    from bridge.onboarding import privacy_of_new_files

    assert privacy_of_new_files("posix") == "readable by you only"
    assert "only you" not in privacy_of_new_files("nt").split(":")[0]
    assert "folder" in privacy_of_new_files("nt")


def test_init_prints_a_path_its_console_code_page_cannot_encode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Output redirected on Windows (a service log, a panel's console) is in the ANSI code page,
    cp1252 on most; a path or a CAD detail outside it must not crash the command."""
    raw = io.BytesIO()
    console = io.TextIOWrapper(raw, encoding="cp1252", errors="strict", write_through=True)
    monkeypatch.setattr(sys, "stdout", console)
    path = tmp_path / "конфиг" / "config.toml"
    assert main(["init", "--config", str(path)]) == 0
    assert path.exists()
    assert b"wrote " in raw.getvalue()


def test_init_for_a_machine_of_its_own_writes_a_config_ready_for_wss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from tls_ca import OPENSSL, TestCa

    if OPENSSL is None:
        pytest.skip("the openssl command is missing")
    path, tls = tmp_path / "config.toml", tmp_path / "tls"
    command = ["init", "--config", str(path), "--public-name", "bridge.example.com"]
    assert main([*command, "--tls-dir", str(tls), "--server-id", "3"]) == 0
    out = capsys.readouterr().out
    token = token_in(out)
    assert 'set sonoran_bridge_url "wss://bridge.example.com:30125"' in out.splitlines()
    assert "https://bridge.example.com:30126/" in out
    # The certificate, as certbot's deploy hook puts it there.
    pair = TestCa(tmp_path / "ca").issue("bridge", ("bridge.example.com",))
    tls.mkdir()
    shutil.copyfile(pair.cert, tls / "fullchain.pem")
    shutil.copyfile(pair.key, tls / "privkey.pem")
    config = load_config(path, env={"SONORAN_API_KEY": "k" * 32})
    assert config.listen.token == token and config.cad.server_id == 3
    assert (config.listen.host, config.listen.allow_remote) == ("0.0.0.0", True)
    status = config.status
    assert status.remote and status.allowed_hosts == ["bridge.example.com"]
    assert len(status.password) >= 32 and status.password != token
    assert status.password not in out  # printed nowhere: it is in the file
    assert config.tls.enabled and config.tls.cert_file == str(tls / "fullchain.pem")
    assert "loopback: the game server runs on this machine" not in path.read_text()


@pytest.mark.parametrize(
    ("arguments", "says"),
    [
        (["--public-name", "1.2.3.4"], "is an address"),
        (["--public-name", "https://bridge.example.com"], "expected a DNS name"),
        (["--tls-dir", "/etc/x"], "--tls-dir goes with --public-name"),
    ],
)
def test_init_refuses_what_cannot_be_a_public_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], says: str
) -> None:
    path = tmp_path / "config.toml"
    assert main(["init", "--config", str(path), *arguments]) == 2
    assert says in capsys.readouterr().err and not path.exists()
