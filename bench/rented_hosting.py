"""The rented-hosting path, timed: from a fresh machine to a call moving over wss://.

What an owner whose game server is rented does on a VPS (docs/operations.md, "The daemon on
another host"), each step timed as they would type it:

1. a virtual environment and `pip install` of this checkout (not editable);
2. a certificate: made here by a CA of the script's own with `openssl`, standing in for
   `certbot certonly` (which needs a public name and port 80);
3. `sonoran-bridge init --public-name` (listeners beyond loopback, [tls], the status page's
   login and name), the API key set, and `check-config --online`;
4. `sonoran-bridge run` as its own process, until it listens;
5. the game server: the resource's real Lua (lupa) and transport.js (Node) dialling
   `wss://localhost:PORT`, trusting the CA through NODE_EXTRA_CA_CERTS; `trackcall`, then
   the player drives until the call has moved in the CAD (the stand-in, in this process).

It also reads the status page through its login, and the daemon's memory (VmRSS) at the end.

    python -m bench.rented_hosting [--keep DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from bench.kit import free_port, until  # noqa: E402
from bridge.standin.cad import CadStandIn  # noqa: E402
from tests.lua_resource.fivem import FakeServer  # noqa: E402
from tests.lua_resource.node_transport import Link, NodeTransport  # noqa: E402
from tests.tls_ca import TestCa  # noqa: E402

API_KEY = "rented-hosting-api-key-0123456789"
CALL_ID = 701
KEYS = {"uuid": "u-701", "postal": "9002"}


class Steps:
    """Wall time of each step, printed as a table at the end."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, str]] = []

    @contextmanager
    def step(self, what: str, note: str = "") -> Iterator[list[str]]:
        notes = [note] if note else []
        began = time.perf_counter()
        yield notes
        self.rows.append((what, time.perf_counter() - began, "; ".join(n for n in notes if n)))

    def table(self) -> str:
        lines = ["| step | time | note |", "| --- | ---: | --- |"]
        lines += [f"| {what} | {seconds:.1f} s | {note} |" for what, seconds, note in self.rows]
        total = sum(seconds for _, seconds, _ in self.rows)
        lines.append(f"| **total** | **{total:.1f} s** | |")
        return "\n".join(lines)


def run(*command: str | Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout + done.stderr


async def arun(*command: str | Path, env: dict[str, str] | None = None) -> str:
    """`run`, while this process's event loop (the CAD stand-in) keeps answering."""
    process = await asyncio.create_subprocess_exec(
        *(str(part) for part in command),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{out.decode()}")
    return out.decode()


def edit(config: Path, keys: dict[str, dict[str, str]]) -> None:
    """Set `section.key = value` lines in place, as an owner edits the file `init` wrote."""
    section = ""
    lines: list[str] = []
    wanted = {s: dict(v) for s, v in keys.items()}
    for line in config.read_text().splitlines():
        if match := re.match(r"^\[(\w+)\]", line):
            section = match[1]
        elif match := re.match(r"^(\w+)\s*=", line):
            value = wanted.get(section, {}).pop(match[1], None)
            if value is not None:
                line = f"{match[1]} = {value}"
        lines.append(line)
    left = {s: v for s, v in wanted.items() if v}
    if left:
        raise SystemExit(f"keys not found in {config}: {left}")
    config.write_text("\n".join(lines) + "\n")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def main(folder: Path) -> None:
    steps = Steps()
    vps = folder / "vps"
    vps.mkdir(parents=True)
    venv = vps / "venv"
    with steps.step("`python3 -m venv venv`"):
        run(sys.executable, "-m", "venv", venv)
    with steps.step("`pip install ./sonoran-bridge`") as notes:
        out = run(venv / "bin" / "pip", "install", "--quiet", ROOT)
        notes.append("pip's cache warm" if "Downloading" not in out else "")
    cli = venv / "bin" / "sonoran-bridge"

    with steps.step("certificate (`openssl`, for `certbot certonly`)", "EC P-256, for localhost"):
        ca = TestCa(vps / "ca")
        pair = ca.issue("bridge", ("localhost", "127.0.0.1"))
        tls = vps / "tls"
        tls.mkdir()
        shutil.copyfile(pair.cert, tls / "fullchain.pem")
        shutil.copyfile(pair.key, tls / "privkey.pem")

    async with CadStandIn(api_key=API_KEY) as standin:
        standin.add_call(1, CALL_ID, dict(KEYS))
        config = vps / "config.toml"
        ws_port, status_port = free_port(), free_port()
        with steps.step("`sonoran-bridge init --public-name`"):
            printed = run(
                *(cli, "init", "--config", config, "--server-id", "1", "--port", str(ws_port)),
                *("--public-name", "localhost", "--tls-dir", tls),
            )
        token = re.search(r'set sonoran_bridge_token "([^"]+)"', printed)
        assert token is not None, printed
        with steps.step("set the API key", "and, here only: the stand-in's URL, free ports"):
            edit(
                config,
                {
                    "cad": {"api_key": f'"{API_KEY}"', "api_url": f'"{standin.url}"'},
                    "status": {"port": str(status_port)},
                    "budget": {"state_file": '""'},
                },
            )
        # The status page's login, as its owner reads it from the file `init` wrote.
        password = tomllib.loads(config.read_text())["status"]["password"]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(vps)}
        with steps.step("`sonoran-bridge check-config --online`"):
            checked = await arun(cli, "check-config", "--online", "--config", config, env=env)
        log = (vps / "daemon.log").open("wb")
        with steps.step("`sonoran-bridge run` until it listens"):
            daemon = await asyncio.create_subprocess_exec(
                *(str(cli), "run", "--config", str(config)),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
            await until(
                lambda: (
                    b'"listening"' in (vps / "daemon.log").read_bytes()
                    or daemon.returncode is not None
                ),
                30,
            )
        try:
            anonymous, logged_in = await _game_server(
                steps, standin, ws_port, token[1], ca, status_port, password
            )
            memory = rss_mb(daemon.pid)
        finally:
            daemon.terminate()
            await asyncio.wait_for(daemon.wait(), 10)
            log.close()

    print(steps.table())
    print()
    print("check-config said:")
    print("\n".join("    " + line for line in checked.splitlines()))
    print(
        f"status page over https: {anonymous} without the login, {logged_in.status_code} with "
        f"it (game servers linked: {[link['server_id'] for link in logged_in.json()['links']]})"
    )
    print(f"daemon memory (VmRSS) with one game server and one call: {memory:.1f} MB")


async def _game_server(
    steps: Steps,
    standin: CadStandIn,
    port: int,
    token: str,
    ca: TestCa,
    status_port: int,
    password: str,
) -> tuple[int, httpx.Response]:
    """The rented game server: the resource's Lua and transport.js, over wss://; then the
    status page read without and with its login while the link is up."""
    server = FakeServer({"sonoran_bridge_token": token}).start()
    server.start_sonorancad()
    server.cad_new_call(CALL_ID, dict(KEYS))
    server.add_player(12, (100.0, 200.0, 30.0))
    with steps.step("game server up until `link up` over wss://"):
        transport = await NodeTransport.start(
            {
                "sonoran_bridge_url": f"wss://localhost:{port}",
                "sonoran_bridge_token": token,
                "sonoran_bridge_server_id": 1,
            },
            env={"NODE_EXTRA_CA_CERTS": str(ca.cert)},
        )
        link = Link(server, transport)
        await link.run_until(lambda: server.export("IsConnected") == (True,), timeout=30)
    seen: list[str] = []

    def positions() -> int:
        x = standin.call(1, CALL_ID)["metaData"].get("x")
        if x is not None and (not seen or seen[-1] != x):
            seen.append(x)
        return len(seen)

    async def drive_until(count: int) -> None:
        step = 0
        while positions() < count:
            step += 1
            server.move_player(12, (100.0 + 40.0 * step, 200.0 - 140.0 * step, 30.0))
            server.advance(1000)
            await link.pump()
            await asyncio.sleep(0.1)
            if step > 600:
                raise SystemExit(f"the call did not reach {count} positions in 600 steps")

    try:
        server.command("trackcall", 0, str(CALL_ID), "12")
        with steps.step("`trackcall` until the call is on the player in the CAD"):
            await drive_until(1)
        with steps.step("the player drives: until the call has followed", "the budget paces it"):
            await drive_until(2)
        async with httpx.AsyncClient(verify=ca.client_context(), trust_env=False) as client:
            base = f"https://localhost:{status_port}"
            anonymous = (await client.get(base + "/status.json")).status_code
            logged_in = await client.get(base + "/status.json", auth=("me", password))
        return anonymous, logged_in
    finally:
        await transport.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    args = parser.parse_args()
    if args.keep:
        asyncio.run(main(args.keep))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(main(Path(tmp)))
