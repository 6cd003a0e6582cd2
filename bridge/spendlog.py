"""What the API key spent lately, kept in a small file so a restarted daemon respects it.

A daemon killed mid-window and started again would otherwise believe its window empty and
could draw a 429 of its own making. Times are stored as wall-clock seconds (monotonic clocks
do not survive a restart) and turned back into the daemon's clock when read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import msgspec
import structlog

log = structlog.stdlib.get_logger("bridge.spendlog")


class _Stored(msgspec.Struct):
    version: int
    routes: dict[str, list[float]]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(_Stored)


def state_folder(environ: Mapping[str, str] | None = None, *, windows: bool | None = None) -> Path:
    """The user's own state folder (not the shared temporary one, where others could plant
    links): %LOCALAPPDATA% on Windows, $XDG_STATE_HOME or ~/.local/state elsewhere."""
    environ = os.environ if environ is None else environ
    windows = os.name == "nt" if windows is None else windows
    if windows:
        base = environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
    else:
        base = environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "sonoran-bridge"


def default_path(api_url: str, api_key: str) -> Path:
    """A per-key file in the user's state folder; its name holds a digest, never the key."""
    digest = hashlib.sha256(f"{api_url}\n{api_key}".encode()).hexdigest()[:16]
    return state_folder() / f"spent-{digest}.json"


class SpendLog:
    """Reads and writes the end times of recent requests, per route."""

    def __init__(
        self,
        path: Path,
        horizon: float,
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.horizon = horizon
        self.wall_clock = wall_clock
        self._warned = False

    def load(self, clock_now: float) -> dict[str, list[float]]:
        """The recent end times per route, on the daemon's clock whose time is now `clock_now`."""
        try:
            stored = _decoder.decode(self.path.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, msgspec.DecodeError) as exc:
            log.warning("ignoring unreadable spend log", path=str(self.path), error=str(exc))
            return {}
        wall_now = self.wall_clock()
        offset = clock_now - wall_now
        recent: dict[str, list[float]] = {}
        for route, times in stored.routes.items():
            # A time ahead of now (a request in flight, or the wall clock set back) counts as
            # ending now: kept, but never for longer than one horizon.
            kept = [min(t, wall_now) + offset for t in times if wall_now - t <= self.horizon]
            if kept:
                recent[route] = kept
        return recent

    def save(self, ended: dict[str, list[float]], clock_now: float) -> None:
        """Write the end times per route (on the daemon's clock); never raises.

        A request still in flight is written with the time it will have ended by at the latest,
        so a daemon killed during it leaves it counted.
        """
        offset = self.wall_clock() - clock_now
        stored = _Stored(1, {route: [t + offset for t in times] for route, times in ended.items()})
        data = _encoder.encode(stored)
        try:
            # 0o700 is ignored on Windows, where the folder is already the user's own.
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                _replace(self.path, data)
            except PermissionError:
                # Windows refuses to replace a file that another process holds open (a virus
                # scanner, a backup, an editor). Written in place instead: a reader may then
                # see it torn, which `load` ignores with a warning, as it does any bad file.
                self.path.write_bytes(data)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning(
                    "cannot keep the spend log: a restart may not know this window's requests",
                    path=str(self.path),
                    error=str(exc),
                )


def _replace(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a private temporary file, so no reader sees it torn."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".spent-")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
