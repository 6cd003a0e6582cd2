"""What a CAD answer or the environment can make the CAD client do: bounded reads, no clear proxy.

Real sockets on loopback: a raw HTTP server that answers a gzip bomb, a fake proxy that records
what reaches it, and the CAD stand-in.
"""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import pytest

from bench.kit import RawServer, gzip_bomb
from bridge.answer import AnswerError, read_capped
from bridge.cad import CadClient, Transient, Updated
from bridge.standin.cad import CadStandIn

KEY = "sk-test-proxy-4c3b2a19-do-not-leak"
BOMB_MIB = 64


async def test_a_gzip_bomb_is_refused_after_the_cap_not_inflated_whole() -> None:
    async with RawServer(gzip_bomb(BOMB_MIB)) as server:
        async with CadClient(f"http://127.0.0.1:{server.port}", KEY, timeout=10.0) as cad:
            tracemalloc.start()
            try:
                result = (await cad.get_calls(1)).result
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    print(f"gzip bomb of {BOMB_MIB} MiB: peak {peak / 2**20:.1f} MiB traced, {result}")
    assert isinstance(result, Transient)
    assert "larger than 8192 KiB" in result.reason
    assert peak < 24 * 2**20


async def test_a_gzip_answer_under_the_cap_is_read() -> None:
    body = gzip.compress(b'{"activeCalls": [], "emergencyCalls": []}')
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    async with RawServer(head + body) as server:
        async with CadClient(f"http://127.0.0.1:{server.port}", KEY) as cad:
            result = (await cad.get_calls(1)).result
    assert not isinstance(result, Transient), result
    assert b"accept-encoding: gzip, deflate\r\n" in bytes(server.received).lower()


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
async def test_deflate_in_both_wrappings_is_inflated_with_the_cap(wbits: int) -> None:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    data = packer.compress(b"x" * 5000) + packer.flush()
    assert await read_capped(_chunks(data[:7], data[7:]), "deflate") == b"x" * 5000
    with pytest.raises(AnswerError, match="larger than"):
        await read_capped(_chunks(data), "deflate", cap=4096)


async def test_an_encoding_not_asked_for_is_refused() -> None:
    with pytest.raises(AnswerError, match="'br' was not asked for"):
        await read_capped(_chunks(b"abc"), "br")


async def test_a_plain_body_past_the_cap_is_refused() -> None:
    with pytest.raises(AnswerError, match="larger than 1 KiB"):
        await read_capped(_chunks(b"a" * 1000, b"b" * 100), "", cap=1024)


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


async def test_http_proxy_from_the_environment_never_gets_the_key(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    refusal = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    async with RawServer(refusal) as proxy, CadStandIn(api_key=KEY) as standin:
        standin.add_call(1, 501, {"x": "1.0"})
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            no_proxy_env.setenv(name, f"http://127.0.0.1:{proxy.port}")
        async with CadClient(standin.url, KEY, timeout=5.0) as cad:
            result = (await cad.update_call(1, 501, {"x": "2.0"})).result
    print(f"plain-http CAD with HTTP_PROXY set: the proxy read {len(proxy.received)} bytes")
    assert KEY.encode() not in bytes(proxy.received)
    assert proxy.received == b""
    assert isinstance(result, Updated)


async def test_https_proxy_sees_only_a_connect_never_the_key(
    no_proxy_env: pytest.MonkeyPatch,
) -> None:
    refusal = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    async with RawServer(refusal) as proxy:
        no_proxy_env.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
        async with CadClient("https://cad.example.invalid", KEY, timeout=5.0) as cad:
            result = (await cad.get_calls(1)).result
    assert isinstance(result, Transient)
    assert bytes(proxy.received).startswith(b"CONNECT cad.example.invalid:443 ")
    assert KEY.encode() not in bytes(proxy.received)
