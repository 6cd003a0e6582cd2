"""`sonoran-bridge init`: a first config with a fresh token, and the matching server.cfg lines."""

from __future__ import annotations

import os
import re
import secrets
import shlex
from collections.abc import Callable
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath

from bridge import bundled
from bridge.config import ConfigError, parse_config

TOKEN_BYTES = 32
"""Random bytes in a fresh token: 43 URL-safe characters, nothing to quote in TOML or cfg."""


def fresh_token() -> str:
    """A new shared secret for listen.token and sonoran_bridge_token."""
    return secrets.token_urlsafe(TOKEN_BYTES)


DEFAULT_TLS_DIR = "/etc/sonoran-bridge/tls"
"""Where `init --public-name` points [tls]: the copy certbot's deploy hook keeps (operations.md)."""
_HOST_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
)


def public_name_problem(name: str) -> str | None:
    """Why `name` cannot be the daemon's public DNS name (None when it can)."""
    if not _HOST_NAME.fullmatch(name):
        return f"expected a DNS name such as bridge.example.com, got {name!r}"
    if name.replace(".", "").isdigit():
        return (
            f"{name!r} is an address: Let's Encrypt certifies names, so give the DNS name that "
            "points to this machine (a free dynamic-DNS name works)"
        )
    return None


def _set(text: str, section: str, key: str, value: str) -> str:
    """`text` with `key = ...` in `[section]` given `value` (a TOML literal); the rest kept."""
    start = re.search(rf"^\[{re.escape(section)}\][ \t]*$", text, re.MULTILINE)
    if start is None:
        raise ValueError(f"the example config has no [{section}] section")
    end = re.search(r"^\[", text[start.end() :], re.MULTILINE)
    stop = start.end() + end.start() if end else len(text)
    body = text[start.end() : stop]
    line = re.compile(
        rf"^({re.escape(key)}[ \t]*=[ \t]*)(\"[^\"\n]*\"|[^ \t#\n]+)([ \t]*)", re.MULTILINE
    )

    def put(match: re.Match[str]) -> str:
        # Keep the comment's column where the new value leaves room for it.
        pad = len(match[2]) + len(match[3]) - len(value) if match[3] else 0
        return match[1] + value + (" " * max(2, pad) if match[3] else "")

    changed, count = line.subn(put, body, count=1)
    if count != 1:
        raise ValueError(f"the example config has no {section}.{key}")
    return text[: start.end()] + changed + text[stop:]


def first_config(
    token: str,
    *,
    server_id: int = 1,
    port: int = 30125,
    public_name: str = "",
    status_password: str = "",
    tls_dir: str = DEFAULT_TLS_DIR,
) -> str:
    """The example config with the token, the server id and the port filled in.

    With `public_name`, ready for a daemon on a machine of its own reached over the internet:
    both listeners on every interface, TLS from `tls_dir`, the status page behind
    `status_password` and answering to that name. Built from the bundled example so every key
    keeps its comment; checked by decoding it back.
    """
    text = re.sub(
        r"\A# sonoran-bridge configuration\. Copy to config\.toml, fill in the two secrets, then:",
        "# sonoran-bridge configuration, written by `sonoran-bridge init`. Set cad.api_key\n"
        "# (or the environment variable SONORAN_API_KEY), then:",
        bundled.example_config(),
    )
    text = _set(text, "listen", "token", _toml_string(token))
    text = _set(text, "listen", "port", str(port))
    text = _set(text, "cad", "server_id", str(server_id))
    if not public_name:
        config = parse_config(text, env={}, require_secrets=False)
    else:
        if (problem := public_name_problem(public_name)) is not None:
            raise ConfigError(f"--public-name: {problem}")
        for section in ("listen", "status"):
            text = _set(text, section, "host", '"0.0.0.0"')
            text = _set(text, section, "allow_remote", "true")
        text = text.replace(
            "# loopback: the game server runs on this machine",
            "# every interface: the game server dials in over the internet",
            1,
        )
        text = _set(text, "status", "password", _toml_string(status_password))
        text = _set(text, "status", "allowed_hosts", f"[{_toml_string(public_name)}]")
        folder = tls_dir.rstrip("/\\") or "/"
        text = _set(text, "tls", "cert_file", _toml_string(f"{folder}/fullchain.pem"))
        text = _set(text, "tls", "key_file", _toml_string(f"{folder}/privkey.pem"))
        # The certificate may not be there yet: parsing opens no file (check-config reads it).
        config = parse_config(text, env={}, require_secrets=False)
        if (config.status.password, config.status.allowed_hosts) != (
            status_password,
            [public_name],
        ) or not config.tls.enabled:
            raise ConfigError("the written config does not read back as intended")
    if (config.listen.token, config.cad.server_id, config.listen.port) != (token, server_id, port):
        raise ConfigError("the written config does not read back as intended")
    return text


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_new(path: Path, text: str) -> None:
    """Create `path` with `text`, readable by its owner only; never overwrites (FileExistsError)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
        file.write(text)


def privacy_of_new_files(os_name: str = os.name) -> str:
    """What `write_new` promises about who can read the file, true for this system."""
    if os_name == "posix":
        return "readable by you only"
    # Windows ignores the mode bits: the file is as private as the folder it is written in.
    return "it holds the token: keep it in a folder only you and the service can read"


def server_cfg_lines(token: str, *, url: str = "ws://127.0.0.1:30125", server_id: int = 1) -> str:
    """The lines for the game server's server.cfg, in the order they must come."""
    return "\n".join(
        [
            "# sonoran-bridge: `set`, never `setr`, for the token (setr sends it to every client)",
            f'set sonoran_bridge_token "{token}"',
            f'set sonoran_bridge_url "{url}"',
            f"set sonoran_bridge_server_id {server_id}",
            "add_ace group.admin command.trackcall allow",
            "add_ace group.admin command.untrackcall allow",
            "ensure sonorancad      # if you use it: before sonoran_bridge",
            "ensure sonoran_bridge",
        ]
    )


def start_program(
    argv0: str,
    executable: str,
    scripts: str,
    *,
    os_name: str = os.name,
    exists: Callable[[str], bool] = os.path.isfile,
) -> list[str]:
    """The command that runs this very installation, by absolute path.

    A venv's `sonoran-bridge` is not on PATH once the shell that activated it is gone (a
    service, a start script), so the start lines name the program this command ran from: the
    console script (`argv0`, `.exe` added on Windows where the launcher drops it), else the one
    in this interpreter's scripts folder, else `python -m bridge` with this interpreter.
    """
    path: type[PurePath] = PureWindowsPath if os_name == "nt" else PurePosixPath
    suffix = ".exe" if os_name == "nt" else ""
    ran = path(argv0)
    if ran.is_absolute() and ran.stem.lower() == "sonoran-bridge":
        for candidate in (str(ran), str(ran) + suffix if suffix and not ran.suffix else ""):
            if candidate and exists(candidate):
                return [candidate]
    beside = str(path(scripts) / f"sonoran-bridge{suffix}")
    if exists(beside):
        return [beside]
    return [executable, "-m", "bridge"]


def shell_line(command: list[str], os_name: str = os.name) -> str:
    """`command` as typed in cmd.exe (Windows) or a POSIX shell."""
    if os_name == "nt":
        return " ".join(
            f'"{part}"' if any(c in part for c in " &()[]'") else part for part in command
        )
    return " ".join(shlex.quote(part) for part in command)


def start_lines(program: list[str], config: str, os_name: str = os.name) -> str:
    """How to start the daemon with `config`, and what the deploy recipes take, by absolute path."""
    run = shell_line([*program, "run", "--config", config], os_name)
    lines = [f"     {run}"]
    if os_name == "nt":
        exe = shell_line(program[:1], "nt") if len(program) == 1 else ""
        if run.startswith('"'):
            lines.append("   (in PowerShell, put & and a space before it)")
        if exe:
            lines += [
                "   from the start script beside the config (restarts it when it fails):",
                f"     sonoran-bridge.cmd {exe}",
                "   or as a service (NSSM), from an elevated PowerShell:",
                "     powershell -ExecutionPolicy Bypass -File install-service.ps1 "
                f"-Config {shell_line([config], 'nt')} -Exe {exe}",
            ]
    else:
        lines += [
            "   as a service: deploy/systemd/sonoran-bridge.service, its ExecStart= set to that "
            "line",
        ]
    return "\n".join(lines)
