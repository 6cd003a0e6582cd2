"""The daemon's TOML configuration, validated whole before anything starts."""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import typing
import unicodedata
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta, Struct

Seconds = Annotated[float, Meta(gt=0, le=86_400)]
Metres = Annotated[float, Meta(ge=0, le=10_000)]

API_KEY_ENV = "SONORAN_API_KEY"
TOKEN_ENV = "SONORAN_BRIDGE_TOKEN"
STATUS_PASSWORD_ENV = "SONORAN_BRIDGE_STATUS_PASSWORD"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
REAL_API_HOST = "api.sonorancad.com"
REAL_LIMITS = {"update_call": 10, "get_calls": 5}
SONORANCAD_READS = 1
"""Reads of the call list the official `sonorancad` resource makes a minute on the same key."""
"""Sonoran's per-minute, per-key limits of the routes the bridge uses."""
RESOURCE_KEEPALIVE_SECONDS = 30.0
"""The resource's default keepalive (`sonoran_bridge_keepalive_ms` in transport.js): after this
much silence it sends an empty batch, on a timer that ticks every third of it, so a quiet link
can stay silent for up to 40 s."""
DEFAULT_CONFIG = "config.toml"
"""Where `init` writes the config and where `run` and `check-config` read it by default."""
PATH_KEYS = (
    ("budget", "state_file"),
    ("postal", "file"),
    ("postal", "offer_folder"),
    ("tls", "cert_file"),
    ("tls", "key_file"),
)
"""Config keys that hold file paths: `~` in them is expanded."""


class CadConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    """Where the CAD API is and how to authenticate."""

    api_url: str = "https://api.sonorancad.com"
    api_key: str = ""
    server_id: Annotated[int, Meta(ge=1)] = 1
    timeout_seconds: Seconds = 10.0
    allow_plain_http: bool = False
    """An `http://` api_url beyond loopback sends the key in clear: refused unless this is true."""

    def __repr__(self) -> str:
        return (
            f"CadConfig(api_url={self.api_url!r}, api_key={masked(self.api_key)}, "
            f"server_id={self.server_id}, timeout_seconds={self.timeout_seconds})"
        )

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        # msgspec's default feeds pretty-printers (rich) the raw key.
        return [
            (name, masked(value) if name == "api_key" else value)
            for name, value in msgspec.structs.asdict(self).items()
        ]


class ListenConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    """The local websocket the game server connects to."""

    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65_535)] = 30125
    token: str = ""
    allow_remote: bool = False
    allowed_origins: list[str] = msgspec.field(default_factory=list)
    hello_timeout_seconds: Seconds = 5.0
    idle_timeout_seconds: Seconds = 120.0
    max_connections: Annotated[int, Meta(ge=1, le=10_000)] = 128
    """Connections open at once; past it a newcomer is dropped at accept."""
    max_unauthenticated: Annotated[int, Meta(ge=1, le=10_000)] = 16
    """Connections that have not said a good `hello` yet; past it the oldest bare socket (no
    HTTP upgrade sent) is dropped, else the oldest."""
    new_connections_per_second: Annotated[float, Meta(gt=0, le=10_000)] = 10.0
    """New connections per second from one address, twice that in a burst (not loopback)."""

    def __repr__(self) -> str:
        return (
            f"ListenConfig(host={self.host!r}, port={self.port}, token={masked(self.token)}, "
            f"allow_remote={self.allow_remote}, allowed_origins={self.allowed_origins!r})"
        )

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        # msgspec's default feeds pretty-printers (rich) the raw token.
        return [
            (name, masked(value) if name == "token" else value)
            for name, value in msgspec.structs.asdict(self).items()
        ]


class BudgetConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    """How many requests the daemon may make per window, per route."""

    window_seconds: Seconds = 60.0
    update_call: Annotated[int, Meta(ge=1, le=10_000)] = 10
    get_calls: Annotated[int, Meta(ge=0, le=10_000)] = 4
    """Reads of the call list per window: the CAD allows 5 a minute per key, and sonorancad on
    the same key reads once a minute; 3 leaves it room, and one more to spare."""
    margin_seconds: Annotated[float, Meta(ge=0, le=60)] = 1.0
    state_file: str = "auto"
    """Where recent requests are kept across restarts: "auto" (a per-key file in the user's state
    folder), a path, or "" to keep nothing."""
    shared_url: str = ""
    """Share the key's budget with every daemon pointed at the same MariaDB or Redis ("": this
    daemon owns the whole budget)."""
    shared_max_hosts: Annotated[int, Meta(ge=0, le=100)] = 0
    """The most daemons sharing the key: once the engine has been out of reach for a window plus
    the hold, each sends alone within 1/N of the budget (0: nothing until it is back)."""

    def __repr__(self) -> str:
        fields = msgspec.structs.asdict(self)
        fields["shared_url"] = masked_url(self.shared_url)
        return f"BudgetConfig({', '.join(f'{k}={v!r}' for k, v in fields.items())})"

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        # msgspec's default feeds pretty-printers (rich) the raw password.
        return [
            (name, masked_url(value) if name == "shared_url" else value)
            for name, value in msgspec.structs.asdict(self).items()
        ]


class TrackingConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    """How calls follow their subjects."""

    default_radius: Metres = 50.0
    min_move: Metres = 10.0
    max_stale_seconds: Seconds = 180.0
    lead: bool = True
    trails: bool = True
    """Pin a mover where three or more others who passed where it is went on (with `lead`)."""
    grow_radius: bool = False
    close_check_seconds: Annotated[float, Meta(ge=0, le=3_600)] = 30.0
    """Read the CAD's list of calls at least this often while a server has calls followed, so a
    call closed without an event the resource relays (closed through the API, or not the first
    of several closed at once) stops being pushed within about this long; 0: never."""
    meta_max_age_seconds: Annotated[float, Meta(ge=0, le=3_600)] = 15.0
    """Read the CAD's list of calls before a push when the call's known metaData is older than
    this (within the GET budget), so a dispatcher's edit no relay brought is not reverted; 0:
    never."""
    max_calls_per_server: Annotated[int, Meta(ge=1, le=4_096)] = 500
    """Calls one game server may have followed at once; a `track` past it is answered with an
    `error` naming this key (the resource follows 500 at most)."""


class PostalConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    """Postal codes sent with each call update: nearest-postal's JSON, `[{x, y, code}]`."""

    file: str = ""
    """The postal file ("" for none): each update then carries the postal of the pushed point."""
    accept_offer: bool = True
    """With no file, use the one the resource offers (its nearest-postal's, on its machine)..."""
    offer_folder: str = ""
    """...when it lies inside this folder (e.g. the game server's `resources` folder): a
    frame never makes the daemon open a path elsewhere ("": offers are not read)."""


class LogConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    """Log level and format (`auto`: readable on a terminal, JSON lines otherwise)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
    status_seconds: Annotated[float, Meta(ge=0, le=86_400)] = 60.0
    """How often a `status` line sums up links, calls, requests and map error (0: never)."""


class StatusConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    """The status page (`/`, `/status.json`, `/metrics`): off while `port` is 0."""

    host: str = "127.0.0.1"
    port: Annotated[int, Meta(ge=0, le=65_535)] = 0
    allow_remote: bool = False
    password: str = ""
    """The login beyond loopback (required there): `Authorization: Bearer <it>`, or basic auth
    with any user name and it as the password. Never the websocket's token."""
    allowed_hosts: list[str] = msgspec.field(default_factory=list)
    """Host names the page answers to besides loopback's (a DNS-rebinding guard); "*": any."""

    def __repr__(self) -> str:
        return (
            f"StatusConfig(host={self.host!r}, port={self.port}, allow_remote="
            f"{self.allow_remote}, password={masked(self.password)}, "
            f"allowed_hosts={self.allowed_hosts!r})"
        )

    def __rich_repr__(self) -> list[tuple[str, Any]]:
        # msgspec's default feeds pretty-printers (rich) the raw password.
        return [
            (name, masked(value) if name == "password" else value)
            for name, value in msgspec.structs.asdict(self).items()
        ]

    @property
    def remote(self) -> bool:
        """Whether the page listens beyond loopback (and so needs its login)."""
        return bool(self.port) and not is_loopback(self.host)


class TlsConfig(Struct, forbid_unknown_fields=True, kw_only=True):
    """TLS for the websocket (`wss://`) and the status page (`https://`): on when both files are
    set. The files are read again when they change (checked every `check_seconds`) or on
    SIGHUP, so a renewed certificate needs no restart."""

    cert_file: str = ""
    """The PEM certificate chain (Let's Encrypt's fullchain.pem)."""
    key_file: str = ""
    """Its PEM private key, unencrypted (privkey.pem)."""
    check_seconds: Annotated[float, Meta(ge=0, le=86_400)] = 60.0
    """How often the files are checked for a change (0: only on SIGHUP)."""

    @property
    def enabled(self) -> bool:
        """Whether the listeners speak TLS."""
        return bool(self.cert_file or self.key_file)


class Config(Struct, forbid_unknown_fields=True, kw_only=True):
    """The whole configuration."""

    cad: CadConfig = msgspec.field(default_factory=CadConfig)
    listen: ListenConfig = msgspec.field(default_factory=ListenConfig)
    budget: BudgetConfig = msgspec.field(default_factory=BudgetConfig)
    tracking: TrackingConfig = msgspec.field(default_factory=TrackingConfig)
    postal: PostalConfig = msgspec.field(default_factory=PostalConfig)
    log: LogConfig = msgspec.field(default_factory=LogConfig)
    status: StatusConfig = msgspec.field(default_factory=StatusConfig)
    tls: TlsConfig = msgspec.field(default_factory=TlsConfig)


class ConfigError(ValueError):
    """The configuration is unusable; the text names the key and what was expected."""


def parse_config(
    text: str | bytes, env: Mapping[str, str] | None = None, *, require_secrets: bool = True
) -> Config:
    """Decode TOML text into a validated `Config`, applying environment overrides."""
    text = _utf8_text(text)
    _refuse_windows_paths(text)
    try:
        config = msgspec.toml.decode(text, type=Config)
    except msgspec.ValidationError as exc:
        raise ConfigError(_toml_path(str(exc))) from None
    except msgspec.DecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}") from None
    env = os.environ if env is None else env
    config.cad.api_key = _secret(config.cad.api_key, "cad.api_key")
    config.listen.token = _secret(config.listen.token, "listen.token")
    # An env var of blanks is as good as unset: it does not hide the file's value.
    if env.get(API_KEY_ENV, "").strip():
        config.cad.api_key = _secret(env[API_KEY_ENV], f"${API_KEY_ENV} (cad.api_key)")
    if env.get(TOKEN_ENV, "").strip():
        config.listen.token = _secret(env[TOKEN_ENV], f"${TOKEN_ENV} (listen.token)")
    config.status.password = _secret(config.status.password, "status.password")
    if env.get(STATUS_PASSWORD_ENV, "").strip():
        config.status.password = _secret(
            env[STATUS_PASSWORD_ENV], f"${STATUS_PASSWORD_ENV} (status.password)"
        )
    for section, key in PATH_KEYS:
        part = getattr(config, section)
        value = getattr(part, key)
        if value.startswith("~"):
            setattr(part, key, os.path.expanduser(value))
    validate(config, require_secrets=require_secrets)
    return config


def _utf8_text(text: str | bytes) -> str:
    """The config's text: UTF-8, with the byte-order mark Notepad writes dropped.

    UTF-16 (what PowerShell 5's `>` and `Out-File` write) and legacy code pages are refused by
    name, not with a codec error.
    """
    if isinstance(text, str):
        return text.removeprefix("\ufeff")
    if text.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in text[:64]:
        raise ConfigError(
            "the config file is saved as UTF-16 (PowerShell 5's `>` and `Out-File` write that), "
            "not UTF-8: save it again as UTF-8 (Notepad: File > Save as > Encoding UTF-8; "
            "PowerShell: `Set-Content -Encoding utf8`)"
        )
    try:
        return text.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = text[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"the config file is not UTF-8 (byte 0x{text[exc.start]:02X} at line {line}; "
            "a Windows code page such as cp1252?): save it again as UTF-8 (Notepad: File > "
            "Save as > Encoding UTF-8)"
        ) from None


_WINDOWS_PATH = re.compile(r"^[A-Za-z]:\\(?!\\)|^\\\\(?!\\)[^\\]")
r"""`C:\x` or `\\server\share`, as typed: in a double-quoted TOML string each backslash
starts an escape (`\f` is a form feed, `\U` must be hex)."""
_BASIC_STRING_LINE = re.compile(r'^[ \t]*([A-Za-z0-9_-]+)[ \t]*=[ \t]*"((?:[^"\\\n]|\\.)*)"')
_TABLE_LINE = re.compile(r"^[ \t]*\[[ \t]*([A-Za-z0-9_.-]+)[ \t]*\]")


def _refuse_windows_paths(text: str) -> None:
    r"""Refuse a Windows path written with single backslashes in double quotes, naming the key.

    TOML reads `"C:\fivem\nearest"` as a form feed and a line break (or refuses `\U`), so the
    value would be mangled or the error would name an escape the owner never meant.
    """
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if heading := _TABLE_LINE.match(line):
            table = heading[1]
            continue
        found = _BASIC_STRING_LINE.match(line)
        if found is None or not _WINDOWS_PATH.match(found[2]):
            continue
        key = f"{table}.{found[1]}" if table else found[1]
        value = found[2]
        forward = value.replace("\\", "/")
        raise ConfigError(
            f"{key} (line {number}): {value} is a Windows path in double quotes, where TOML "
            "reads each backslash as the start of an escape (\\f, \\n, \\U...): write it "
            f'with forward slashes, {found[1]} = "{forward}", or in single quotes, '
            f"{found[1]} = '{value}'"
        )


def _secret(value: str, name: str) -> str:
    """A secret without surrounding whitespace; refused, without echoing it, unless printable
    ASCII (a pasted smart quote or a control character would fail every request)."""
    value = value.strip()
    for position, char in enumerate(value, start=1):
        if not " " <= char <= "~":
            what = unicodedata.name(char, "a control character").lower()
            raise ConfigError(
                f"{name}: character {position} is U+{ord(char):04X} ({what}), not printable "
                "ASCII: retype the value or copy it again from the CAD's admin page "
                "(a word processor or chat app may have replaced a quote or a dash)"
            )
    return value


def load_config(
    path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    *,
    require_secrets: bool = True,
) -> Config:
    """Read and validate a TOML config file."""
    file = Path(os.path.expanduser(path))
    try:
        text = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"config file {str(file)!r} not found: write one with `sonoran-bridge init"
            f"{'' if str(path) == DEFAULT_CONFIG else ' --config ' + _shell_quoted(str(path))}`"
            ", then set cad.api_key in it"
        ) from None
    except PermissionError as exc:
        raise ConfigError(
            f"cannot read config file {str(file)!r}: {exc.strerror}{_who_may_read(file)}"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(file)!r}: {exc.strerror}") from None
    return parse_config(text, env, require_secrets=require_secrets)


def _who_may_read(file: Path) -> str:
    """Who is refused and who owns the file, with the fix (a service user other than the one
    that ran `init`, whose file is readable by its owner only); "" where that cannot be told."""
    try:
        import grp
        import pwd

        stat = file.stat()
        owner = pwd.getpwuid(stat.st_uid).pw_name
        group = grp.getgrgid(stat.st_gid).gr_name
        user = pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError, OSError):
        return ""
    return (
        f" for user {user} (the file is {owner}:{group}, mode {stat.st_mode & 0o777:04o}): let "
        f"the user the daemon runs as read it, e.g. chgrp {user} {file} && chmod 0640 {file} "
        "(see docs/operations.md, the config's owner under systemd)"
    )


def validate(config: Config, *, require_secrets: bool = True) -> None:
    """Check what the types alone cannot; raise `ConfigError` naming the key.

    Shapes and values only: nothing here opens a file or a socket. What the config names
    outside itself (the postal file, the TLS pair, the shared budget's URL and its files, the
    offer folder) is read, once, by `bridge.build.load`.
    """
    url = urlsplit(config.cad.api_url)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ConfigError(
            f"cad.api_url: expected an http(s) URL such as https://api.sonorancad.com, "
            f"got {config.cad.api_url!r}"
        )
    if url.scheme == "http" and not is_loopback(url.hostname) and not config.cad.allow_plain_http:
        raise ConfigError(
            f"cad.api_url = {config.cad.api_url!r} would send the API key in clear to a host "
            "beyond this machine: use https://, or set cad.allow_plain_http = true if the "
            "network between is yours"
        )
    if require_secrets and not config.cad.api_key.strip():
        raise ConfigError(f"cad.api_key is empty: set it in the config file or in ${API_KEY_ENV}")
    if require_secrets and not config.listen.token.strip():
        raise ConfigError(
            f"listen.token is empty: set a shared secret in the config file or in ${TOKEN_ENV}, "
            "and the same value as sonoran_bridge_token in server.cfg"
        )
    if require_secrets and len(config.listen.token) < 12:
        raise ConfigError("listen.token is too short: expected at least 12 characters")
    if not config.listen.allow_remote and config.listen.host not in LOOPBACK_HOSTS:
        raise ConfigError(
            f"listen.host = {config.listen.host!r} is not loopback: set listen.allow_remote = true "
            "to accept connections from other machines"
        )
    if not config.status.allow_remote and not is_loopback(config.status.host):
        raise ConfigError(
            f"status.host = {config.status.host!r} is not loopback: set status.allow_remote = "
            "true to show the status page to other machines"
        )
    _validate_exposure(config, require_secrets=require_secrets)


def _validate_exposure(config: Config, *, require_secrets: bool) -> None:
    """Both TLS files or neither, and the status page's login wherever it listens beyond
    loopback (whether the files load is `bridge.build.load`'s to tell: it reads them)."""
    tls = config.tls
    if tls.enabled and not (tls.cert_file and tls.key_file):
        missing = "tls.key_file" if tls.cert_file else "tls.cert_file"
        raise ConfigError(
            f"{missing} is empty: TLS needs both the certificate chain and its private key"
        )
    status = config.status
    password = status.password
    if password and password in (config.listen.token, config.cad.api_key):
        # Whoever may read the page (a dashboard, a colleague) must not get the link's secret.
        raise ConfigError(
            "status.password is the same as listen.token or cad.api_key: choose a secret of its "
            "own for the status page"
        )
    if password and len(password) < 12:
        raise ConfigError("status.password is too short: expected at least 12 characters")
    if require_secrets and status.remote and not password:
        raise ConfigError(
            f"status.host = {status.host!r} shows the page beyond loopback without a login: set "
            f"status.password (or ${STATUS_PASSWORD_ENV}) to a secret of its own, at least 12 "
            "characters"
        )
    for name in status.allowed_hosts:
        if name != "*" and not re.fullmatch(r"[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]", name):
            raise ConfigError(
                f"status.allowed_hosts: {name!r} is not a host name (give names such as "
                '"bridge.example.com", without scheme or port; "*" accepts any)'
            )


def config_warnings(config: Config) -> list[str]:
    """What in a valid config guarantees trouble later, each naming the key and the fix.

    The budget against the CAD's limits and the link's idle timeout; what the config exposes
    beyond this machine is `bridge.exposure`'s (`bridge.build.all_warnings` gives both).
    """
    found: list[str] = []
    url = urlsplit(config.cad.api_url)
    budget = config.budget
    if (url.hostname or "").lower() == REAL_API_HOST:
        for route, limit in REAL_LIMITS.items():
            asked = getattr(budget, route)
            if asked > limit:
                found.append(
                    f"budget.{route} = {asked} is above the {limit} a minute that "
                    f"{REAL_API_HOST} allows per key: requests beyond it draw 429s; set it to "
                    f"{limit} or less"
                )
        room = REAL_LIMITS["get_calls"] - SONORANCAD_READS
        if room < budget.get_calls <= REAL_LIMITS["get_calls"]:
            found.append(
                f"budget.get_calls = {budget.get_calls} leaves no room for the read of the call "
                f"list sonorancad makes every minute on the same key: one of the two draws a "
                f"429; set it to {room} or less (3 is the default)"
            )
        if budget.window_seconds != 60:
            found.append(
                f"budget.window_seconds = {budget.window_seconds:g}: {REAL_API_HOST} counts "
                "requests per 60 s window; any other window over- or under-spends; set it to 60"
            )
    silence = RESOURCE_KEEPALIVE_SECONDS * 4 / 3
    if config.listen.idle_timeout_seconds <= silence:
        found.append(
            f"listen.idle_timeout_seconds = {config.listen.idle_timeout_seconds:g} is not above "
            f"the {silence:g} s a quiet resource may stay silent (keepalive every "
            f"{RESOURCE_KEEPALIVE_SECONDS:g} s by default): quiet links would be dropped and "
            f"reconnect; set it above {silence:g}, or set sonoran_bridge_keepalive_ms in "
            "server.cfg below three quarters of it"
        )
    return found


def is_loopback(host: str | None) -> bool:
    """Whether `host` (a name or an address, as in a URL) is this machine's loopback."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _toml_path(message: str) -> str:
    """Turn msgspec's `$.cad.port` paths into the TOML key names an operator edits."""
    text, _, path = message.partition(" - at `$.")
    path = path.rstrip("`")
    unknown = re.fullmatch(r"Object contains unknown field `(.+)`", text)
    if unknown:
        key = f"{path}.{unknown[1]}" if path else unknown[1]
        near = difflib.get_close_matches(unknown[1], _fields(path), n=1, cutoff=0.6)
        hint = f"did you mean `{near[0]}`?" if near else "check its spelling"
        return f"{key}: unknown key ({hint} Every key is in config.example.toml.)"
    choices = _choices(path)
    if choices:
        listed = ", ".join(repr(choice) for choice in choices)
        got = re.fullmatch(r"Invalid enum value (.+)", text)
        return f"{path}: expected one of {listed}; " + (f"got {got[1]}" if got else text)
    return f"{path}: {text}" if path else text


def _fields(path: str) -> tuple[str, ...]:
    """The keys the table at `path` allows ("" is the top level), or () if it is not a table."""
    kind: Any = Config
    for name in path.split(".") if path else []:
        hints = typing.get_type_hints(kind) if isinstance(kind, type) else {}
        if name not in hints:
            return ()
        kind = hints[name]
    if isinstance(kind, type) and issubclass(kind, Struct):
        return kind.__struct_fields__
    return ()


def _shell_quoted(path: str) -> str:
    """A path as typed in cmd.exe, PowerShell or a POSIX shell: double-quoted when it must be."""
    return f'"{path}"' if any(c in path for c in " []()&'") else path


def _choices(path: str) -> tuple[Any, ...]:
    """The values a `Literal` key allows, or () when the key at `path` is not one."""
    kind: Any = Config
    for name in path.split(".") if path else []:
        hints = typing.get_type_hints(kind, include_extras=True) if isinstance(kind, type) else {}
        if name not in hints:
            return ()
        kind = hints[name]
    return typing.get_args(kind) if typing.get_origin(kind) is Literal else ()


def masked_url(url: str) -> str:
    """A URL with its password, if any, masked."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unreadable URL>" if url else ""
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def masked(secret: str) -> str:
    """Show that a secret is set without showing it."""
    return f"<set, {len(secret)} chars>" if secret else "<empty>"
