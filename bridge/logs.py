"""Logging: structlog set up once, JSON lines off a terminal, secrets scrubbed from every line."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import structlog
from structlog.types import EventDict, Processor, WrappedLogger

REDACTED = "***"
_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Never let `value` appear in a log line (the API key, the shared token)."""
    if value:
        _secrets.add(value)


def _forms(secret: str) -> set[str]:
    """The secret as it may appear in a rendered line: raw, JSON-escaped, or as a repr."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        repr(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }


def scrub(text: str) -> str:
    """`text` with every registered secret replaced, in whatever escaped form it was rendered."""
    for form in sorted({f for secret in _secrets for f in _forms(secret)}, key=len, reverse=True):
        if form in text:
            text = text.replace(form, REDACTED)
    return text


class _Scrubbed:
    """Wraps the final renderer so that no rendered line, traceback included, holds a secret."""

    def __init__(self, renderer: Processor) -> None:
        self._renderer = renderer

    def __call__(self, logger: WrappedLogger, name: str, event: EventDict) -> str:
        rendered = self._renderer(logger, name, event)
        text = rendered if isinstance(rendered, str) else bytes(rendered).decode()  # type: ignore[arg-type]  # a renderer's type also allows a mapping or tuple; the last one in the chain gives str or bytes
        return scrub(text)


def colours_available() -> bool:
    """Whether the console renderer can colour: on Windows only through colorama, which
    structlog demands (it raises SystemError otherwise) and which is not a dependency."""
    return sys.platform != "win32" or importlib.util.find_spec("colorama") is not None


def configure(
    level: str = "info",
    fmt: str = "auto",
    stream: TextIO | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Configure structlog and route the stdlib loggers (websockets, httpx) through it."""
    for secret in secrets:
        register_secret(secret)
    stream = stream if stream is not None else sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Processor
    if as_json:
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False, use_rich=False)
            )
        )
        renderer = structlog.processors.JSONRenderer()
    else:
        renderer = structlog.dev.ConsoleRenderer(
            colors=stream.isatty() and colours_available(),
            exception_formatter=structlog.dev.plain_traceback,
        )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _Scrubbed(renderer),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Their INFO lines are per-request noise; warnings and errors still come through.
    logging.getLogger("websockets").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("httpcore").setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )


def get_logger(name: str, **bound: Any) -> Any:
    """A structlog logger for a module, with context bound."""
    return structlog.stdlib.get_logger(name).bind(**bound)
