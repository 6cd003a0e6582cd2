"""The daemon on another host: the websocket over TLS (wss://), the certificate reloaded on change
or SIGHUP, and the status page over https behind its login, all over real sockets with a test
CA made here."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from conftest import API_KEY, TOKEN, MakeDaemon, make_config
from tls_ca import Pair, TestCa, requires_openssl, serial_of
from websockets.asyncio.client import ClientConnection, connect

from bench.kit import build_daemon, free_port, until
from bridge.cli import describe
from bridge.config import (
    Config,
    ConfigError,
    StatusConfig,
    TlsConfig,
    config_warnings,
    parse_config,
)
from bridge.standin.cad import CadStandIn

pytestmark = requires_openssl
PASSWORD = "status-login-0123456789"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCa:
    """One CA for the module (making keys is the slow part)."""
    return TestCa(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module")
def pairs(ca: TestCa) -> list[Pair]:
    """Two loopback certificates of that CA: the first, and its renewal."""
    return [ca.issue("first"), ca.issue("renewed")]


def installed(pair: Pair, folder: Path) -> Pair:
    """The pair copied where the config points (as certbot's live/ folder is)."""
    folder.mkdir(exist_ok=True)
    live = Pair(folder / "fullchain.pem", folder / "privkey.pem")
    shutil.copyfile(pair.cert, live.cert)
    shutil.copyfile(pair.key, live.key)
    return live


def tls_config(live: Pair, **status: Any) -> Callable[[CadStandIn], Config]:
    def configure(standin: CadStandIn) -> Config:
        config = make_config(standin)
        return msgspec.structs.replace(
            config,
            tls=TlsConfig(cert_file=str(live.cert), key_file=str(live.key), check_seconds=0),
            status=StatusConfig(**status) if status else config.status,
        )

    return configure


async def hello(
    url: str, context: ssl.SSLContext | None, server_id: int = 1
) -> tuple[ClientConnection, dict[str, Any]]:
    ws = await connect(url, ssl=context)
    await ws.send(
        json.dumps(
            {"type": "hello", "protocol": 1, "token": TOKEN, "server_id": server_id,
             "resource_version": "test"}
        )
    )  # fmt: skip
    return ws, json.loads(await ws.recv())


def served_serial(ws: ClientConnection) -> int:
    peer = ws.transport.get_extra_info("ssl_object").getpeercert()
    return int(peer["serialNumber"], 16)


async def test_the_websocket_speaks_tls_to_a_client_that_trusts_the_ca(
    make_daemon: MakeDaemon, ca: TestCa, pairs: list[Pair], tmp_path: Path
) -> None:
    running = await make_daemon(configure=tls_config(installed(pairs[0], tmp_path / "live")))
    ws, welcome = await hello(f"wss://127.0.0.1:{running.bridge.port}", ca.client_context())
    assert welcome["type"] == "welcome"
    assert served_serial(ws) == serial_of(pairs[0].cert)
    await ws.close()
    # Plain ws:// to a TLS port gets no websocket, and a client that does not trust the
    # certificate refuses it.
    with pytest.raises(Exception):  # noqa: B017 - the failure differs by websockets version
        await asyncio.wait_for(hello(f"ws://127.0.0.1:{running.bridge.port}", None), 3)
    with pytest.raises(ssl.SSLCertVerificationError):
        await hello(f"wss://127.0.0.1:{running.bridge.port}", ssl.create_default_context())


async def test_a_tls_handshake_that_never_comes_is_dropped_at_the_hello_timeout(
    make_daemon: MakeDaemon, pairs: list[Pair], tmp_path: Path
) -> None:
    running = await make_daemon(configure=tls_config(installed(pairs[0], tmp_path / "live")))
    assert running.bridge.config.listen.hello_timeout_seconds == 1.0
    reader, writer = await asyncio.open_connection("127.0.0.1", running.bridge.port)
    loop = asyncio.get_running_loop()
    began = loop.time()
    # Silent: no ClientHello. asyncio's own default would hold the socket for 60 s.
    assert await asyncio.wait_for(reader.read(), 10) == b""
    assert loop.time() - began < 5
    writer.close()


async def test_a_renewed_certificate_is_served_after_a_change_without_dropping_the_link(
    make_daemon: MakeDaemon, ca: TestCa, pairs: list[Pair], tmp_path: Path
) -> None:
    live = installed(pairs[0], tmp_path / "live")
    running = await make_daemon(configure=tls_config(live))
    url = f"wss://127.0.0.1:{running.bridge.port}"
    first, _ = await hello(url, ca.client_context())
    assert running.bridge.tls is not None and not running.bridge.tls.check()  # nothing changed
    installed(pairs[1], tmp_path / "live")
    assert running.bridge.tls.check()
    second, welcome = await hello(url, ca.client_context(), server_id=2)
    assert welcome["type"] == "welcome" and served_serial(second) == serial_of(pairs[1].cert)
    # The link made before the renewal goes on.
    await first.send(json.dumps({"type": "positions", "items": []}))
    await first.ping()
    assert served_serial(first) == serial_of(pairs[0].cert)
    await first.close()
    await second.close()


async def test_the_watch_task_notices_a_change_within_its_interval(
    make_daemon: MakeDaemon, ca: TestCa, pairs: list[Pair], tmp_path: Path
) -> None:
    live = installed(pairs[0], tmp_path / "live")

    def configure(standin: CadStandIn) -> Config:
        config = tls_config(live)(standin)
        config.tls.check_seconds = 0.05
        return config

    running = await make_daemon(configure=configure)
    tls = running.bridge.tls
    assert tls is not None
    installed(pairs[1], tmp_path / "live")
    await until(lambda: tls.reloads > 0, within=5)
    ws, _ = await hello(f"wss://127.0.0.1:{running.bridge.port}", ca.client_context())
    assert served_serial(ws) == serial_of(pairs[1].cert)
    await ws.close()


async def test_sighup_reloads_the_certificate(
    ca: TestCa, pairs: list[Pair], tmp_path: Path
) -> None:

    live = installed(pairs[0], tmp_path / "live")
    async with CadStandIn(api_key=API_KEY, window=2.0) as standin:
        daemon = build_daemon(tls_config(live)(standin))
        running = asyncio.create_task(daemon.run())
        try:
            await until(lambda: daemon.listener._server is not None, within=5)
            installed(pairs[1], tmp_path / "live")
            assert daemon.tls is not None and daemon.tls.reloads == 0
            os.kill(os.getpid(), signal.SIGHUP)
            await until(lambda: daemon.tls.reloads > 0, within=5)
            ws, welcome = await hello(f"wss://127.0.0.1:{daemon.port}", ca.client_context())
            assert welcome["type"] == "welcome" and served_serial(ws) == serial_of(pairs[1].cert)
            await ws.close()
        finally:
            daemon.request_stop()
            await running


async def test_a_broken_renewal_keeps_the_running_certificate(
    make_daemon: MakeDaemon,
    ca: TestCa,
    pairs: list[Pair],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    live = installed(pairs[0], tmp_path / "live")
    running = await make_daemon(configure=tls_config(live))
    tls = running.bridge.tls
    assert tls is not None
    # Half-way through a renewal: the new certificate, the old key.
    shutil.copyfile(pairs[1].cert, live.cert)
    assert not tls.check() and tls.failures == 1
    live.key.write_text("not a key\n")
    assert not tls.check() and tls.failures == 2
    ws, welcome = await hello(f"wss://127.0.0.1:{running.bridge.port}", ca.client_context())
    assert welcome["type"] == "welcome" and served_serial(ws) == serial_of(pairs[0].cert)
    await ws.close()
    # The renewal completes: the next check takes it.
    shutil.copyfile(pairs[1].key, live.key)
    assert tls.check()


async def login_get(url: str, ca: TestCa, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(verify=ca.client_context(), trust_env=False) as client:
        return await client.get(url, headers=headers)


async def test_the_status_page_over_https_asks_for_its_login(
    make_daemon: MakeDaemon, ca: TestCa, pairs: list[Pair], tmp_path: Path
) -> None:
    port = free_port()
    running = await make_daemon(
        configure=tls_config(
            installed(pairs[0], tmp_path / "live"),
            host="127.0.0.1",
            port=port,
            password=PASSWORD,
        )
    )
    assert running.bridge.status_page is not None
    base = f"https://127.0.0.1:{port}"
    assert running.bridge.status_page.url == base + "/"
    for path in ("/", "/status.json", "/metrics", "/status.js", "/postals.json"):
        refused = await login_get(base + path, ca)
        assert refused.status_code == 401, path
        assert refused.headers["www-authenticate"].startswith("Basic ")
        assert PASSWORD not in refused.text
    wrong = await login_get(base + "/metrics", ca, Authorization=f"Bearer {TOKEN}")
    assert wrong.status_code == 401  # the websocket's token is not the page's login
    bearer = await login_get(base + "/metrics", ca, Authorization=f"Bearer {PASSWORD}")
    assert bearer.status_code == 200 and "sonoran_bridge" in bearer.text
    async with httpx.AsyncClient(
        verify=ca.client_context(), trust_env=False, auth=("anyone", PASSWORD)
    ) as browser:
        page = await browser.get(base + "/status.json")
        assert page.status_code == 200 and page.json()["calls"] == []
    with pytest.raises((httpx.ConnectError, httpx.RemoteProtocolError)):
        await login_get(f"http://127.0.0.1:{port}/status.json", ca)  # no plain http on it


async def test_the_status_page_answers_only_to_the_names_it_is_given(
    make_daemon: MakeDaemon,
) -> None:
    running = await make_daemon()
    url = await running.bridge.serve_status(
        "127.0.0.1", 0, allowed_hosts=["bridge.example.com"], password=PASSWORD
    )
    auth = {"Authorization": f"Bearer {PASSWORD}"}
    async with httpx.AsyncClient(trust_env=False) as client:
        named = await client.get(
            url + "status.json", headers={"Host": "bridge.example.com:30126", **auth}
        )
        rebound = await client.get(url + "status.json", headers={"Host": "evil.example", **auth})
    assert named.status_code == 200
    assert rebound.status_code == 421


def test_a_status_page_beyond_loopback_needs_a_login_of_its_own() -> None:
    base = f'[cad]\napi_key = "{API_KEY}"\n[listen]\ntoken = "{TOKEN}"\n'
    remote = '[status]\nhost = "0.0.0.0"\nport = 30126\nallow_remote = true\n'
    with pytest.raises(ConfigError, match=r"status\.password"):
        parse_config(base + remote, env={})
    with pytest.raises(ConfigError, match=r"same as listen\.token"):
        parse_config(base + remote + f'password = "{TOKEN}"\n', env={})
    with pytest.raises(ConfigError, match="too short"):
        parse_config(base + remote + 'password = "short"\n', env={})
    config = parse_config(base + remote, env={"SONORAN_BRIDGE_STATUS_PASSWORD": PASSWORD})
    assert config.status.password == PASSWORD
    assert PASSWORD not in repr(config.status)
    described = describe(config, "config.toml")
    assert PASSWORD not in described and "login <set, 23 chars>" in described
    # On loopback the page needs no login, as before.
    assert parse_config(base + "[status]\nport = 30126\n", env={}).status.password == ""


def test_tls_files_are_checked_before_the_daemon_starts(
    ca: TestCa, pairs: list[Pair], tmp_path: Path
) -> None:
    base = f'[cad]\napi_key = "{API_KEY}"\n[listen]\ntoken = "{TOKEN}"\n[tls]\n'
    cert, key = pairs[0].cert, pairs[0].key
    with pytest.raises(ConfigError, match=r"tls\.key_file is empty"):
        parse_config(base + f'cert_file = "{cert}"\n', env={})
    with pytest.raises(ConfigError, match="no such file"):
        parse_config(base + f'cert_file = "{cert}"\nkey_file = "{tmp_path}/nope"\n', env={})
    with pytest.raises(ConfigError, match="does not belong to the certificate"):
        parse_config(base + f'cert_file = "{cert}"\nkey_file = "{pairs[1].key}"\n', env={})
    with pytest.raises(ConfigError, match="not a PEM file"):
        parse_config(base + f'cert_file = "{key}"\nkey_file = "{key}"\n', env={})
    config = parse_config(base + f'cert_file = "{cert}"\nkey_file = "{key}"\n', env={})
    assert config.tls.enabled


def test_a_plain_link_beyond_loopback_is_warned_about() -> None:
    base = f'[cad]\napi_key = "{API_KEY}"\n[listen]\ntoken = "{TOKEN}"\n'
    config = parse_config(base + 'host = "0.0.0.0"\nallow_remote = true\n', env={})
    assert any("crosses the network in clear" in w for w in config_warnings(config))


def test_a_key_gone_between_the_check_and_the_start_is_a_config_error(
    pairs: list[Pair], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    import structlog

    from bridge.cli import EXIT_CONFIG, _run

    live = installed(pairs[0], tmp_path / "live")
    base = f'[cad]\napi_key = "{API_KEY}"\n[listen]\ntoken = "{TOKEN}"\nport = 0\n'
    tls = f'[tls]\ncert_file = "{live.cert}"\nkey_file = "{live.key}"\n'
    config = parse_config(base + '[budget]\nstate_file = ""\n' + tls, env={})
    live.key.unlink()
    try:
        assert _run(config) == EXIT_CONFIG
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    said = capsys.readouterr()
    assert "tls.key_file" in said.out + said.err and "no such file" in said.out + said.err


async def test_a_failing_check_does_not_end_the_watch(
    pairs: list[Pair], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bridge.tls import ServerTls

    live = installed(pairs[0], tmp_path / "live")
    tls = ServerTls(str(live.cert), str(live.key))
    real = tls.check
    calls = 0

    def flaky() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise PermissionError("the folder turned unreadable")
        return real()

    monkeypatch.setattr(tls, "check", flaky)
    watch = asyncio.create_task(tls.watch(0.01))
    installed(pairs[1], tmp_path / "live")
    try:
        await until(lambda: tls.reloads > 0, within=5)
    finally:
        watch.cancel()
    assert calls >= 2  # the check after the failure took the renewal
