"""Real Redis and MariaDB servers on unix sockets in a temporary folder, for tests and benches.

`RedisServer` and `MariaDbServer` start Debian's `redis-server` / `mariadbd` with no TCP
listener, answer `url` for `budget.shared_url`, and can be stopped and started again on the
same data (to prove a daemon sends nothing while its engine is away). `missing()` says which
binary is absent, so a test can skip with that reason. Where unix sockets are missing
(Windows), each listens on a free loopback TCP port instead. Given `tls` (a server certificate,
its key and the CA that signed it), each listens on loopback TCP over TLS only, as an engine
shared across hosts would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import NamedTuple

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


def has_unix_sockets() -> bool:
    """Whether this platform has AF_UNIX (Windows' Python does not)."""
    return hasattr(socket, "AF_UNIX")


def _as_root() -> bool:
    # os.geteuid is POSIX-only; where it is missing nobody is root in this sense.
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _answers(path: Path | None, port: int) -> bool:
    with contextlib.suppress(OSError):
        if path is not None:
            if not path.exists():
                return False
            with socket.socket(socket.AF_UNIX) as probe:
                probe.connect(str(path))
        else:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    return False


def _wait_until_ready(
    path: Path | None, port: int, process: subprocess.Popen[bytes], log: Path
) -> None:
    name = Path(str(process.args[0] if isinstance(process.args, list) else process.args)).name
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited: {_tail(log)}")
        if _answers(path, port):
            return
        time.sleep(0.01)
    raise RuntimeError(f"{name} did not answer within {READY_WITHIN} s: {_tail(log)}")


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-600:]
    except OSError:
        return "(no log)"


class ServerTls(NamedTuple):
    """PEM files for an engine's TLS listener."""

    cert: Path
    key: Path
    ca: Path


class _Server:
    def __init__(
        self, folder: Path, *, tcp: bool | None = None, tls: ServerTls | None = None
    ) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "server.log"
        self.tls = tls
        """TLS only, on loopback TCP."""
        self.tcp = tls is not None or (not has_unix_sockets() if tcp is None else tcp)
        """Listen on a loopback TCP port rather than a unix socket."""
        self.port = _free_port() if self.tcp else 0

    @property
    def socket(self) -> Path:
        """The server's unix socket (unused when `tcp`)."""
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
        _wait_until_ready(None if self.tcp else self.socket, self.port, self.process, self.log)

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
        self._signal("SIGSTOP")

    def thaw(self) -> None:
        """Let a frozen server go on (SIGCONT)."""
        self._signal("SIGCONT")

    def _signal(self, name: str) -> None:
        assert self.process is not None
        number = getattr(signal, name, None)
        if number is None:
            raise NotImplementedError(f"{name} does not exist on this platform")
        self.process.send_signal(number)

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
        if self.tls is not None:
            return f"rediss://127.0.0.1:{self.port}/0?ssl_ca={self.tls.ca}"
        if self.tcp:
            return f"redis://127.0.0.1:{self.port}/0"
        return f"redis+unix://{self.socket}?db=0"

    def _command(self) -> list[str]:
        binary = _which("redis-server") or "redis-server"
        listen = (
            ["--port", str(self.port), "--bind", "127.0.0.1"]
            if self.tcp
            else ["--port", "0", "--unixsocket", str(self.socket)]
        )
        if self.tls is not None:
            listen = [
                *("--port", "0", "--tls-port", str(self.port), "--bind", "127.0.0.1"),
                *("--tls-cert-file", str(self.tls.cert), "--tls-key-file", str(self.tls.key)),
                *("--tls-ca-cert-file", str(self.tls.ca), "--tls-auth-clients", "no"),
            ]
        return [
            binary,
            *listen,
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
        """`budget.shared_url` for this server (root over the socket, or loopback TCP)."""
        if self.tls is not None:
            return (
                f"mariadb://root@127.0.0.1:{self.port}/{self.DATABASE}?ssl=true"
                f"&ssl_ca={self.tls.ca}"
            )
        if self.tcp:
            return f"mariadb://root@127.0.0.1:{self.port}/{self.DATABASE}"
        return f"mariadb://root@/{self.DATABASE}?unix_socket={self.socket}"

    def _command(self) -> list[str]:
        binary = _which("mariadbd") or "mariadbd"
        user = ["--user=root"] if _as_root() else []
        listen = (
            [f"--port={self.port}", "--bind-address=127.0.0.1"]
            if self.tcp
            else [f"--socket={self.socket}", "--skip-networking"]
        )
        if self.tls is not None:
            # Plain connections are refused: whoever gets in spoke TLS.
            listen += [
                f"--ssl-cert={self.tls.cert}",
                f"--ssl-key={self.tls.key}",
                f"--ssl-ca={self.tls.ca}",
                "--require-secure-transport=ON",
            ]
        return [
            binary,
            "--no-defaults",
            *user,
            f"--datadir={self.folder / 'data'}",
            *listen,
            f"--pid-file={self.folder / 'pid'}",
            f"--tmpdir={self._tmpdir()}",
            "--innodb-buffer-pool-size=16M",
            "--innodb-log-file-size=8M",
            "--skip-log-bin",
            "--max-connections=200",
        ]

    def _tmpdir(self) -> Path:
        folder = self.folder / "tmp"
        folder.mkdir(exist_ok=True)
        return folder

    def start(self) -> None:
        """Make the data folder on first start, then start and create the database."""
        data = self.folder / "data"
        if not data.exists():
            user = ["--user=root"] if _as_root() else []
            # Over TCP the socket's peer credentials are not there: root gets no password.
            auth = "normal" if self.tcp else "socket"
            install = _which("mariadb-install-db") or "mariadb-install-db"
            made = subprocess.run(
                [
                    install,
                    "--no-defaults",
                    *user,
                    f"--datadir={data}",
                    f"--auth-root-authentication-method={auth}",
                    "--skip-test-db",
                    # Its own temporary folder: in the shared /tmp, a bootstrap now and then lost
                    # its temporary tables to a neighbour ("Error on delete of '/tmp/#sql-...'").
                    f"--tmpdir={self._tmpdir()}",
                ],
                check=False,
                capture_output=True,
                timeout=60,
            )
            if made.returncode != 0:
                said = (made.stdout + made.stderr).decode(errors="replace")
                raise RuntimeError(f"{install} exited {made.returncode}: {said[-1500:]}")
        super().start()
        client = _which("mariadb") or "mariadb"
        subprocess.run(
            [
                client,
                "--no-defaults",
                "-uroot",
                *(
                    ["--protocol=tcp", "--host=127.0.0.1", f"--port={self.port}"]
                    if self.tcp
                    else [f"--socket={self.socket}"]
                ),
                *([f"--ssl-ca={self.tls.ca}"] if self.tls is not None else []),
                "-e",
                f"CREATE DATABASE IF NOT EXISTS {self.DATABASE}",
            ],
            check=True,
            capture_output=True,
            timeout=10,
        )
