"""Shared fixtures: a real daemon on loopback, in front of the real CAD stand-in (`bench.kit`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest

from bench.kit import API_KEY, SHORT_WINDOW, TOKEN, Game, Rigs, Running, make_config
from bridge import logs

WINDOW = SHORT_WINDOW
"""Tests run the real budget on a short window, so a minute's behaviour fits in seconds."""

__all__ = ["API_KEY", "TOKEN", "WINDOW", "Game", "MakeDaemon", "Running", "make_config"]


@pytest.fixture(autouse=True)
def _secrets_registered_by_a_test_end_with_it() -> Iterator[None]:
    """The log scrubber's secrets are process-wide: one test's key must not mask another's text
    (a one-letter key registered by one test turned every 'k' of later pages into '***')."""
    before = set(logs._secrets)
    yield
    logs._secrets.clear()
    logs._secrets.update(before)


MakeDaemon = Callable[..., Awaitable[Running]]


@pytest.fixture
async def make_daemon() -> AsyncIterator[MakeDaemon]:
    """Start daemons (with config tweaks) that are stopped after the test."""
    rigs = Rigs()
    yield rigs
    await rigs.stop_all()


@pytest.fixture
async def daemon(make_daemon: MakeDaemon) -> Running:
    """A running daemon in front of a CAD stand-in with a 2 s window of 10 updates."""
    return await make_daemon()
