"""What a valid config exposes beyond this machine: every secret that would cross a network in
clear, and a status page that answers to no name but loopback's.

Warnings, not errors (a private network is fine): `bridge.build.all_warnings` adds them to the
config's own. The rules an exposed config must keep (the status page's login, both TLS files)
are `bridge.config.validate`'s; whether the TLS files load is `bridge.build.load`'s.
"""

from __future__ import annotations

from bridge.config import Config, is_loopback
from bridge.shared.url import Location


def exposure_warnings(config: Config, shared: Location | None = None) -> list[str]:
    """What in a valid config sends a secret in clear or leaves a guard open, naming the key.

    `shared`: where `budget.shared_url` leads, as `bridge.build.load` read it (None: nowhere).
    """
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
    if shared is not None and not shared.tls and shared.host and not is_loopback(shared.host):
        found.append(
            f"budget.shared_url reaches {shared.kind} at {shared.host} without TLS: its "
            "password and the budget cross the network in clear; use "
            + ("rediss://" if shared.kind == "redis" else "?ssl=true")
            + " (with ssl_ca=/path/ca.pem for a private CA) unless the network is yours"
        )
    if status.remote and not status.allowed_hosts:
        found.append(
            "status.allowed_hosts is empty: the page answers only to loopback names (localhost, "
            "127.0.0.1) in the Host header; add the name you open it by, e.g. "
            'allowed_hosts = ["bridge.example.com"]'
        )
    return found
