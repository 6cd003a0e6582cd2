"""What the config exposes beyond this machine: the TLS pair, the status page's login and the
names it answers to, and every secret that would cross a network in clear.

`bridge.config` calls these while it validates and warns; they live apart so that config.py
keeps to the shape of the config.
"""

from __future__ import annotations

import re

from bridge.config import STATUS_PASSWORD_ENV, Config, ConfigError, is_loopback
from bridge.shared.url import SharedUrlError, parse
from bridge.tls import TlsError, load


def validate_exposure(config: Config, *, require_secrets: bool) -> None:
    """TLS files that load, and the status page's login wherever it listens beyond loopback."""
    tls = config.tls
    if tls.enabled:
        if not (tls.cert_file and tls.key_file):
            missing = "tls.key_file" if tls.cert_file else "tls.cert_file"
            raise ConfigError(
                f"{missing} is empty: TLS needs both the certificate chain and its private key"
            )
        try:
            load(tls.cert_file, tls.key_file)
        except TlsError as exc:
            raise ConfigError(str(exc)) from None
    status = config.status
    password = status.password
    if password and password in (config.listen.token, config.cad.api_key):
        # Whoever may read the page (a dashboard, a colleague) must not get the link's secret.
        raise ConfigError(
            "status.password is the same as listen.token or cad.api_key: choose a secret of its "
            "own for the status page"
        )
    if password and len(password) < 12:
        raise ConfigError("status.password is too short: expected at least 12 characters")
    if require_secrets and status.remote and not password:
        raise ConfigError(
            f"status.host = {status.host!r} shows the page beyond loopback without a login: set "
            f"status.password (or ${STATUS_PASSWORD_ENV}) to a secret of its own, at least 12 "
            "characters"
        )
    for name in status.allowed_hosts:
        if name != "*" and not re.fullmatch(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]", name):
            raise ConfigError(
                f"status.allowed_hosts: {name!r} is not a host name (give names such as "
                '"bridge.example.com", without scheme or port; "*" accepts any)'
            )


def exposure_warnings(config: Config) -> list[str]:
    """What in a valid config sends a secret in clear or leaves a guard open, naming the key."""
    found: list[str] = []
    listen, status = config.listen, config.status
    if not config.tls.enabled and listen.allow_remote and not is_loopback(listen.host):
        found.append(
            f"listen.host = {listen.host!r} without TLS: the shared token crosses the network "
            "in clear; fine on a private network (a container network, a VPN), never over the "
            "internet: set tls.cert_file and tls.key_file and use wss:// in server.cfg"
        )
    if status.remote and not config.tls.enabled:
        found.append(
            f"status page on {status.host!r} without TLS: its password crosses the network in "
            "clear; fine on a private network (a container network, a VPN), never over the "
            "internet: set tls.cert_file and tls.key_file, or put a proxy with TLS in front "
            "(deploy/caddy)"
        )
    if config.budget.shared_url:
        try:
            engine = parse(config.budget.shared_url)
        except SharedUrlError:
            engine = None
        if engine is not None and not engine.tls and engine.host and not is_loopback(engine.host):
            found.append(
                f"budget.shared_url reaches {engine.kind} at {engine.host} without TLS: its "
                "password and the budget cross the network in clear; use "
                + ("rediss://" if engine.kind == "redis" else "?ssl=true")
                + " (with ssl_ca=/path/ca.pem for a private CA) unless the network is yours"
            )
    if status.remote and not status.allowed_hosts:
        found.append(
            "status.allowed_hosts is empty: the page answers only to loopback names (localhost, "
            "127.0.0.1) in the Host header; add the name you open it by, e.g. "
            'allowed_hosts = ["bridge.example.com"]'
        )
    return found
