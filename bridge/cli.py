"""The `sonoran-bridge` command: init, install-resource, check-config, run, demo."""

from __future__ import annotations

import argparse
import asyncio
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from bridge import __version__, logs
from bridge.config import (
    API_KEY_ENV,
    DEFAULT_CONFIG,
    LOOPBACK_HOSTS,
    TOKEN_ENV,
    Config,
    ConfigError,
    load_config,
    masked,
)

if TYPE_CHECKING:
    from bridge.build import Resources

EXIT_CONFIG = 2
RESOURCE_TARGET = "resources/[sonoran]/sonoran_bridge"
"""Where the docs and `init` tell owners to install the resource, relative to FXServer's data
folder."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sonoran-bridge",
        description="Moves Sonoran CAD dispatch calls on the live map to follow FiveM subjects.",
    )
    parser.add_argument("--version", action="version", version=f"sonoran-bridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the daemon")
    run.add_argument(
        "--config", "-c", default=DEFAULT_CONFIG, help=f"the TOML config (default {DEFAULT_CONFIG})"
    )
    check = commands.add_parser("check-config", help="validate a config and show what it would do")
    check.add_argument(
        "--config", "-c", default=DEFAULT_CONFIG, help=f"the TOML config (default {DEFAULT_CONFIG})"
    )
    check.add_argument(
        "--online",
        action="store_true",
        help="also read the CAD's call list once: does it accept the key and the server id?",
    )
    init = commands.add_parser(
        "init", help="write a first config with a fresh token and print the server.cfg lines"
    )
    init.add_argument(
        "--config",
        "-c",
        default=DEFAULT_CONFIG,
        help=f"where to write it (default {DEFAULT_CONFIG})",
    )
    init.add_argument(
        "--server-id", type=int, default=1, help="the CAD server id of this game server"
    )
    init.add_argument("--port", type=int, default=30125, help="the daemon's websocket port")
    init.add_argument(
        "--public-name",
        default="",
        metavar="NAME",
        help="for a machine of its own reached over the internet (rented game hosting): the DNS "
        "name pointing to it; listens beyond loopback with TLS and a status login",
    )
    init.add_argument(
        "--tls-dir",
        default=None,
        metavar="DIR",
        help="with --public-name: the folder of fullchain.pem and privkey.pem "
        "(default /etc/sonoran-bridge/tls)",
    )
    install = commands.add_parser(
        "install-resource", help="write the bundled FiveM resource into a resources folder"
    )
    install.add_argument(
        "folder",
        metavar="DIR",
        help="the resource folder (.../sonoran_bridge) or the folder to put it in",
    )
    install.add_argument(
        "--upgrade", action="store_true", help="overwrite the resource's files in a used folder"
    )
    demo = commands.add_parser(
        "demo", help="run daemon, CAD stand-in and a simulated game on loopback (no API key)"
    )
    demo.add_argument("--seconds", type=_positive, default=45.0, help="how long (default 45)")
    demo.add_argument("--calls", type=int, default=8, help="calls to follow (default 8)")
    demo.add_argument(
        "--speedup", type=_positive, default=4.0, help="how much faster time runs (default 4)"
    )
    demo.add_argument(
        "--status-port",
        type=int,
        default=30126,
        help="the status page's port (default 30126; another free one when taken)",
    )
    return parser


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script and of `python -m bridge`."""
    _survive_the_code_page()
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args.seconds, args.calls, args.speedup, args.status_port)
    if args.command == "init":
        return _init(args.config, args.server_id, args.port, args.public_name, args.tls_dir)
    if args.command == "install-resource":
        return _install_resource(args.folder, args.upgrade)
    from bridge import build

    try:
        config = load_config(args.config)
        resources = build.load(config)
    except ConfigError as exc:
        print(f"sonoran-bridge: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        print(describe(config, args.config, resources))
        return _check_online(config) if args.online else 0
    return _run(config, resources)


def describe(config: Config, path: str, resources: Resources | None = None) -> str:
    """What the daemon would do with this config, secrets masked (`resources`: what
    `bridge.build.load` read of the files and the URL it names)."""
    from bridge.build import all_warnings

    cad, listen, budget, tracking = config.cad, config.listen, config.budget, config.tracking
    lines = [
        f"config {path}: OK",
        f"  listen on {'wss' if config.tls.enabled else 'ws'}://{listen.host}:{listen.port} "
        f"(token {masked(listen.token)}"
        f"{'; from $' + TOKEN_ENV if TOKEN_ENV in _env() else ''})",
        f"  CAD API {cad.api_url} (key {masked(cad.api_key)}"
        f"{'; from $' + API_KEY_ENV if API_KEY_ENV in _env() else ''}), "
        f"default server id {cad.server_id}",
        f"  budget: {budget.update_call} call updates and {budget.get_calls} call lists "
        f"per {budget.window_seconds:g} s, safety margin {budget.margin_seconds:g} s",
        f"  tracking: skip moves under {tracking.min_move:g} m, default radius "
        f"{tracking.default_radius:g} m, no moving call stale over "
        f"{tracking.max_stale_seconds:g} s, lead {'on' if tracking.lead else 'off'}",
        f"  logs: {config.log.level}, {config.log.format}",
    ]
    if listen.allow_remote and listen.host not in LOOPBACK_HOSTS:
        lines.append("  WARNING: listening beyond loopback; keep the port firewalled")
    status = config.status
    if status.port:
        scheme = "https" if config.tls.enabled else "http"
        login = f", login {masked(status.password)}" if status.password else ""
        lines.append(f"  status page on {scheme}://{status.host}:{status.port}/{login}")
        if status.allow_remote and status.host not in LOOPBACK_HOSTS:
            lines.append(
                "  WARNING: status page beyond loopback: it shows every call and subject, behind "
                "its login; keep its port firewalled to those who need it"
            )
    if config.tls.enabled:
        lines.append(
            f"  TLS: {config.tls.cert_file} (checked for renewal every "
            f"{config.tls.check_seconds:g} s, and on SIGHUP)"
        )
    lines.extend(f"  WARNING: {warning}" for warning in all_warnings(config, resources))
    return "\n".join(lines)


def _init(
    path: str, server_id: int, port: int, public_name: str = "", tls_dir: str | None = None
) -> int:
    from pathlib import Path

    from bridge import onboarding
    from bridge.bundled import BundleMissing

    if server_id < 1 or not 1 <= port <= 65_535:
        print("sonoran-bridge: --server-id: expected >= 1; --port: 1 to 65535", file=sys.stderr)
        return EXIT_CONFIG
    if public_name and (problem := onboarding.public_name_problem(public_name)) is not None:
        print(f"sonoran-bridge: --public-name: {problem}", file=sys.stderr)
        return EXIT_CONFIG
    if tls_dir is not None and not public_name:
        print("sonoran-bridge: --tls-dir goes with --public-name", file=sys.stderr)
        return EXIT_CONFIG
    target = Path(path)
    if target.exists():
        print(
            f"sonoran-bridge: {target} exists; init never overwrites a config. Pick another "
            "--config, or check this one: sonoran-bridge check-config --online --config "
            f"{_quoted(path)}",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    token = onboarding.fresh_token()
    password = onboarding.fresh_token() if public_name else ""
    try:
        text = onboarding.first_config(
            token,
            server_id=server_id,
            port=port,
            public_name=public_name,
            status_password=password,
            tls_dir=tls_dir or onboarding.DEFAULT_TLS_DIR,
        )
        onboarding.write_new(target, text)
    except BundleMissing as exc:
        print(f"sonoran-bridge: {exc}", file=sys.stderr)
        return 1
    except FileExistsError:
        print(f"sonoran-bridge: {target} appeared meanwhile; left it alone", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"sonoran-bridge: cannot write {target}: {exc.strerror}", file=sys.stderr)
        return 1
    config = str(target.resolve())
    program = onboarding.start_program(sys.argv[0], sys.executable, sysconfig.get_path("scripts"))
    check = onboarding.shell_line([*program, "check-config", "--online", "--config", config])
    if public_name:
        print(_remote_steps(target, token, server_id, port, public_name, text, program, check))
        return 0
    print(
        f"wrote {config} with a fresh listen.token ({onboarding.privacy_of_new_files()}).\n\n"
        f"1. Set your Sonoran API key: cad.api_key in {target}, or the environment variable "
        f"{API_KEY_ENV}.\n"
        "2. Put the resource in the game server's resources folder (the FXServer data folder's "
        "resources):\n"
        f'     {onboarding.shell_line(program)} install-resource "{RESOURCE_TARGET}"\n'
        "3. Add these lines to server.cfg (the token is the one now in the config):\n\n"
        + onboarding.server_cfg_lines(token, url=f"ws://127.0.0.1:{port}", server_id=server_id)
        + "\n\n"
        f"4. Check the key and the server id with the CAD:\n"
        f"     {check}\n"
        "5. Start it (before or after the game server), with this installation's program by "
        "its full path (a venv is not on PATH for a service or a start script):\n"
        + onboarding.start_lines(program, config)
    )
    return 0


def _remote_steps(
    target: Path,
    token: str,
    server_id: int,
    port: int,
    name: str,
    text: str,
    program: list[str],
    check: str,
) -> str:
    """What is left after `init --public-name`: the certificate, the key, the game server."""
    import msgspec

    from bridge import onboarding

    parsed = msgspec.toml.decode(text, type=Config)
    tls, status = parsed.tls, parsed.status
    return (
        f"wrote {target} for a daemon reached over the internet as {name}: the websocket on "
        f"wss://{name}:{port}, the status page on https://{name}:{status.port}/ behind a fresh "
        f"status.password, both with TLS from {tls.cert_file} and {tls.key_file} "
        f"({onboarding.privacy_of_new_files()}).\n\n"
        f"1. Set your Sonoran API key: cad.api_key in {target}, or the environment variable "
        f"{API_KEY_ENV}.\n"
        f"2. Put the certificate for {name} there (Let's Encrypt: certbot certonly --standalone "
        f"-d {name}, and the deploy hook of docs/operations.md that copies it), and open "
        f"{port}/tcp in the firewall.\n"
        "3. On the game server, put the resource in its resources folder and these lines in "
        "server.cfg:\n\n"
        + onboarding.server_cfg_lines(token, url=f"wss://{name}:{port}", server_id=server_id)
        + "\n\n"
        f"4. Check everything, the certificate and the CAD included:\n"
        f"     {check}\n"
        "5. Start it (or with deploy/systemd/vps), with this installation's program by its full "
        "path:\n" + onboarding.start_lines(program, str(target.resolve()))
    )


def _survive_the_code_page() -> None:
    """Print what the console cannot encode as escapes instead of dying on it.

    Output redirected on Windows (an NSSM log, a panel's console) is in the ANSI code page,
    cp1252 on most machines: a path or a CAD detail outside it raised UnicodeEncodeError.
    """
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and getattr(stream, "errors", "strict") == "strict":
            reconfigure(errors="backslashreplace")


def _quoted(path: str) -> str:
    return f'"{path}"' if any(c in path for c in " []()&'") else path


def _install_resource(folder: str, upgrade: bool) -> int:
    from bridge.bundled import BundleMissing, install_resource

    try:
        done = install_resource(folder, replace=upgrade)
    except BundleMissing as exc:
        print(f"sonoran-bridge: {exc}", file=sys.stderr)
        return 1
    except FileExistsError as exc:
        print(f"sonoran-bridge: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"sonoran-bridge: cannot write the resource: {exc}", file=sys.stderr)
        return 1
    print(f"wrote the sonoran_bridge resource (version {__version__}) to {done.target}")
    if done.backup is not None:
        why = (
            "they differ from this version and no install record says whether you edited them"
            if done.unrecorded
            else "you edited them"
        )
        print(
            f"saved {len(done.backed_up)} replaced file(s) first ({why}): "
            f"{', '.join(done.backed_up)} in {done.backup}; compare and carry your changes over"
        )
    for warning in done.warnings:
        print(f"WARNING: {warning}", file=sys.stderr)
    print(
        "add `ensure sonoran_bridge` to server.cfg after `ensure sonorancad` (see "
        "`sonoran-bridge init` for every line)"
    )
    return 0


def _check_online(config: Config) -> int:
    from bridge.online import check_online

    def waiting(seconds: float) -> None:
        print(f"  waiting {seconds:.0f} s for a free read of the call list (budget.get_calls)")

    try:
        check = asyncio.run(check_online(config, on_wait=waiting))
    except KeyboardInterrupt:
        return 130
    print(f"  online: {'OK, ' if check.ok else 'FAILED: '}{check.message}")
    return 0 if check.ok else 1


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k in (API_KEY_ENV, TOKEN_ENV) and v}


def _run(config: Config, resources: Resources) -> int:
    from bridge.app import StartFailed
    from bridge.build import all_warnings, build_daemon

    logs.configure(
        config.log.level,
        config.log.format,
        secrets=[config.cad.api_key, config.listen.token, config.status.password],
    )
    log = logs.get_logger("bridge.cli")
    if config.listen.allow_remote and config.listen.host not in LOOPBACK_HOSTS:
        log.warning("listening beyond loopback: keep the port firewalled", host=config.listen.host)
    if (
        config.status.port
        and config.status.allow_remote
        and (config.status.host not in LOOPBACK_HOSTS)
    ):
        log.warning(
            "status page beyond loopback: it shows every call and subject; keep it firewalled",
            host=config.status.host,
            port=config.status.port,
        )
    for warning in all_warnings(config, resources):
        log.warning("config will cause trouble", problem=warning)

    async def serve() -> None:
        await build_daemon(config, resources).run()

    try:
        asyncio.run(serve())
    except ConfigError as exc:
        # The shared budget's engine cannot be opened (its client library is missing).
        log.error("could not start", error=str(exc))
        return EXIT_CONFIG
    except (StartFailed, OSError) as exc:
        log.error("could not start", error=str(exc))
        return 1
    return 0


def _demo(seconds: float, calls: int, speedup: float, status_port: int = 30126) -> int:
    from bridge.demo import print_summary, run_demo

    if not 1 <= calls <= 200:
        print("sonoran-bridge: --calls: expected 1 to 200", file=sys.stderr)
        return EXIT_CONFIG
    logs.configure("warning", "console")
    try:
        report = asyncio.run(run_demo(seconds, calls, speedup, status_port=status_port))
    except KeyboardInterrupt:
        return 130
    print_summary(report)
    return 0 if report.rate_limited == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
