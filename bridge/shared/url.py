"""`budget.shared_url`: which engine holds the shared budget, and how to reach it."""

from __future__ import annotations

import os
import ssl
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from msgspec import Struct

KEY = "budget.shared_url"
EXAMPLES = (
    "mariadb://user:pass@host:3306/db, mariadb://user@/db?unix_socket=/run/mysqld/mysqld.sock, "
    "redis://host:6379/0 or redis+unix:///run/redis/redis.sock?db=0; over TLS "
    "mariadb://user:pass@host:3306/db?ssl=true or rediss://host:6380/0, either with "
    "&ssl_ca=/path/ca.pem for a private CA"
)
TLS_PARAMETERS = ("ssl", "ssl_ca", "ssl_cert", "ssl_key")
"""Query parameters for TLS to the engine: `rediss://` or `mariadb://...?ssl=true` turn it on,
`ssl_ca` names the CA file to trust (default: the system's), `ssl_cert`/`ssl_key` a client
certificate. The server's certificate and name are always checked."""


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
    tls: bool = False
    """Speak TLS to the engine, checking its certificate and name."""
    ca_file: str = ""
    """The CA to trust for the engine's certificate ("": the system's)."""
    cert_file: str = ""
    """A client certificate to show the engine ("": none)."""
    key_file: str = ""

    def describe(self) -> str:
        """The location for a log line or check-config, password masked."""
        who = f"{self.user}{':***' if self.password else ''}@" if self.user or self.password else ""
        where = self.unix_socket or f"{self.host}:{self.port}"
        name = self.database if self.kind == "mariadb" else str(self.db)
        return f"{self.kind}{' over TLS' if self.tls else ''} {who}{where} / {name}"

    def client_tls(self) -> ssl.SSLContext | None:
        """The client TLS context for the engine, or None without TLS."""
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file or None)
        if self.cert_file:
            context.load_cert_chain(self.cert_file, self.key_file or None)
        return context


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
    if unknown := set(query) - {"unix_socket", "db", *TLS_PARAMETERS}:
        name = sorted(unknown)[0]
        raise SharedUrlError(f"{KEY}: unknown parameter {name!r}; expected {EXAMPLES}")
    scheme = parts.scheme.lower()
    tls, ca_file, cert_file, key_file = _tls(scheme, query)
    if scheme in ("mariadb", "mysql"):
        database = path.lstrip("/")
        if not database or "/" in database:
            raise SharedUrlError(f"{KEY}: name the database, as in {EXAMPLES.split(', ')[0]}")
        socket = os.path.expanduser(query.get("unix_socket", ""))
        if not socket and not parts.hostname:
            raise SharedUrlError(f"{KEY}: give a host or ?unix_socket=PATH")
        if socket and tls:
            raise SharedUrlError(f"{KEY}: TLS is for a TCP host, not a unix socket")
        return Location(
            kind="mariadb",
            host=parts.hostname or "",
            port=port or 3306,
            unix_socket=socket,
            user=user or "root",
            password=password,
            database=database,
            tls=tls,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
        )
    if scheme in ("redis", "rediss", "redis+unix", "unix"):
        if scheme in ("redis", "rediss"):
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
            tls=tls,
            ca_file=ca_file,
            cert_file=cert_file,
            key_file=key_file,
        )
    raise SharedUrlError(f"{KEY}: unknown scheme {parts.scheme!r}; expected {EXAMPLES}")


def _tls(scheme: str, query: dict[str, str]) -> tuple[bool, str, str, str]:
    """The TLS fields of a `Location` from the scheme and the `ssl*` parameters."""
    files = {
        field: os.path.expanduser(query.get(name, ""))
        for field, name in (
            ("ca_file", "ssl_ca"),
            ("cert_file", "ssl_cert"),
            ("key_file", "ssl_key"),
        )
    }
    flag = query.get("ssl", "").lower()
    if flag not in ("", "true", "false", "1", "0"):
        raise SharedUrlError(f"{KEY}: ssl must be true or false, got {query['ssl']!r}")
    if scheme in ("redis", "redis+unix", "unix") and "ssl" in query:
        raise SharedUrlError(f"{KEY}: for Redis over TLS write rediss://host:6380/0, not ?ssl=")
    on = scheme == "rediss" or flag in ("true", "1") or (flag == "" and bool(files["ca_file"]))
    if not on and any(files.values()):
        raise SharedUrlError(
            f"{KEY}: ssl_ca, ssl_cert and ssl_key need TLS on (rediss://, ?ssl=true)"
        )
    if scheme in ("redis+unix", "unix") and on:
        raise SharedUrlError(f"{KEY}: TLS is for a TCP host, not a unix socket")
    if files["key_file"] and not files["cert_file"]:
        raise SharedUrlError(f"{KEY}: ssl_key needs ssl_cert, the client certificate")
    for field, path in files.items():
        if path and not os.path.isfile(path):
            name = {"ca_file": "ssl_ca", "cert_file": "ssl_cert", "key_file": "ssl_key"}[field]
            raise SharedUrlError(f"{KEY}: {name} = {path!r}: no such file")
    if not on:
        return False, "", "", ""
    found = (True, files["ca_file"], files["cert_file"], files["key_file"])
    try:
        Location(
            kind="redis", tls=True, ca_file=found[1], cert_file=found[2], key_file=found[3]
        ).client_tls()
    except (ssl.SSLError, OSError) as exc:
        raise SharedUrlError(f"{KEY}: the TLS files cannot be used: {exc}") from None
    return found


def raw_password(url: str) -> str:
    """The password as written in the URL (percent-encoded), to be scrubbed from logs too."""
    try:
        return urlsplit(url).password or ""
    except ValueError:
        return ""
