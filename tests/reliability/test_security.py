"""Security: the shared token gates everything, the port stays on loopback unless allowed, web
pages cannot reach the daemon, and neither secret shows in any log, error or output."""

from __future__ import annotations

import contextlib
import hmac
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from conftest import API_KEY, TOKEN, MakeDaemon, Running, make_config
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from bench.kit import VirtualTime, build_daemon, cad_client
from bench.restarts import expose_secrets
from bench.rig import API_KEY as RUN_KEY
from bench.rig import TOKEN as RUN_TOKEN
from bench.rig import Pace
from bridge import logs
from bridge.cli import main
from bridge.config import ConfigError, ListenConfig, parse_config
from bridge.protocol import Position, Positions, Track
from bridge.server import Listener
from bridge.standin.cad import CadStandIn, Fault


def hello(token: str, server_id: int = 1) -> str:
    return json.dumps({"type": "hello", "protocol": 1, "token": token, "server_id": server_id})


# -- the shared token ----------------------------------------------------------------------


def test_the_daemon_refuses_to_start_without_a_token(tmp_path: Any, capsys: Any) -> None:
    with pytest.raises(ValueError, match="token"):
        Listener(host="127.0.0.1", port=0, token="", on_message=lambda *_: None)
    path = tmp_path / "config.toml"
    path.write_text(f'[cad]\napi_key = "{API_KEY}"\n')
    assert main(["run", "--config", str(path)]) == 2
    assert "listen.token is empty" in capsys.readouterr().err


async def test_tokens_are_compared_in_constant_time(
    daemon: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    async with connect(daemon.url) as ws:
        await ws.send(hello("wrong-token-of-any-length"))
        await ws.recv()
    assert compared == [(b"wrong-token-of-any-length", TOKEN.encode())]


@pytest.mark.parametrize("offered", [TOKEN + "x", TOKEN[:-1], "", None])
async def test_a_connection_without_the_token_gets_a_refusal_and_nothing_else(
    daemon: Running, offered: str | None
) -> None:
    daemon.standin.add_call(1, 501, {"postal": "1"})
    owner = await daemon.game()
    await owner.send(type="track", call_id=501, subject="player:1", meta={"postal": "1"})
    await owner.expect("call_state", call_id=501)
    link = daemon.bridge.listener.links[1]
    frame = json.loads(hello(TOKEN))
    if offered is None:
        del frame["token"]
    else:
        frame["token"] = offered
    async with connect(daemon.url) as ws:
        await ws.send(json.dumps(frame))
        await ws.send(json.dumps({"type": "untrack", "call_id": 501}))
        received = []
        with contextlib.suppress(ConnectionClosed):
            while True:
                received.append(json.loads(await ws.recv()))
    assert [m["type"] for m in received] == ["error"]
    assert ws.close_code == 1008
    assert daemon.bridge.tracker.get(1, 501) is not None  # the untrack was never read
    assert daemon.bridge.listener.links[1] is link  # nor did it replace the owner


# -- where the daemon listens, and who may reach it ------------------------------------------


async def test_the_listener_binds_loopback_unless_told_otherwise(daemon: Running) -> None:
    assert ListenConfig().host == "127.0.0.1"
    server = daemon.bridge.listener._server
    assert server is not None
    assert {s.getsockname()[0] for s in server.sockets} <= {"127.0.0.1", "::1"}
    secrets = f'[cad]\napi_key = "{API_KEY}"\n[listen]\ntoken = "{TOKEN}"\n'
    with pytest.raises(ConfigError, match="allow_remote"):
        parse_config(secrets + 'host = "0.0.0.0"\n', env={})
    parse_config(secrets + 'host = "0.0.0.0"\nallow_remote = true\n', env={})


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "http://127.0.0.1:8080", "https://localhost"]
)
async def test_browser_connections_are_refused_before_any_hello(
    daemon: Running, origin: str
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(daemon.url, origin=origin):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    assert not daemon.bridge.listener.links


async def test_an_allowed_origin_may_connect(make_daemon: MakeDaemon) -> None:
    def allowing(standin: CadStandIn) -> Any:
        config = make_config(standin)
        config.listen.allowed_origins = ["https://panel.example"]
        return config

    running = await make_daemon(configure=allowing)
    async with connect(running.url, origin="https://panel.example") as ws:  # type: ignore[arg-type]
        await ws.send(hello(TOKEN))
        assert json.loads(await ws.recv())["type"] == "welcome"


# -- secrets in output ----------------------------------------------------------------------


async def test_no_error_path_shows_the_api_key_or_the_token() -> None:
    exposure = await expose_secrets(Pace())
    assert exposure.leaks(RUN_KEY, RUN_TOKEN) == []
    assert len(exposure.paths) >= 15
    everything = "\n".join(exposure.text)
    # The paths did run: the CAD's echo was redacted, the client's paste scrubbed, and the
    # operator was warned about listening beyond loopback.
    assert "[redacted]" in everything and "'***'" in everything
    assert "refused connection: wrong token" in everything
    assert "listening beyond loopback" in everything


@pytest.fixture
def captured_logs() -> Iterator[dict[str, io.StringIO]]:
    """The daemon's logging, rendered both ways into buffers; restored afterwards."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    streams = {"json": io.StringIO(), "console": io.StringIO()}
    yield streams
    root.handlers[:], _ = saved
    root.setLevel(saved[1])
    structlog.reset_defaults()


@pytest.mark.parametrize("fmt", ["json", "console"])
async def test_tracebacks_in_the_logs_hold_no_secret(
    captured_logs: dict[str, io.StringIO], fmt: str
) -> None:
    stream = captured_logs[fmt]
    logs.configure("debug", fmt, stream=stream, secrets=[API_KEY, TOKEN])
    config = make_config("http://127.0.0.1:9")  # no request reaches it: the client raises
    time = VirtualTime()
    # A client with a bug: it raises with the key in its message (and in its request's headers).
    exploding = cad_client([RuntimeError(f"could not sign with {API_KEY}")])
    daemon = build_daemon(config, cad=exploding, clock=time, wait=time.wait)
    meta = {"postal": "1"}
    daemon.on_message(1, Track(call_id=501, subject="player:1", meta=meta))
    daemon.on_message(1, Positions(items=[Position(subject="player:1", x=5, y=6, z=0)]))
    time.at(1.0, daemon.pusher.stop)
    await daemon.pusher.run()
    assert daemon.pusher.requests >= 1
    text = stream.getvalue()
    assert "request failed unexpectedly" in text and "RuntimeError" in text
    assert API_KEY not in text and TOKEN not in text


class KeyQuotingCad(CadStandIn):
    """A CAD that refuses the key and, carelessly, quotes it in its error."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        detail = f"API key {self.api_key} is not valid for this community"
        self.inject(Fault(401, detail=detail), count=10_000)


def test_the_demo_prints_no_secret_when_the_cad_quotes_the_refused_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The refused key comes back in the CAD's detail, which the daemon logs and the status
    # page lists: only the redaction stands between it and the output.
    made = iter(["demo-api-key-1f2e3d4c5b6a", "demo-token-9a8b7c6d5e4f"])
    monkeypatch.setattr("bridge.demo.secrets.token_urlsafe", lambda n=None: next(made))
    monkeypatch.setattr("bridge.demo.CadStandIn", KeyQuotingCad)
    try:
        assert main(["demo", "--seconds", "2", "--calls", "2", "--speedup", "10"]) == 0
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert "summary" in out
    assert "refused the API key" in out and "is not valid for this community" in out
    assert "demo-api-key-1f2e3d4c5b6a" not in out and "demo-token-9a8b7c6d5e4f" not in out
