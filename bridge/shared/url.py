"""`budget.shared_url`: which engine holds the shared budget, and how to reach it."""

from __future__ import annotations

import os
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from msgspec import Struct

KEY = "budget.shared_url"
EXAMPLES = (
    "mariadb://user:pass@host:3306/db, mariadb://user@/db?unix_socket=/run/mysqld/mysqld.sock, "
    "redis://host:6379/0 or redis+unix:///run/redis/redis.sock?db=0"
)


class Location(Struct, frozen=True, kw_only=True):
    """Where the engine is: parsed, validated, the password kept apart to be masked."""

    kind: Literal["mariadb", "redis"]
    host: str = ""
    port: int = 0
    unix_socket: str = ""
    user: str = ""
    password: str = ""
    database: str = ""
    db: int = 0
    """The Redis database number."""

    def describe(self) -> str:
        """The location for a log line or check-config, password masked."""
        who = f"{self.user}{':***' if self.password else ''}@" if self.user or self.password else ""
        where = self.unix_socket or f"{self.host}:{self.port}"
        name = self.database if self.kind == "mariadb" else str(self.db)
        return f"{self.kind} {who}{where} / {name}"


class SharedUrlError(ValueError):
    """The URL is unusable; the text names the key and what was expected."""


def parse(url: str) -> Location:
    """Read a `budget.shared_url`; raises `SharedUrlError` with the expected forms."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise SharedUrlError(f"{KEY}: {exc}; expected {EXAMPLES}") from None
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    user = unquote(parts.username or "")
    password = unquote(parts.password or "")
    path = unquote(parts.path)
    if unknown := set(query) - {"unix_socket", "db"}:
        name = sorted(unknown)[0]
        raise SharedUrlError(f"{KEY}: unknown parameter {name!r}; expected {EXAMPLES}")
    scheme = parts.scheme.lower()
    if scheme in ("mariadb", "mysql"):
        database = path.lstrip("/")
        if not database or "/" in database:
            raise SharedUrlError(f"{KEY}: name the database, as in {EXAMPLES.split(', ')[0]}")
        socket = os.path.expanduser(query.get("unix_socket", ""))
        if not socket and not parts.hostname:
            raise SharedUrlError(f"{KEY}: give a host or ?unix_socket=PATH")
        return Location(
            kind="mariadb",
            host=parts.hostname or "",
            port=port or 3306,
            unix_socket=socket,
            user=user or "root",
            password=password,
            database=database,
        )
    if scheme in ("redis", "redis+unix", "unix"):
        if scheme == "redis":
            if not parts.hostname:
                raise SharedUrlError(f"{KEY}: give a host, as in redis://host:6379/0")
            number = path.lstrip("/") or query.get("db", "0")
            socket = ""
        else:
            # redis+unix://~/r.sock puts the ~ where a host would be: it belongs to the path.
            home = unquote(parts.netloc) if parts.netloc.startswith("~") else ""
            socket = os.path.expanduser(home + path)
            number = query.get("db", "0")
            if not os.path.isabs(socket):
                raise SharedUrlError(
                    f"{KEY}: give the socket's path, as in redis+unix:///run/r.sock"
                )
        if not number.isdigit() or int(number) > 10_000:
            raise SharedUrlError(f"{KEY}: the Redis database must be a number, got {number!r}")
        return Location(
            kind="redis",
            host="" if socket else parts.hostname or "",
            port=port or 6379,
            unix_socket=socket,
            user=user,
            password=password,
            db=int(number),
        )
    raise SharedUrlError(f"{KEY}: unknown scheme {parts.scheme!r}; expected {EXAMPLES}")
