"""Reading a CAD answer's body with a cap on its size after decompression.

httpx inflates a gzip body whole, chunk by chunk, with no bound: a 127 KiB answer of zeros
became 270 MB. Here the raw bytes are read as they come and inflated by at most the room left
under the cap, so a body past the cap is dropped after about that much memory, whatever its
compressed size.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator

MAX_ANSWER_BYTES = 8 * 1024 * 1024
"""The largest answer body read, after decompression. A list of 500 calls with long notes is
about 2 MB; nothing the bridge asks for comes near 8 MiB."""

ACCEPT_ENCODING = "gzip, deflate"
"""The encodings asked for: the ones `read_capped` can inflate with a bound."""


class AnswerError(ValueError):
    """A body that was not read: too large, or in an encoding not asked for."""


class _Inflater:
    """gzip or deflate (zlib-wrapped or raw, as httpx accepts), inflated with a bound."""

    def __init__(self, encoding: str) -> None:
        gzip = encoding in ("gzip", "x-gzip")
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)
        self._undecided = not gzip
        """A deflate body may come zlib-wrapped or raw: the first chunk says which."""
        self._encoding = encoding

    def feed(self, data: bytes, room: int) -> bytes:
        """Inflate `data`, returning at most `room + 1` bytes (one more says: past the cap)."""
        out = bytearray()
        try:
            if self._undecided:
                self._undecided = False
                try:
                    out += self._zlib.decompress(data, room + 1)
                except zlib.error:
                    # A raw deflate stream, without the zlib header (some servers send it so).
                    self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                    out += self._zlib.decompress(data, room + 1)
            else:
                out += self._zlib.decompress(data, room + 1)
            while self._zlib.unconsumed_tail and len(out) <= room:
                out += self._zlib.decompress(self._zlib.unconsumed_tail, room + 1 - len(out))
        except zlib.error as exc:
            raise AnswerError(f"the {self._encoding} body could not be inflated ({exc})") from None
        return bytes(out)


async def read_capped(
    chunks: AsyncIterator[bytes], content_encoding: str, cap: int = MAX_ANSWER_BYTES
) -> bytes:
    """The body of `chunks` (raw bytes as they came), decoded; `AnswerError` past `cap`."""
    encoding = content_encoding.strip().lower()
    inflater: _Inflater | None = None
    if encoding in ("gzip", "x-gzip", "deflate"):
        inflater = _Inflater(encoding)
    elif encoding not in ("", "identity"):
        raise AnswerError(f"the body's Content-Encoding {encoding[:40]!r} was not asked for")
    body = bytearray()
    async for chunk in chunks:
        room = cap - len(body)
        part = inflater.feed(chunk, room) if inflater is not None else chunk
        if len(part) > room:
            raise AnswerError(f"the answer is larger than {cap // 1024} KiB once decoded")
        body += part
    return bytes(body)
