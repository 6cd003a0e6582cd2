"""What the tests and the benchmarks share to run the daemon for real on this machine."""

from __future__ import annotations

import asyncio
import gzip
import socket


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RawServer:
    """Answers every request on loopback with one fixed response, and records what it read."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.received = bytearray()
        self._server: asyncio.Server | None = None
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while b"\r\n\r\n" not in self.received:
                data = await reader.read(65536)
                if not data:
                    return
                self.received += data
            writer.write(self.response)
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()


def gzip_bomb(mib: int) -> bytes:
    """A 200 answer whose gzip body inflates to `mib` MiB of zeros (a few dozen KiB sent)."""
    body = gzip.compress(b"\0" * (mib * 1024 * 1024), compresslevel=9)
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + body
