"""Logging: every rendered line, tracebacks included, is scrubbed of the secrets."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
import structlog

from bridge import logs


@pytest.fixture(autouse=True)
def fresh_logging() -> Iterator[None]:
    """Each test configures logging itself; put structlog back as tests expect it after."""
    saved = set(logs._secrets)
    logs._secrets.clear()
    yield
    logs._secrets.clear()
    logs._secrets.update(saved)
    logging.getLogger().handlers.clear()
    logging.getLogger().setLevel(logging.WARNING)
    structlog.reset_defaults()


SECRETS = [
    "plain-secret-abcdefghijkl",
    'quote"secret-abcdefghijkl',
    "backslash\\secret-abcdefghijkl",
    "accentué-secret-abcdefghijkl",
    "newline\nsecret-abcdefghijkl",
]


@pytest.mark.parametrize("secret", SECRETS)
@pytest.mark.parametrize("fmt", ["json", "console"])
def test_a_secret_never_shows_in_any_escaped_form(secret: str, fmt: str) -> None:
    out = io.StringIO()
    logs.configure("debug", fmt, out, secrets=[secret])
    log = logs.get_logger("bridge.test")
    log.info("field", token=secret)
    log.info(f"event text {secret}")
    try:
        raise ValueError(f"failure mentioning {secret}")
    except ValueError:
        log.exception("traceback")
    logging.getLogger("websockets.server").warning("stdlib says %s", secret)
    text = out.getvalue()
    assert text.count(logs.REDACTED) >= 4
    for form in (secret, json.dumps(secret)[1:-1], repr(secret)[1:-1]):
        assert form not in text


def test_json_lines_are_json_and_carry_the_bound_context() -> None:
    out = io.StringIO()
    logs.configure("info", "json", out)
    with structlog.contextvars.bound_contextvars(conn=7):
        logs.get_logger("bridge.test", server_id=1).info("hello", call_id=501)
    line = json.loads(out.getvalue().splitlines()[0])
    assert line["event"] == "hello" and line["conn"] == 7 and line["call_id"] == 501
    assert line["level"] == "info" and line["server_id"] == 1
