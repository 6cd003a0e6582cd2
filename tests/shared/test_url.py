"""`budget.shared_url`: every documented form, and errors that name the key."""

from __future__ import annotations

import sys
import time

import pytest

from bridge import build
from bridge.build import gate_from, planner_from
from bridge.config import ConfigError, parse_config
from bridge.shared.url import Location, SharedUrlError, parse


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "mariadb://bridge:pa%40ss@db.lan:3307/fivem",
            Location(
                kind="mariadb",
                host="db.lan",
                port=3307,
                user="bridge",
                password="pa@ss",
                database="fivem",
            ),
        ),
        (
            "mariadb://bridge@/fivem?unix_socket=/run/mysqld/mysqld.sock",
            Location(
                kind="mariadb",
                unix_socket="/run/mysqld/mysqld.sock",
                port=3306,
                user="bridge",
                database="fivem",
            ),
        ),
        ("mysql://h/db", Location(kind="mariadb", host="h", port=3306, user="root", database="db")),
        ("redis://cache:6380/2", Location(kind="redis", host="cache", port=6380, db=2)),
        ("redis://:pw@cache", Location(kind="redis", host="cache", port=6379, password="pw")),
        (
            "redis+unix:///run/r.sock?db=3",
            Location(kind="redis", unix_socket="/run/r.sock", port=6379, db=3),
        ),
    ],
)
def test_each_documented_form_is_read(url: str, expected: Location) -> None:
    assert parse(url) == expected


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("postgres://h/db", "unknown scheme 'postgres'"),
        ("mariadb://h", "name the database"),
        ("mariadb:///db", "give a host or ?unix_socket=PATH"),
        ("mariadb://h/db?sslmode=1", "unknown parameter 'sslmode'"),
        ("redis://", "give a host"),
        ("redis://h/zero", "must be a number"),
        ("redis+unix://", "give the socket's path"),
        ("mariadb://h:99999/db", "out of range"),
    ],
)
def test_a_bad_url_names_the_key_and_what_was_expected(url: str, says: str) -> None:
    with pytest.raises(SharedUrlError) as caught:
        parse(url)
    assert str(caught.value).startswith("budget.shared_url: ")
    assert says in str(caught.value)


def test_the_password_is_masked_in_descriptions_and_config_reprs() -> None:
    url = "mariadb://bridge:hunter2-secret@db/fivem"
    assert "hunter2" not in parse(url).describe()
    config = parse_config(f'[budget]\nshared_url = "{url}"\n', require_secrets=False)
    assert "hunter2" not in repr(config)
    assert "hunter2" not in repr(config.budget.__rich_repr__())


def test_the_config_rejects_a_bad_url_naming_the_key() -> None:
    config = parse_config('[budget]\nshared_url = "ftp://x/y"\n', require_secrets=False)
    with pytest.raises(ConfigError, match=r"^budget\.shared_url: unknown scheme"):
        build.load(config)


def test_an_empty_url_keeps_the_embedded_budget() -> None:
    config = parse_config("", require_secrets=False)
    assert config.budget.shared_url == "" and config.budget.shared_max_hosts == 0


@pytest.mark.parametrize(("kind", "module"), [("mariadb", "asyncmy"), ("redis", "redis")])
def test_a_missing_client_is_a_config_error_naming_the_extra(
    kind: str, module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    monkeypatch.delitem(sys.modules, f"bridge.shared.{kind}_budget", raising=False)
    url = "mariadb://u@h/db" if kind == "mariadb" else "redis://h:6379/0"
    config = parse_config(
        f'[cad]\napi_key = "test-api-key-for-the-extras"\n[budget]\nshared_url = "{url}"\n',
        require_secrets=False,
    )
    with pytest.raises(ConfigError, match=rf"pip install 'sonoran-bridge\[{kind}\]'"):
        gate_from(config, planner_from(config), time.monotonic)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis+unix://~/run/r.sock?db=1", "redis"),
        ("mariadb://u@/db?unix_socket=~/run/r.sock", "mariadb"),
    ],
)
def test_a_unix_socket_under_home_is_expanded(
    url: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", "/home/fivem")
    location = parse(url)
    assert (location.kind, location.unix_socket) == (kind, "/home/fivem/run/r.sock")


async def test_the_password_never_reaches_logs_errors_or_status_of_a_running_daemon() -> None:
    from structlog.testing import capture_logs

    from bench.kit import CadScript, cad_client
    from bridge.build import build_daemon
    from bridge.planner import Fetch

    script = CadScript()  # the kit's fake CAD: it records any request that leaves
    secret = "pw-Zq81-secret"
    config = parse_config(
        '[cad]\napi_key = "k"\n[listen]\nport = 0\ntoken = "t0123456789ab"\n'
        f'[budget]\nstate_file = ""\nshared_url = "redis://:{secret}@127.0.0.1:1/0"\n',
        require_secrets=False,
    )
    cad = cad_client(script)
    daemon = build_daemon(config, cad=cad)
    assert daemon.gate is not None
    with capture_logs() as logged:
        await daemon.start()
        try:
            assert not await daemon.gate.admit(Fetch(1), time.monotonic())
            status = daemon.status()
        finally:
            await daemon.stop(grace=0.5)
            await cad.aclose()
    assert script.seen == [], "no request may leave without a slot"
    assert status["shared"]["state"] == "unreachable"
    assert any("unreachable" in e["event"] for e in logged)
    for text in (repr(logged), repr(status), repr(config), str(daemon.gate.status())):
        assert secret not in text
