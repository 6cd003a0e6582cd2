"""End to end on one key: our resource + the real sonorancad + the daemon + the CAD stand-in.

Everything runs on one virtual clock (the world's): sonorancad's 60 s polls, our resource's
sampling, the daemon's scheduler (its `clock` and `wait`) and the stand-in's rate-limit
windows. The resource talks to the daemon over a real websocket (a Python stand-in for
transport.js: the hello, then each frame as Lua hands it over); sonorancad and the daemon
reach the stand-in over real sockets, on the same key.

`run` plays the scenarios of issue 18 in order and returns the figures; with `resource_dir`
it runs another copy of the resource's files (e.g. an earlier commit's, for "before" figures:
`python -m tests.lua_resource.real_end_to_end`).
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.kit import build_daemon
from bridge.app import Daemon
from bridge.config import (
    BudgetConfig,
    CadConfig,
    Config,
    ListenConfig,
    LogConfig,
    PostalConfig,
    TrackingConfig,
)
from bridge.standin.cad import CadStandIn

from .cad_world import SERVER, CadWorld, _pascal_list
from .fivem import RESOURCE_DIR, FakeServer
from .sonorancad_real import RealSonoranCad
from .world import World

API_KEY = "e2e-api-key-0123456789abcdef"
TOKEN = "e2e-shared-token-0123456789"
STEP_MS = 200
NEAR_M = 25.0


def postal_grid() -> list[dict[str, Any]]:
    return [{"x": -1000.0 + 250 * i, "y": -1000.0 + 250 * j, "code": f"{100 + i}{j}"}
            for i in range(9) for j in range(9)]


class Run:
    """One end-to-end run: the world, the daemon, the link between them, and the figures."""

    def __init__(self, game: CadWorld, daemon: Daemon, ws: ClientConnection) -> None:
        self.game, self.daemon, self.ws = game, daemon, ws
        self.inbox: list[str] = []
        self.frames_sent = 0
        self.figures: dict[str, Any] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for frame in self.ws:
            self.inbox.append(str(frame))

    @property
    def now(self) -> float:
        return self.game.world.now / 1000

    async def link(self) -> None:
        """Carry frames both ways (what transport.js does within the resource)."""
        frames = self.game.ours.frames()
        for text in frames[self.frames_sent :]:
            await self.ws.send(text)
        self.frames_sent = len(frames)
        inbox, self.inbox = self.inbox, []
        for text in inbox:
            if json.loads(text).get("type") == "call_state":
                self.game.ours.trigger(f"{self.game.ours.resource}:daemonMessage", text)

    async def step(self, ms: int = STEP_MS) -> None:
        await self.game.world.advance(ms)
        await self.link()
        await asyncio.sleep(0.002)  # the daemon and the stand-in answer on real sockets
        for _ in range(500):  # the clock waits for requests the stand-in is still answering
            if all(r.status is not None for r in self.game.cad.requests[-8:]):
                break
            # Real sleep: the stand-in still answers on its real socket.
            await asyncio.sleep(0.001)

    async def run_for(self, seconds: float) -> None:
        for _ in range(int(seconds * 1000 / STEP_MS)):
            await self.step()

    async def until(self, condition: Callable[[], bool], limit: float) -> float | None:
        """Seconds of virtual time until `condition()` holds (None: not within `limit`)."""
        start = self.now
        while self.now - start <= limit:
            if condition():
                return round(self.now - start, 1)
            await self.step()
        return None

    # -- what the CAD saw --------------------------------------------------------------

    def pin_near(self, call_id: int, player: int, kind: str = "dispatch") -> bool:
        read = self.game.cad.emergency_call if kind == "emergency" else self.game.cad.call
        meta = read(SERVER, call_id)["metaData"]
        x, y, _ = self.game.players[player]
        try:
            return math.hypot(float(meta["x"]) - x, float(meta["y"]) - y) <= NEAR_M
        except (KeyError, TypeError, ValueError):
            return False

    def patches(self, call_id: int, since: float) -> list[Any]:
        return [r for r in self.game.cad.requests if r.route == "update_call"
                and r.path.endswith(f"/{call_id}") and r.t >= since]

    async def drive(self, player: int, to: tuple[float, float], seconds: float) -> None:
        """The player drives in a straight line to `to` over `seconds`."""
        x0, y0, z = self.game.players[player]
        steps = int(seconds * 1000 / STEP_MS)
        for i in range(1, steps + 1):
            f = i / steps
            self.game.move_player(player, (x0 + (to[0] - x0) * f, y0 + (to[1] - y0) * f, z))
            await self.step()


async def scenarios(run: Run) -> dict[str, Any]:
    """The scenarios of issue 18 part 5, in order, each with its figures."""
    game, figures = run.game, run.figures
    for call_id in (501, 502, 503, 504, 505, 506):
        game.new_call(call_id, {"postal": "9002", "uuid": f"u-{call_id}"})
    await run.run_for(5)

    # A dispatcher ticks track primary (unit 7, player 3 is driving), switches it, turns it off.
    game.edit_call(501, primary=7, trackPrimary=True)
    start = run.now
    mover = asyncio.create_task(run.drive(3, (600.0, 300.0), 20))
    figures["tick_to_first_push_near_unit_s"] = await run.until(
        lambda: run.pin_near(501, 3), 20)
    await mover
    postal_writes = [r for r in run.patches(501, start) if isinstance(r.body, dict)
                     and "postal" in r.body]
    figures["postal_writes_by_daemon_on_cad_track_primary"] = len(postal_writes)
    game.edit_call(501, primary=8)
    figures["switch_to_first_push_near_new_unit_s"] = await run.until(
        lambda: run.pin_near(501, 12), 20)
    game.edit_call(501, trackPrimary=False)
    off = run.now
    await run.drive(12, (-300.0, -200.0), 15)
    figures["pushes_after_track_primary_off"] = len(run.patches(501, off + 1.0))

    # A unit logs out while its call follows it.
    game.edit_call(502, primary=7, trackPrimary=True)
    await run.drive(3, (100.0, 650.0), 10)
    game.unit_logout(7)
    out = run.now
    await run.drive(3, (-500.0, 650.0), 30)
    figures["pushes_after_unit_logout"] = len(run.patches(502, out + 1.0))

    # A bulk close of two followed calls; a close through the API of a third.
    game.ours.export("TrackCall", 503, "player:12")
    game.ours.export("TrackCall", 504, "player:3")
    game.ours.export("TrackCall", 505, "player:12")
    await run.drive(12, (200.0, -600.0), 10)
    game.close_calls(503, 504)
    game.close_by_api(505)
    closed = run.now
    await asyncio.gather(run.drive(12, (700.0, -600.0), 90), run.drive(3, (0.0, 0.0), 90))
    figures["pushes_on_bulk_closed_calls"] = sum(len(run.patches(c, closed + 1.0))
                                                 for c in (503, 504))
    figures["pushes_on_api_closed_call"] = len(run.patches(505, closed + 1.0))

    # A dispatcher's edit the resource cannot relay as it is (an empty list in metaData).
    game.ours.export("TrackCall", 506, "player:3")
    await run.drive(3, (300.0, 300.0), 10)
    game.edit_call(506, meta={"postal": "9002", "uuid": "u-506", "tags": [], "note": "edited"})
    edited = run.now
    await run.drive(3, (-300.0, 300.0), 60)
    reverted = [r for r in run.patches(506, edited + 0.5) if isinstance(r.body, dict)
                and r.body.get("metaData", {}).get("note") != "edited"]
    figures["edits_reverted"] = len(reverted)

    # A 911 call that follows its caller (player 12).
    game.cad.add_emergency_call(SERVER, 600, {"callerPlayerId": "12", "uuid": "u-600"})
    game.call_911(600, caller=12)
    called = run.now
    mover = asyncio.create_task(run.drive(12, (0.0, -900.0), 20))
    figures["911_call_to_its_first_push_s"] = await run.until(
        lambda: bool(run.patches(600, called)), 20)
    await mover
    waited = await run.until(lambda: run.pin_near(600, 12, "emergency"), 60)
    figures["911_call_near_caller_after_a_20_s_drive_s"] = (
        None if waited is None else round(run.now - called, 1))

    # Our resource restarted while a track primary follow runs.
    game.edit_call(502, primary=8, trackPrimary=True)
    await run.run_for(5)
    await game.restart_ours()
    run.frames_sent = 0
    await run.ws.close()
    run.ws = await connect_game(run.daemon)
    run.reader = asyncio.create_task(run._read())
    restarted = run.now
    await run.drive(12, (400.0, -400.0), 10)
    waited = await run.until(lambda: run.pin_near(502, 12), 60)
    figures["restart_to_pin_near_unit_after_a_10_s_drive_s"] = (
        None if waited is None else round(run.now - restarted, 1))
    figures["postal_writes_after_restart_on_cad_track_primary"] = len(
        [r for r in run.patches(502, restarted) if isinstance(r.body, dict) and "postal" in r.body])

    # The shared GET budget over the whole run.
    sonorancad_gets = [url for (resource, method, url, _) in game.world.http_log
                       if resource == "sonorancad" and method == "GET"
                       and url.split("?")[0].endswith("/calls")]
    all_gets = [r for r in game.cad.requests if r.route == "get_calls"]
    figures["minutes"] = round(run.now / 60, 1)
    figures["gets_by_sonorancad"] = len(sonorancad_gets)
    figures["gets_by_daemon"] = len(all_gets) - len(sonorancad_gets)
    figures["get_429s"] = sum(1 for r in all_gets if r.status == 429)
    figures["update_429s"] = sum(1 for r in game.cad.requests
                                 if r.route == "update_call" and r.status == 429)
    return figures


async def connect_game(daemon: Daemon) -> ClientConnection:
    ws = await connect(f"ws://127.0.0.1:{daemon.port}", max_size=2**20)
    await ws.send(json.dumps({"type": "hello", "protocol": 1, "token": TOKEN, "server_id": SERVER,
                              "resource_version": "test"}))
    welcome = json.loads(await ws.recv())
    assert welcome["type"] == "welcome", welcome
    return ws


async def run(order: str, resource_dir: Path = RESOURCE_DIR) -> tuple[dict[str, Any], list[str]]:
    """Play every scenario once; (figures, errors of the Lua side)."""
    world = World()
    clock = lambda: world.now / 1000  # noqa: E731
    cad = CadStandIn(api_key=API_KEY, clock=clock)
    await cad.start()
    _pascal_list(cad)
    with tempfile.TemporaryDirectory() as folder:
        postals = Path(folder) / "postals.json"
        postals.write_text(json.dumps(postal_grid()))
        config = Config(
            cad=CadConfig(api_url=cad.url, api_key=API_KEY, timeout_seconds=2.0),
            listen=ListenConfig(port=0, token=TOKEN),
            budget=BudgetConfig(state_file=""),
            tracking=TrackingConfig(min_move=10.0),
            postal=PostalConfig(file=str(postals)),
            log=LogConfig(level="warning", status_seconds=0),
        )

        async def wait(event: asyncio.Event, seconds: float) -> None:
            deadline = clock() + seconds
            # The world's clock is moved by the emulated game server's ticks in this same event
            # loop: yield to them until the event or the deadline.
            while not event.is_set() and clock() < deadline:
                await asyncio.sleep(0.001)

        daemon = build_daemon(config, clock=clock, wait=wait)
        await daemon.start()
        try:
            sonorancad = RealSonoranCad(world.lua, cad.url, api_key=API_KEY)
            convars = {"sonoran_bridge_token": TOKEN, "sonoran_bridge_follow_caller_seconds": 60}
            ours = FakeServer(convars, runtime=world.lua, resource_dir=resource_dir)
            for resource in (ours, sonorancad) if order == "ours_first" else (sonorancad, ours):
                world.add(resource)
            game = CadWorld(cad, world, sonorancad, ours)
            for player, pos in {3: (0.0, 0.0, 30.0), 12: (500.0, 500.0, 30.0)}.items():
                game.add_player(player, pos)
            for ident, player in {7: 3, 8: 12}.items():
                cad.integration.login(SERVER, game.unit(ident, player))
            sonorancad.start()
            ours.start()
            await world.advance(2_000)
            ws = await connect_game(daemon)
            ours.link_up()
            the_run = Run(game, daemon, ws)
            figures = await scenarios(the_run)
            await the_run.ws.close()
            return figures, game.errors()
        finally:
            await daemon.stop(grace=1.0)
            await world.close()
            await cad.stop()


def main() -> None:
    """Print the figures for the resource at a commit ("before") and in the work tree."""
    commit = sys.argv[1] if len(sys.argv) > 1 else "df67318"
    with tempfile.TemporaryDirectory() as folder:
        old = Path(folder) / "lua_resource"
        archive = subprocess.run(["git", "archive", commit, "lua_resource"], check=True,
                                 capture_output=True, cwd=RESOURCE_DIR.parent).stdout
        subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
        for order in ("ours_first", "sonorancad_first"):
            for label, folder_of in ((f"before ({commit})", old), ("after", RESOURCE_DIR)):
                figures, errors = asyncio.run(run(order, folder_of))
                print(json.dumps({"order": order, "code": label, **figures,
                                  "lua_errors": len(errors)}))


if __name__ == "__main__":
    main()
