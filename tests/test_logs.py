"""Logging: every rendered line, tracebacks included, is scrubbed of the secrets."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import json
import logging
import sys
import types
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


# -- Windows consoles, by simulation -------------------------------------------------------


class Console(io.StringIO):
    """A stream that says it is a terminal, as a console window is."""

    def isatty(self) -> bool:
        return True


def windows_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """sys.platform as on Windows, and structlog's colour set-up as it is there: it raises
    SystemError unless colorama can be imported (structlog picks this at import time)."""

    def init_terminal(who: str, force_colors: bool) -> None:
        if importlib.util.find_spec("colorama") is None:
            raise SystemError(f"{who} with `colors=True` on Windows requires colorama")

    monkeypatch.setattr(sys, "platform", "win32")
    monkeypatch.setattr(structlog.dev, "_init_terminal", init_terminal)


@pytest.mark.parametrize("fmt", ["auto", "console"])
def test_a_windows_console_without_colorama_gets_plain_lines(
    monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    windows_console(monkeypatch)
    monkeypatch.setitem(sys.modules, "colorama", None)  # not installed
    out = Console()
    logs.configure("info", fmt, out)
    logs.get_logger("bridge.test").warning("listening", port=30125)
    assert "listening" in out.getvalue() and "\x1b[" not in out.getvalue()


def test_a_windows_console_with_colorama_gets_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    windows_console(monkeypatch)
    colorama = types.ModuleType("colorama")
    colorama.__spec__ = importlib.machinery.ModuleSpec("colorama", None)
    monkeypatch.setitem(sys.modules, "colorama", colorama)
    out = Console()
    logs.configure("info", "console", out)
    logs.get_logger("bridge.test").warning("listening", port=30125)
    assert "\x1b[" in out.getvalue()


def test_a_posix_terminal_keeps_its_colours(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setitem(sys.modules, "colorama", None)
    out = Console()
    logs.configure("info", "console", out)
    logs.get_logger("bridge.test").warning("listening")
    assert "\x1b[" in out.getvalue()
