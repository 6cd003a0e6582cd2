"""TLS for the daemon's listeners (`wss://` and `https://`): one server context from the
configured PEM files, reloaded in place when they change or on SIGHUP.

Reloading loads the new files into the same `ssl.SSLContext` the listeners were started with:
OpenSSL hands every later handshake the new certificate, and connections already open keep the
one they were made with, so a renewal costs no restart and drops no game server. New files are
first tried in a throwaway context: a half-written or mismatched pair is refused with the
reason and the running certificate stays in use.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from pathlib import Path

import structlog

log = structlog.stdlib.get_logger("bridge.tls")


class TlsError(ValueError):
    """The certificate or key cannot be used; the text names the file and the reason."""


Stamp = tuple[tuple[int, int, int], ...]
"""Per file: (inode, size, mtime in ns), to notice a renewal (written in place or replaced)."""


def load(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context serving `cert_file` (PEM chain) with `key_file`; raises `TlsError`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_into(context, cert_file, key_file)
    return context


def _load_into(context: ssl.SSLContext, cert_file: str, key_file: str) -> None:
    for name, path in (("tls.cert_file", cert_file), ("tls.key_file", key_file)):
        if not Path(path).is_file():
            raise TlsError(f"{name} = {path!r}: no such file")
    try:
        context.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        raise TlsError(
            f"tls.cert_file {cert_file!r} / tls.key_file {key_file!r}: {_why(exc)} (expected a "
            "PEM certificate chain and the PEM private key that matches it, unencrypted)"
        ) from None
    except OSError as exc:
        raise TlsError(f"cannot read {exc.filename or cert_file!r}: {exc.strerror}") from None


def _why(exc: ssl.SSLError) -> str:
    reason = getattr(exc, "reason", None)
    if reason == "KEY_VALUES_MISMATCH":
        return "the key does not belong to the certificate"
    if reason in ("NO_START_LINE", "PEM_LIB", "BAD_END_LINE") or "PEM lib" in str(exc):
        return "not a PEM file"
    return str(reason or exc).lower().replace("_", " ")


def _stamp(*paths: str) -> Stamp:
    found: list[tuple[int, int, int]] = []
    for path in paths:
        try:
            info = os.stat(path)
        except OSError:
            found.append((0, -1, 0))
        else:
            found.append((info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(found)


class ServerTls:
    """The listeners' TLS context and the files it came from."""

    def __init__(self, cert_file: str, key_file: str) -> None:
        self.cert_file = cert_file
        self.key_file = key_file
        self._stamp = _stamp(cert_file, key_file)
        self.context = load(cert_file, key_file)
        self.reloads = 0
        self.failures = 0

    def reload(self, why: str = "asked") -> bool:
        """Load the files again; on any problem keep serving the certificate in use.

        True when the new pair is in use.
        """
        self._stamp = _stamp(self.cert_file, self.key_file)
        try:
            # Tried apart first: a failed load_cert_chain can leave a context half-changed.
            load(self.cert_file, self.key_file)
            _load_into(self.context, self.cert_file, self.key_file)
        except TlsError as exc:
            self.failures += 1
            log.error(
                "certificate not reloaded: still serving the previous one", why=why, error=str(exc)
            )
            return False
        self.reloads += 1
        log.info("certificate reloaded", why=why, cert_file=self.cert_file)
        return True

    def check(self) -> bool:
        """Reload when either file changed since the last load or attempt; True if reloaded."""
        if _stamp(self.cert_file, self.key_file) == self._stamp:
            return False
        return self.reload("files changed")

    async def watch(self, every: float) -> None:
        """Check the files every `every` seconds until cancelled; no failure ends the watch."""
        while True:
            await asyncio.sleep(every)
            try:
                self.check()
            except Exception:  # a folder turned unreadable, say: the next check tries again
                log.exception("certificate check failed: still serving the previous one")
