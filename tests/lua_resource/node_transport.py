"""Drives server/transport.js in the machine's Node through harness.js, from asyncio tests."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lupa import lua54

from bench.kit import until

from .fivem import encode_like_fivem, stock_require

HERE = Path(__file__).resolve().parent
TRANSPORT = HERE.parents[1] / "lua_resource" / "server" / "transport.js"
HARNESS = HERE / "harness.js"
NODE = shutil.which("node")


def node_flags() -> list[str]:
    """Node 22 has a global WebSocket; Node 20 (this machine) needs the flag."""
    assert NODE is not None
    version = subprocess.run([NODE, "--version"], capture_output=True, text=True, check=True).stdout
    major = int(re.match(r"v(\d+)", version.strip()).group(1))  # type: ignore[union-attr]  # node always prints a version starting with v
    return [] if major >= 22 else ["--experimental-websocket"]


Event = dict[str, Any]


def transport_settings(convars: dict[str, Any]) -> dict[str, Any]:
    """What server/main.lua hands transport.js at start for these convars: the `transport`
    part of the real shared/settings.lua's reading, as it crosses to JS."""
    lua = lua54.LuaRuntime(unpack_returned_tuples=True)
    settings = stock_require(lua)("shared.settings")
    values = {name: str(value) for name, value in convars.items()}
    read, _warnings = settings.read(lambda name, default: values.get(name, default))
    return json.loads(encode_like_fivem(read.transport))  # type: ignore[no-any-return]  # json.loads gives Any


class NodeTransport:
    """One running transport.js: its console lines, emits and connection attempts."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.events: list[Event] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls,
        convars: dict[str, Any],
        *,
        random: float | None = None,
        version: str = "0.1.0",
        env: dict[str, str] | None = None,
    ) -> NodeTransport:
        """Start transport.js and hand it the settings main.lua reads from `convars`, as
        FXServer's resource start does; `env` adds to Node's environment (e.g.
        NODE_EXTRA_CA_CERTS, as an FXServer host would set for a private CA)."""
        env = {
            "HARNESS_SETTINGS": json.dumps(transport_settings(convars)),
            "HARNESS_VERSION": version,
            "PATH": "/usr/bin:/bin",
            **(env or {}),
        }
        if random is not None:
            env["HARNESS_RANDOM"] = repr(random)
        assert NODE is not None, "node is not installed"
        proc = await asyncio.create_subprocess_exec(
            NODE,
            *node_flags(),
            str(HARNESS),
            str(TRANSPORT),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        transport = cls(proc)
        await transport.wait_for(lambda e: e["ev"] in ("loaded", "error"))
        return transport

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            self.events.append(json.loads(raw))

    async def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 5.0) -> Event:
        """The first event (past or future) that matches, or fail after `timeout` seconds."""
        found: list[Event] = []
        seen = 0

        def matched() -> bool:
            nonlocal seen
            found.extend(e for e in self.events[seen:] if predicate(e))
            seen = len(self.events)
            return bool(found)

        try:
            await until(matched, within=timeout)
        except TimeoutError:
            raise AssertionError(
                f"no matching event within {timeout} s; got {self.events}"
            ) from None
        return found[0]

    async def wait_count(
        self, predicate: Callable[[Event], bool], count: int, timeout: float = 5.0
    ) -> None:
        try:
            await until(lambda: sum(1 for e in self.events if predicate(e)) >= count, timeout)
        except TimeoutError:
            raise AssertionError(
                f"fewer than {count} matching events in {timeout} s: {self.events}"
            ) from None

    def logs(self) -> list[str]:
        return [e["line"] for e in self.events if e["ev"] == "log"]

    def emits(self, name: str) -> list[list[Any]]:
        return [
            e["args"]
            for e in self.events
            if e["ev"] == "emit" and e["name"] == f"sonoran_bridge:{name}"
        ]

    def attempts(self) -> list[int]:
        """When (ms since start) each WebSocket was constructed."""
        return [e["t"] for e in self.events if e["ev"] == "attempt"]

    def errors(self) -> list[str]:
        return [e["message"] for e in self.events if e["ev"] == "error"]

    async def _command(self, obj: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        await self.proc.stdin.drain()

    async def trigger(self, name: str, *args: Any) -> None:
        """What Lua's TriggerEvent('sonoran_bridge:<name>', ...) does to the script."""
        await self._command(
            {"cmd": "trigger", "name": f"sonoran_bridge:{name}", "args": list(args)}
        )

    async def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        await self.trigger("send", text)

    async def pending_timers(self) -> list[int]:
        """Delays of the setTimeouts pending right now."""
        count = sum(1 for e in self.events if e["ev"] == "timers")
        await self._command({"cmd": "timers"})
        await self.wait_count(lambda e: e["ev"] == "timers", count + 1)
        return [e for e in self.events if e["ev"] == "timers"][-1]["pending"]

    async def stop(self) -> None:
        if self.proc.returncode is None:
            await self._command(
                {"cmd": "trigger", "name": "onResourceStop", "args": ["sonoran_bridge"]}
            )
            # Real sleep: the real Node process closes its socket before it is killed.
            await asyncio.sleep(0.05)
            self.proc.kill()
        await self.proc.wait()
        self._reader.cancel()


class Link:
    """Carries the local events between the Lua side (lupa) and transport.js (Node), as FXServer
    does within one resource: Lua's `<res>:send` frames to JS, JS's emits to Lua handlers."""

    def __init__(
        self, server: Any, transport: NodeTransport, heard: Callable[[], int] | None = None
    ) -> None:
        self.server = server
        self.transport = transport
        self.heard = heard
        """How many subject positions the daemon has received (`Daemon.positions_received`)."""
        self._frames = 0
        self._events = 0

    def positions_sent(self) -> int:
        """Subject positions the Lua side has handed to the transport so far."""
        frames = (json.loads(text) for text in self.server.frames())
        return sum(len(frame["items"]) for frame in frames if frame.get("type") == "positions")

    async def delivered(self) -> None:
        """Pump, then wait until the daemon has received every position the Lua side sent."""
        assert self.heard is not None, "a Link made without `heard` cannot tell"
        heard = self.heard
        await self.pump()
        sent = self.positions_sent()
        await until(lambda: heard() >= sent, within=5.0)

    async def pump(self) -> None:
        """Deliver everything each side emitted since the last pump."""
        frames = self.server.frames()
        for text in frames[self._frames :]:
            await self.transport.trigger("send", text)
        self._frames = len(frames)
        events = self.transport.events
        new, self._events = events[self._events :], len(events)
        for event in new:
            if event["ev"] == "emit":
                self.server.trigger(event["name"], *event["args"])

    async def run_until(
        self, condition: Callable[[], bool], *, tick_ms: int = 0, timeout: float = 5.0
    ) -> None:
        """Pump (and advance Lua's clock by `tick_ms` each round) until `condition()` holds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await self.pump()
            if condition():
                return
            if loop.time() > deadline:
                raise AssertionError(
                    f"not reached within {timeout} s; transport: {self.transport.events[-10:]}"
                )
            if tick_ms:
                self.server.advance(tick_ms)
            # Real sleep: the emulated server ticks while the real Node process works in real time.
            await asyncio.sleep(0.02)


DRIVE_END = {"x": "430.5", "y": "-982.1", "z": "31"}
"""Where `drive_east_and_park` leaves player 12, as the CAD's metaData writes it."""


async def drive_east_and_park(link: Link, standin: Any, server_id: int, call_id: int) -> Any:
    """Drive player 12 east along a road, one sampling period at a time, then park; wait until
    the call's metaData in the CAD stand-in shows where it parked, and return that metaData."""
    for step in range(1, 9):
        link.server.move_player(
            12, (100.0 + 41.3125 * step, 200.0 - 147.7625 * step, 30.0 + step * 0.125)
        )
        link.server.advance(1000)
        await link.delivered()

    def arrived() -> bool:
        meta = standin.call(server_id, call_id)["metaData"]
        return all(meta.get(k) == v for k, v in DRIVE_END.items())

    await link.run_until(arrived, tick_ms=1000, timeout=10)
    return standin.call(server_id, call_id)["metaData"]
