"""What the tests and the benchmarks share to run the daemon for real on this machine."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
