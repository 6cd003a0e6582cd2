"""Real Redis and MariaDB servers on unix sockets in a temporary folder, for tests and benches.

`RedisServer` and `MariaDbServer` start Debian's `redis-server` / `mariadbd` with no TCP
listener, answer `url` for `budget.shared_url`, and can be stopped and started again on the
same data (to prove a daemon sends nothing while its engine is away). `missing()` says which
binary is absent, so a test can skip with that reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

READY_WITHIN = 10.0
"""Seconds a server gets to answer on its socket (each starts in well under one)."""


def missing(kind: str) -> str | None:
    """Why the `kind` ("redis" or "mariadb") server cannot run here, or None if it can."""
    names = ("redis-server",) if kind == "redis" else ("mariadbd", "mariadb-install-db")
    for name in names:
        if _which(name) is None:
            return f"{name} is not installed (apt-get install {_package(kind)})"
    return None


def _package(kind: str) -> str:
    return "redis-server" if kind == "redis" else "mariadb-server"


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/sbin")


def _wait_for_socket(path: Path, process: subprocess.Popen[bytes], log: Path) -> None:
    name = Path(str(process.args[0] if isinstance(process.args, list) else process.args)).name
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {_tail(log)}")
        if path.exists():
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as probe:
                probe.connect(str(path))
                return
        time.sleep(0.01)
    raise RuntimeError(f"{name} did not answer within {READY_WITHIN} s: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-600:]
    except OSError:
        return "(no log)"


class _Server:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "server.log"

    @property
    def socket(self) -> Path:
        """The server's unix socket."""
        return self.folder / "engine.sock"

    def _command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        """Start the server and wait until its socket answers."""
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self._command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        _wait_for_socket(self.socket, self.process, self.log)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def freeze(self) -> None:
        """Stop the server's process where it is (SIGSTOP): it keeps its socket, answers nothing."""
        assert self.process is not None
        self.process.send_signal(19)

    def thaw(self) -> None:
        """Let a frozen server go on (SIGCONT)."""
        assert self.process is not None
        self.process.send_signal(18)

    def __enter__(self) -> _Server:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class RedisServer(_Server):
    """`redis-server` on a unix socket, nothing saved to disk."""

    @property
    def url(self) -> str:
        """`budget.shared_url` for this server."""
        return f"redis+unix://{self.socket}?db=0"

    def _command(self) -> list[str]:
        binary = _which("redis-server") or "redis-server"
        return [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.folder),
        ]


class MariaDbServer(_Server):
    """`mariadbd` on a unix socket, no networking, its data folder made on first start."""

    DATABASE = "sonoran"

    @property
    def url(self) -> str:
        """`budget.shared_url` for this server (root over the socket)."""
        return f"mariadb://root@/{self.DATABASE}?unix_socket={self.socket}"

    def _command(self) -> list[str]:
        binary = _which("mariadbd") or "mariadbd"
        user = ["--user=root"] if os.geteuid() == 0 else []
        return [
            binary,
            "--no-defaults",
            *user,
            f"--datadir={self.folder / 'data'}",
            f"--socket={self.socket}",
            "--skip-networking",
            f"--pid-file={self.folder / 'pid'}",
            "--innodb-buffer-pool-size=16M",
            "--innodb-log-file-size=8M",
            "--skip-log-bin",
            "--max-connections=200",
        ]

    def start(self) -> None:
        """Make the data folder on first start, then start and create the database."""
        data = self.folder / "data"
        if not data.exists():
            user = ["--user=root"] if os.geteuid() == 0 else []
            install = _which("mariadb-install-db") or "mariadb-install-db"
            subprocess.run(
                [
                    install,
                    "--no-defaults",
                    *user,
                    f"--datadir={data}",
                    "--auth-root-authentication-method=socket",
                    "--skip-test-db",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
        super().start()
        client = _which("mariadb") or "mariadb"
        subprocess.run(
            [
                client,
                "--no-defaults",
                "-uroot",
                f"--socket={self.socket}",
                "-e",
                f"CREATE DATABASE IF NOT EXISTS {self.DATABASE}",
            ],
            check=True,
            capture_output=True,
            timeout=10,
        )
