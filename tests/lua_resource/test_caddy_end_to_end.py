"""The Caddy recipe (deploy/caddy/Caddyfile), run by the real Caddy in front of the real daemon:
transport.js reaches the daemon over wss:// through it, and the status page through it asks for
the daemon's login. Caddy's own local CA stands in for Let's Encrypt."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from conftest import MakeDaemon, Running, make_config

from bench.kit import free_port, until
from bridge.config import Config, StatusConfig
from bridge.standin.cad import CadStandIn

from .conftest import requires_node
from .node_transport import NodeTransport

CADDY = shutil.which("caddy")
RECIPE = Path(__file__).resolve().parents[2] / "deploy" / "caddy" / "Caddyfile"
PASSWORD = "status-login-behind-caddy"

pytestmark = [
    requires_node,
    pytest.mark.skipif(
        CADDY is None and os.environ.get("CI") != "true",
        reason="caddy is not installed (apt-get install caddy)",
    ),
]
Run = Callable[..., Any]


def with_status(port: int) -> Callable[[CadStandIn], Config]:
    """The recipe's daemon: everything on loopback, the status page with its login."""

    def configure(standin: CadStandIn) -> Config:
        return msgspec.structs.replace(
            make_config(standin),
            status=StatusConfig(port=port, password=PASSWORD, allowed_hosts=["localhost"]),
        )

    return configure


@contextlib.asynccontextmanager
async def caddy(folder: Path, daemon: Running, status_port: int) -> AsyncIterator[tuple[int, Path]]:
    """Caddy serving the recipe on a free https port; yields (port, its local CA's root)."""
    assert CADDY is not None, "CI must run the Caddy recipe's test: apt-get install caddy"
    https_port, http_port = free_port(), free_port()
    storage = folder / "caddy"
    wrapper = folder / "Caddyfile"
    # The test's own global options (ports, storage, no admin socket, no system trust store);
    # the site itself is the recipe, unchanged.
    wrapper.write_text(
        "{\n\tadmin off\n\tskip_install_trust\n\tlocal_certs\n\tauto_https disable_redirects\n"
        f"\thttp_port {http_port}\n\thttps_port {https_port}\n"
        f"\tstorage file_system {storage}\n}}\n\nimport {RECIPE}\n"
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        "XDG_DATA_HOME": str(folder / "data"),
        "XDG_CONFIG_HOME": str(folder / "config"),
        "SONORAN_BRIDGE_HOST": "localhost",
        "SONORAN_BRIDGE_WS": f"127.0.0.1:{daemon.bridge.port}",
        "SONORAN_BRIDGE_STATUS": f"127.0.0.1:{status_port}",
    }
    log = (folder / "caddy.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        CADDY,
        *("run", "--adapter", "caddyfile", "--config", str(wrapper)),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    root = storage / "pki" / "authorities" / "local" / "root.crt"
    try:
        async with asyncio.timeout(20):
            while not root.exists() or not _answers(https_port):
                assert process.returncode is None, (folder / "caddy.log").read_text()[-2000:]
                # Real sleep: a real Caddy process starts; nothing to await but its files, port.
                await asyncio.sleep(0.05)
        yield https_port, root
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
        log.close()


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


async def test_the_caddy_recipe_carries_wss_and_the_status_page_behind_its_login(
    make_daemon: MakeDaemon, run_transport: Run, tmp_path: Path
) -> None:
    status_port = free_port()
    daemon = await make_daemon(configure=with_status(status_port))
    async with caddy(tmp_path, daemon, status_port) as (port, root):
        transport: NodeTransport = await run_transport(
            {
                "sonoran_bridge_url": f"wss://localhost:{port}",
                "sonoran_bridge_token": daemon.token,
                "sonoran_bridge_server_id": daemon.server_id,
                "sonoran_bridge_backoff_min_ms": 50,
                "sonoran_bridge_backoff_max_ms": 200,
            },
            env={"NODE_EXTRA_CA_CERTS": str(root)},
        )
        await transport.wait_for(
            lambda e: e["ev"] == "emit" and e["name"] == "sonoran_bridge:linkUp", timeout=10
        )
        await transport.send({"type": "sync", "tracks": []})
        await until(lambda: daemon.bridge.status()["links"] == [daemon.server_id], within=5)

        async with httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=str(root)), trust_env=False
        ) as client:
            base = f"https://localhost:{port}"
            anonymous = await client.get(base + "/status.json")
            scraped = await client.get(
                base + "/metrics", headers={"Authorization": f"Bearer {PASSWORD}"}
            )
            page = await client.get(base + "/status.json", auth=("me", PASSWORD))
        assert anonymous.status_code == 401
        assert scraped.status_code == 200 and "sonoran_bridge" in scraped.text
        assert page.status_code == 200
        assert [link["server_id"] for link in page.json()["links"]] == [daemon.server_id]
