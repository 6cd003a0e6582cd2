"""The shared budget across hosts: `rediss://` and MariaDB with `?ssl=true` against real
redis-server and mariadbd that accept TLS only, on loopback, with a test CA made here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from tls_ca import TestCa, requires_openssl

from bench.kit_services import MariaDbServer, RedisServer, ServerTls, missing
from bridge.build import all_warnings, load, open_engine
from bridge.config import ConfigError, parse_config
from bridge.shared.engine import Reservation, Terms, Unavailable
from bridge.shared.url import SharedUrlError, parse

from .conftest import fresh_space

pytestmark = requires_openssl
TERMS = Terms(limit=3, window=0.4, hold=0.8)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCa:
    return TestCa(tmp_path_factory.mktemp("engine-ca"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCa:
    """A CA the engines' certificates do not come from."""
    return TestCa(tmp_path_factory.mktemp("other-ca"), name="someone else")


@pytest.fixture(scope="module", params=["redis", "mariadb"])
def tls_server(
    request: pytest.FixtureRequest, ca: TestCa, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisServer | MariaDbServer]:
    """Each engine listening on loopback over TLS only."""
    kind = request.param
    if (why := missing(kind)) is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the {kind} tests: {why}")
        pytest.skip(why)
    pair = ca.issue(f"{kind}-server")
    files = ServerTls(pair.cert, pair.key, ca.cert)
    folder = tmp_path_factory.mktemp(f"{kind}-tls")
    server = RedisServer(folder, tls=files) if kind == "redis" else MariaDbServer(folder, tls=files)
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def reserve(url: str) -> object:
    engine = open_engine(parse(url), fresh_space(), member="tls")
    try:
        return await engine.reserve("update_call", TERMS)
    finally:
        await engine.close()


async def test_the_engine_is_reached_over_tls(tls_server: RedisServer | MariaDbServer) -> None:
    location = parse(tls_server.url)
    assert location.tls and "over TLS" in location.describe()
    assert isinstance(await reserve(tls_server.url), Reservation)


async def test_a_plain_connection_to_a_tls_only_engine_gets_nothing(
    tls_server: RedisServer | MariaDbServer,
) -> None:
    plain = tls_server.url.split("?")[0].replace("rediss://", "redis://")
    assert not parse(plain).tls
    assert isinstance(await reserve(plain), Unavailable)


async def test_an_engine_whose_certificate_is_not_trusted_is_not_used(
    tls_server: RedisServer | MariaDbServer, other_ca: TestCa
) -> None:
    # A man in the middle with a certificate of his own: the budget fails closed.
    url = tls_server.url.replace(
        str(tls_server.tls.ca if tls_server.tls else ""), str(other_ca.cert)
    )
    answer = await reserve(url)
    assert isinstance(answer, Unavailable) and "CERTIFICATE_VERIFY_FAILED" in answer.reason.upper()


def test_tls_parameters_are_read_and_checked(ca: TestCa, tmp_path: Path) -> None:
    assert parse("rediss://cache.example:6380/1").tls
    with_ca = parse(f"mariadb://u:p@db.example/fivem?ssl=true&ssl_ca={ca.cert}")
    assert with_ca.tls and with_ca.ca_file == str(ca.cert)
    assert parse(f"mariadb://u@db.example/fivem?ssl_ca={ca.cert}").tls  # a CA implies TLS
    assert not parse("mariadb://u@db.example/fivem?ssl=false").tls
    for url, says in [
        ("mariadb://u@db/x?ssl=maybe", "ssl must be true or false"),
        ("redis://cache/0?ssl=true", "rediss://"),
        (f"mariadb://u@/x?unix_socket=/run/m.sock&ssl_ca={ca.cert}", "not a unix socket"),
        (f"rediss://cache/0?ssl_ca={tmp_path}/none.pem", "no such file"),
        (f"mariadb://u@db/x?ssl=false&ssl_ca={ca.cert}", "need TLS on"),
        (f"rediss://cache/0?ssl_ca={tmp_path}", "no such file"),
    ]:
        with pytest.raises(SharedUrlError, match=says):
            parse(url)
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    config = parse_config(
        f'[budget]\nshared_url = "rediss://c/0?ssl_ca={garbage}"\n',
        env={},
        require_secrets=False,
    )
    with pytest.raises(ConfigError, match="TLS files cannot be used"):
        load(config)


def test_a_plain_engine_beyond_loopback_is_warned_about() -> None:
    def warned(url: str) -> bool:
        config = parse_config(f'[budget]\nshared_url = "{url}"\n', env={}, require_secrets=False)
        warnings = all_warnings(config, load(config))
        return any("budget.shared_url" in w and "in clear" in w for w in warnings)

    assert warned("redis://:pw@cache.example:6379/0")
    assert warned("mariadb://u:p@10.0.0.5/fivem")
    assert not warned("rediss://:pw@cache.example:6380/0")
    assert not warned("mariadb://u:p@10.0.0.5/fivem?ssl=true")
    assert not warned("redis://127.0.0.1:6379/0")
    assert not warned("redis+unix:///run/redis.sock")
