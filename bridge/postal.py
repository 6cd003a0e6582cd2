"""Postal codes: nearest-postal's JSON (`[{"x": ..., "y": ..., "code": "..."}]`), nearest in 2D.

Codes are opaque strings (older sets have `"2000-A"`) and need not be unique. Points sit in a
uniform grid of square cells, so a lookup reads the cells around the point ring by ring and
stops once no unread cell can hold anything nearer: a handful of points, not the whole set.
Pure: no I/O beyond `load`, which reads one file (a regular file, at most `MAX_FILE_BYTES`).

A game server's offer names a path on its machine, and anything holding the shared token can
send one: it is read only inside `[postal] offer_folder`, off the event loop, with the same cap,
so no frame makes the daemon open a FIFO, a device, a share or a file of any size.
"""

from __future__ import annotations

import asyncio
import math
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import msgspec
import structlog
from msgspec import Meta, Struct

from bridge.config import PostalConfig

CELL_METRES = 250.0
"""Grid cell side: the current set (1,687 postals over about 8 x 12 km) has about one a cell."""
MAX_POSTALS = 200_000
MAX_FILE_BYTES = 16 * 1024 * 1024
"""The largest postal file read: the current set is about 100 KB, and MAX_POSTALS ~10 MB."""
Coordinate = Annotated[float, Meta(ge=-100_000, le=100_000)]

log = structlog.get_logger("bridge.postal")


class _Entry(Struct, forbid_unknown_fields=False):
    """One item of nearest-postal's file (other fields are ignored)."""

    x: Coordinate
    y: Coordinate
    code: str | int


_decoder = msgspec.json.Decoder(Annotated[list[_Entry], Meta(max_length=MAX_POSTALS)])


class PostalError(ValueError):
    """A postal file that cannot be used; the text says which and why."""


@dataclass(frozen=True, slots=True)
class Postal:
    """One postal code at a point of the map."""

    x: float
    y: float
    code: str


class PostalIndex:
    """The postals of one file, for nearest-code lookups in 2D (z is ignored)."""

    def __init__(self, postals: Iterable[Postal], cell: float = CELL_METRES) -> None:
        self._postals: tuple[Postal, ...] = tuple(postals)
        if not self._postals:
            raise PostalError("no postals: the list is empty")
        self._cell = cell
        self._grid: dict[tuple[int, int], list[int]] = {}
        for i, postal in enumerate(self._postals):
            self._grid.setdefault(self._key(postal.x, postal.y), []).append(i)
        keys = self._grid.keys()
        self._min_i = min(i for i, _ in keys)
        self._max_i = max(i for i, _ in keys)
        self._min_j = min(j for _, j in keys)
        self._max_j = max(j for _, j in keys)

    @classmethod
    def from_json(cls, data: bytes | str, source: str = "postal file") -> PostalIndex:
        """Read nearest-postal's JSON; `PostalError` names the source and the bad item."""
        try:
            entries = _decoder.decode(data)
        except msgspec.ValidationError as exc:
            raise PostalError(f"{source}: {exc}") from None
        except msgspec.DecodeError as exc:
            raise PostalError(f"{source}: not JSON ({exc})") from None
        try:
            return cls(Postal(e.x, e.y, str(e.code)) for e in entries)
        except PostalError as exc:
            raise PostalError(f"{source}: {exc}") from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> PostalIndex:
        """Read a postal file; `PostalError` says why it cannot be used."""
        file = Path(path)
        try:
            data = read_bounded(file)
        except OSError as exc:
            raise PostalError(f"{file}: cannot read it ({exc.strerror or exc})") from None
        return cls.from_json(data, str(file))

    def __len__(self) -> int:
        return len(self._postals)

    @property
    def postals(self) -> Sequence[Postal]:
        """The postals in file order."""
        return self._postals

    def _key(self, x: float, y: float) -> tuple[int, int]:
        return math.floor(x / self._cell), math.floor(y / self._cell)

    def nearest(self, x: float, y: float) -> str | None:
        """The code of the postal nearest to (x, y); the first in the file on a tie.

        None only for a point that is not finite.
        """
        return self.search(x, y)[0]

    def search(self, x: float, y: float) -> tuple[str | None, int]:
        """The nearest code and how many postals were looked at to find it."""
        if not (math.isfinite(x) and math.isfinite(y)):
            return None, 0
        ci, cj = self._key(x, y)
        # Rings before `first` and beyond `last` hold no cell of the grid.
        first = max(0, self._min_i - ci, ci - self._max_i, self._min_j - cj, cj - self._max_j)
        last = max(
            abs(ci - self._min_i),
            abs(ci - self._max_i),
            abs(cj - self._min_j),
            abs(cj - self._max_j),
        )
        best: tuple[float, int] | None = None
        examined = 0
        for ring in range(first, last + 1):
            for key in _ring(ci, cj, ring):
                for i in self._grid.get(key, ()):
                    examined += 1
                    postal = self._postals[i]
                    candidate = ((postal.x - x) ** 2 + (postal.y - y) ** 2, i)
                    if best is None or candidate < best:
                        best = candidate
            # Every point in ring `ring + 1` or beyond is at least `ring` cells away; one just
            # that far may still tie and come first in the file, so only a nearer one stops.
            if best is not None and math.sqrt(best[0]) < ring * self._cell:
                break
        assert best is not None  # the rings covered the whole grid
        return self._postals[best[1]].code, examined


def read_bounded(path: Path, cap: int = MAX_FILE_BYTES) -> bytes:
    """A regular file's bytes, at most `cap`; `PostalError` for anything else.

    Opened without blocking, so a FIFO neither waits for a writer nor is read; checked on the
    open handle, so a device (`/dev/zero`) or a file swapped in meanwhile is refused too.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    flags |= getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    with os.fdopen(fd, "rb", buffering=0) as file:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PostalError(f"{path}: not a regular file")
        if info.st_size > cap:
            raise PostalError(f"{path}: {info.st_size} bytes, more than the {cap} read at most")
        data = file.read(cap + 1)
    if data is None or len(data) > cap:
        raise PostalError(f"{path}: more than the {cap} bytes read at most")
    return data


def within(folder: str, offered: str) -> Path | None:
    """The offered path, if it names a file inside `folder` (links followed); None if not.

    The path is first checked as text, with no I/O: a network share (`\\\\host\\share`)
    is never opened, so the daemon never signs in to a host a frame names.
    """
    if not folder or "\0" in offered or offered.startswith(("\\\\", "//")):
        return None
    if not os.path.isabs(offered):
        return None
    base = os.path.normpath(os.path.abspath(folder))
    path = os.path.normpath(offered)
    if not _under(base, path):
        return None
    real = os.path.realpath(path)
    if not _under(os.path.realpath(base), real):
        return None  # a link inside the folder leads out of it
    return Path(real)


def _under(base: str, path: str) -> bool:
    try:
        return os.path.commonpath([base, path]) == base and path != base
    except ValueError:  # different drives on Windows, or mixed absolute and relative
        return False


def _ring(ci: int, cj: int, ring: int) -> Iterable[tuple[int, int]]:
    """The cells at Chebyshev distance `ring` from (ci, cj)."""
    if ring == 0:
        yield ci, cj
        return
    for i in range(ci - ring, ci + ring + 1):
        yield i, cj - ring
        yield i, cj + ring
    for j in range(cj - ring + 1, cj + ring):
        yield ci - ring, j
        yield ci + ring, j


class PostalSource:
    """Where the daemon's postal codes come from: `[postal] file`, else a game server's offer."""

    def __init__(self, config: PostalConfig, index: PostalIndex | None = None) -> None:
        """`index`: the postals of `[postal] file`, read once at start (`bridge.build.load`)."""
        self._config = config
        self._offers: set[str] = set()
        """Offered paths seen (each is read once at most; only the index in use is kept)."""
        self._reading = asyncio.Lock()
        """One offered file read at a time: a burst of offers never holds many in memory."""
        self.index: PostalIndex | None = index

    async def offered(self, server_id: int, path: str) -> PostalIndex | None:
        """A game server offers its nearest-postal file: the index to use now, or None to keep
        the current one (a file is configured, offers are off, the same path again, a path
        outside `[postal] offer_folder`, or a file that cannot be used: logged once per path).

        The file is read in a worker thread: the event loop never waits on it.
        """
        if self._config.file or not self._config.accept_offer:
            return None
        if path in self._offers or len(self._offers) >= _MAX_OFFERS:
            return None
        self._offers.add(path)
        shown = path[:300]
        folder = self._config.offer_folder
        if not folder:
            log.warning(
                "a game server offered its postal file; offers are read only inside "
                "[postal] offer_folder, which is not set: set it to the folder that holds the "
                "file (or set [postal] file)",
                server_id=server_id,
                path=shown,
            )
            return None
        try:
            async with self._reading:
                index: PostalIndex | None = await asyncio.to_thread(_load_offer, folder, path)
        except PostalError as exc:
            index = None
            log.warning(
                "the postal file a game server offered cannot be used here; set [postal] file",
                server_id=server_id,
                detail=str(exc)[:500],
            )
        if index is not None:
            self.index = index
            log.info(
                "postal codes from the game server's nearest-postal",
                server_id=server_id,
                path=shown,
                postals=len(index),
            )
        return index


_MAX_OFFERS = 64
"""Distinct offered paths remembered; later ones are ignored (a resource offers one)."""


def _load_offer(folder: str, path: str) -> PostalIndex:
    """The index of an offered file inside `folder`; `PostalError` says why not."""
    inside = within(folder, path)
    if inside is None:
        raise PostalError(f"{path[:300]}: not inside postal.offer_folder ({folder})")
    return PostalIndex.load(inside)
