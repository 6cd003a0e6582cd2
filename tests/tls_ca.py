"""A test certificate authority made on the spot with the `openssl` command, and certificates it
signs for loopback, as a VPS's Let's Encrypt pair would be for its name."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

OPENSSL = shutil.which("openssl")
requires_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is missing")


def _openssl(*args: str, cwd: Path) -> None:
    assert OPENSSL is not None
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=30)


@dataclass
class Pair:
    """A certificate chain and its key, as PEM files."""

    cert: Path
    key: Path


class TestCa:
    """A CA in `folder` (`ca.pem`), signing server certificates for names and addresses."""

    __test__ = False

    def __init__(self, folder: Path, name: str = "sonoran-bridge test CA") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.cert = folder / "ca.pem"
        self._key = folder / "ca.key"
        _openssl(
            "req", "-x509", "-new", "-nodes", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(self._key), "-out", str(self.cert),
            "-days", "2", "-subj", f"/CN={name}",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=folder,
        )  # fmt: skip

    def issue(
        self, stem: str, names: tuple[str, ...] = ("localhost", "127.0.0.1"), days: int = 2
    ) -> Pair:
        """A server certificate for `names` (DNS names or IP addresses), signed by this CA."""
        key, request, cert = (self.folder / f"{stem}.{ext}" for ext in ("key", "csr", "pem"))
        extensions = self.folder / f"{stem}.ext"
        alt = ",".join(
            f"IP:{n}" if n.replace(".", "").isdigit() or ":" in n else f"DNS:{n}" for n in names
        )
        extensions.write_text(
            f"subjectAltName={alt}\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
        )
        _openssl(
            "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-keyout", str(key), "-out", str(request), "-subj", f"/CN={names[0]}",
            cwd=self.folder,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", str(request), "-CA", str(self.cert), "-CAkey", str(self._key),
            "-CAcreateserial", "-out", str(cert), "-days", str(days),
            "-extfile", str(extensions),
            cwd=self.folder,
        )  # fmt: skip
        return Pair(cert, key)

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this CA only."""
        return ssl.create_default_context(cafile=str(self.cert))


def serial_of(pem: Path) -> int:
    """The serial number of a PEM certificate (to tell which one a server handed out)."""
    assert OPENSSL is not None
    out = subprocess.run(
        [OPENSSL, "x509", "-noout", "-serial", "-in", str(pem)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return int(out.strip().partition("=")[2], 16)
