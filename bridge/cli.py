"""The `sonoran-bridge` command: run, check-config, demo."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bridge import __version__, logs
from bridge.config import (
    API_KEY_ENV,
    LOOPBACK_HOSTS,
    TOKEN_ENV,
    Config,
    ConfigError,
    config_warnings,
    load_config,
    masked,
)

EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sonoran-bridge",
        description="Moves Sonoran CAD dispatch calls on the live map to follow FiveM subjects.",
    )
    parser.add_argument("--version", action="version", version=f"sonoran-bridge {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the daemon")
    run.add_argument("--config", "-c", required=True, help="path of the TOML config file")
    check = commands.add_parser("check-config", help="validate a config and show what it would do")
    check.add_argument("--config", "-c", required=True, help="path of the TOML config file")
    demo = commands.add_parser(
        "demo", help="run daemon, CAD stand-in and a simulated game on loopback (no API key)"
    )
    demo.add_argument("--seconds", type=_positive, default=45.0, help="how long (default 45)")
    demo.add_argument("--calls", type=int, default=8, help="calls to follow (default 8)")
    demo.add_argument(
        "--speedup", type=_positive, default=4.0, help="how much faster time runs (default 4)"
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
    args = _parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args.seconds, args.calls, args.speedup)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"sonoran-bridge: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "check-config":
        print(describe(config, args.config))
        return 0
    return _run(config)


def describe(config: Config, path: str) -> str:
    """What the daemon would do with this config, secrets masked."""
    cad, listen, budget, tracking = config.cad, config.listen, config.budget, config.tracking
    lines = [
        f"config {path}: OK",
        f"  listen on ws://{listen.host}:{listen.port} (token {masked(listen.token)}"
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
    lines.extend(f"  WARNING: {warning}" for warning in config_warnings(config))
    return "\n".join(lines)


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k in (API_KEY_ENV, TOKEN_ENV) and v}


def _run(config: Config) -> int:
    from bridge.app import Daemon

    logs.configure(
        config.log.level, config.log.format, secrets=[config.cad.api_key, config.listen.token]
    )
    log = logs.get_logger("bridge.cli")
    if config.listen.allow_remote and config.listen.host not in LOOPBACK_HOSTS:
        log.warning("listening beyond loopback: keep the port firewalled", host=config.listen.host)
    for warning in config_warnings(config):
        log.warning("config will cause trouble", problem=warning)

    async def serve() -> None:
        await Daemon(config).run()

    try:
        asyncio.run(serve())
    except OSError as exc:
        log.error("could not start", error=str(exc))
        return 1
    return 0


def _demo(seconds: float, calls: int, speedup: float) -> int:
    from bridge.demo import print_summary, run_demo

    if not 1 <= calls <= 200:
        print("sonoran-bridge: --calls: expected 1 to 200", file=sys.stderr)
        return EXIT_CONFIG
    logs.configure("warning", "console")
    try:
        report = asyncio.run(run_demo(seconds, calls, speedup))
    except KeyboardInterrupt:
        return 130
    print_summary(report)
    return 0 if report.rate_limited == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
