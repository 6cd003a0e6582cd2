"""Our resource beside the official sonorancad, both answered by the CAD stand-in on one key.

`CadWorld` plays the CAD's side: a dispatcher's action changes the stand-in's state (what
the API then lists) and sends the push event sonorancad would get, as `{key, type, data}`
on its websocket. Push event bodies are shaped as sonorancad v4.0.104 reads them (Sonoran's
push event pages show `data` as a one-item array for some events; the resource reads an
object, which is what the CAD must send for it to work at all).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bridge.standin.cad import CadStandIn

from .conftest import TOKEN
from .fivem import FakeServer, check_frame, default_identifiers
from .sonorancad_real import RealSonoranCad
from .world import World

SERVER = 1
ORDERS = ("ours_first", "sonorancad_first")
"""Handler orders: FiveM runs the resources' handlers of one event in an order it does not
promise, so every scenario runs with ours before sonorancad's and after."""


class CadWorld:
    """The stand-in CAD, sonorancad and our resource in one world, on one virtual clock."""

    def __init__(
        self, cad: CadStandIn, world: World, sonorancad: RealSonoranCad, ours: FakeServer
    ) -> None:
        self.cad, self.world, self.sonorancad, self.ours = cad, world, sonorancad, ours
        self._seen = 0
        self.players: dict[int, tuple[float, float, float]] = {}
        self.retired_errors: list[str] = []

    # -- time --------------------------------------------------------------------------------

    async def advance(self, ms: int) -> None:
        await self.world.advance(ms)

    # -- the game ------------------------------------------------------------------------------

    def add_player(self, player_id: int, pos: tuple[float, float, float]) -> None:
        self.players[player_id] = pos
        self.ours.add_player(player_id, pos)
        self.world.add_player(player_id, default_identifiers(player_id))

    def move_player(self, player_id: int, pos: tuple[float, float, float]) -> None:
        self.players[player_id] = pos
        self.ours.move_player(player_id, pos)

    # -- the CAD -------------------------------------------------------------------------------

    def unit(
        self, ident_id: int, player_id: int, community_user: str | None = None
    ) -> dict[str, Any]:
        """A unit whose apiIds hold the player's license, as sonorancad matches them; with
        `community_user`, a unit known only by that community user id, which sonorancad
        matches through the player's CAD link (`link`)."""
        license_id = default_identifiers(player_id)[0].split(":", 1)[1]
        ids: dict[str, Any] = (
            {"communityUserId": community_user} if community_user else {"apiIds": [license_id]}
        )
        return {
            "id": ident_id,
            "accId": f"acc-{ident_id}",
            "status": 1,
            "isPanic": False,
            "data": {"unitNum": f"1-{ident_id}", "name": f"Unit {ident_id}", **ids},
        }

    def link(self, player_id: int, community_user: str) -> None:
        """The player linked their game identity to this CAD account (the link check says so)."""
        license_full = default_identifiers(player_id)[0]
        for identifier in (license_full, license_full.split(":", 1)[1]):
            self.cad.integration.links[identifier] = community_user

    def unit_login(self, ident_id: int, player_id: int) -> None:
        unit = self.unit(ident_id, player_id)
        self.cad.integration.login(SERVER, unit)
        self.sonorancad.push("EVENT_UNIT_LOGIN", {"unit": unit, "isDispatch": False})

    def unit_logout(self, ident_id: int) -> None:
        self.cad.integration.logout(SERVER, ident_id)
        self.sonorancad.push("EVENT_UNIT_LOGOUT", {"identId": ident_id})

    def new_call(self, call_id: int, meta: dict[str, Any], **fields: Any) -> None:
        """A dispatcher creates a call: EVENT_DISPATCH_NEW."""
        call = self.cad.add_call(SERVER, call_id, meta, **{"primary": 0, **fields})
        self.sonorancad.push("EVENT_DISPATCH_NEW", {"dispatch": call})

    def edit_call(self, call_id: int, meta: dict[str, Any] | None = None, **fields: Any) -> None:
        """A dispatcher edits a call in the CAD: EVENT_DISPATCH_EDIT with the whole call."""
        if meta is not None:
            self.cad.edit_meta(SERVER, call_id, meta)
        if fields:
            self.cad.edit_call(SERVER, call_id, **fields)
        self.sonorancad.push("EVENT_DISPATCH_EDIT", {"dispatch": self.cad.call(SERVER, call_id)})

    def close_calls(self, *call_ids: int) -> None:
        """A dispatcher closes calls (one or several at once): EVENT_DISPATCH_CLOSED."""
        for call_id in call_ids:
            self.cad.close_call(SERVER, call_id)
        self.sonorancad.push("EVENT_DISPATCH_CLOSED", {"callIds": list(call_ids)})

    def close_by_api(self, call_id: int) -> None:
        """Another integration closes the call through the API: no push event at all."""
        self.cad.close_call(SERVER, call_id)

    def call_911(self, call_id: int, caller: int, meta: dict[str, Any] | None = None) -> None:
        """EVENT_911: a 911 call made by player `caller` (sonorancad's own metaData keys)."""
        meta = {"callerPlayerId": str(caller), "uuid": f"u-{call_id}", **(meta or {})}
        call = {
            "callId": call_id,
            "isEmergency": True,
            "caller": f"player {caller}",
            "location": "Mission Row",
            "description": "911",
            "metaData": meta,
        }
        self.sonorancad.push("EVENT_911", {"call": call})

    def remove_911(self, *call_ids: int) -> None:
        self.sonorancad.push("EVENT_REMOVE_911", {"callIds": list(call_ids)})

    # -- what our resource did -------------------------------------------------------------------

    def sent(self) -> list[dict[str, Any]]:
        """Frames our resource handed to its transport since the last look, checked against v1."""
        frames = self.ours.frames()
        new, self._seen = frames[self._seen :], len(frames)
        return [check_frame(text) for text in new]

    def tracks(self) -> list[tuple[str, int, str | None]]:
        """(type, call_id, subject) of track/untrack/call_closed frames since the last look."""
        return [
            (m["type"], m["call_id"], m.get("subject"))
            for m in self.sent()
            if m["type"] in ("track", "untrack", "call_closed")
        ]

    def tracked(self) -> list[int]:
        (calls,) = self.ours.export("GetTrackedCalls")
        return sorted(int(calls[i].callId) for i in range(1, len(calls) + 1))

    def errors(self) -> list[str]:
        return self.sonorancad.errors + self.ours.errors + self.retired_errors

    async def restart_ours(self) -> None:
        """`restart sonoran_bridge`: a fresh Lua state with the KVP carried over, the players
        where they were, its handlers where the old ones were in the order."""
        old = self.ours
        self.retired_errors += old.errors
        place = [r.resource for r in self.world.resources]
        self.world.remove(old.resource)
        new = FakeServer(
            old.convars,
            old.resource,
            kvp=old.kvp(),
            runtime=self.world.lua,
            resource_dir=old.resource_dir,
        )
        for player_id in self.players:
            pos = self.players[player_id]
            new.add_player(player_id, pos)
        self.world.add(new)
        self.world.order(place)
        self.ours, self._seen = new, 0
        new.start()
        new.link_up()
        await self.world.advance(0)

    def gets(self, route: str = "get_calls") -> int:
        return sum(1 for r in self.cad.requests if r.route == route and r.counted)


def _pascal_list(cad: CadStandIn) -> None:
    """Serve `GET .../calls` with the documented PascalCase keys (ActiveCalls, EmergencyCalls,
    ClosedCalls), which sonorancad reads, when the stand-in does not already."""
    import json

    from bridge.standin.http import Answer

    original = cad._list_calls

    def listed(server_id: int, record: Any) -> Answer:
        answer = original(server_id, record)
        body = json.loads(answer.body) if answer.status == 200 else None
        if not isinstance(body, dict) or "ActiveCalls" in body:
            return answer
        renamed = {key[:1].upper() + key[1:]: value for key, value in body.items()}
        return Answer(200, json.dumps(renamed).encode())

    cad._list_calls = listed  # type: ignore[method-assign]  # the stand-in's list handler, rewrapped to answer in this world's case


@asynccontextmanager
async def cad_world(
    order: str,
    *,
    start: bool = True,
    players: dict[int, tuple[float, float, float]] | None = None,
    units: dict[int, int] | None = None,
    **convars: Any,
) -> AsyncIterator[CadWorld]:
    """The stand-in, sonorancad and our resource (linked to no daemon), in handler `order`;
    `players` (id -> position) are connected and `units` (ident id -> player id) logged in
    before both start."""
    world = World()
    cad = CadStandIn(clock=lambda: world.now / 1000)
    await cad.start()
    _pascal_list(cad)
    try:
        sonorancad = RealSonoranCad(world.lua, cad.url, api_key=cad.api_key)
        ours = FakeServer({"sonoran_bridge_token": TOKEN, **convars}, runtime=world.lua)
        for resource in (ours, sonorancad) if order == "ours_first" else (sonorancad, ours):
            world.add(resource)
        game = CadWorld(cad, world, sonorancad, ours)
        for player_id, pos in (players or {}).items():
            game.add_player(player_id, pos)
        for ident_id, player_id in (units or {}).items():
            cad.integration.login(SERVER, game.unit(ident_id, player_id))
        if start:
            sonorancad.start()
            ours.start()
            await world.advance(2_000)  # its start: version, servers, first polls
        yield game
    finally:
        await world.close()
        await cad.stop()
