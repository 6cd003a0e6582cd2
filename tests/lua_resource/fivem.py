"""A stand-in FXServer for the resource's real .lua files: Lua 5.4 through lupa, natives stubbed.

The scripts are loaded in the order `fxmanifest.lua` lists them; time only moves when a test
calls `advance`, which resumes the `CreateThread` coroutines whose `Wait` is over.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lupa import lua54
from lupa.lua54 import lua_type

from bridge import protocol

RESOURCE_DIR = Path(__file__).resolve().parents[2] / "lua_resource"
NATIVES = Path(__file__).with_name("natives.lua")
RESOURCE = "sonoran_bridge"


def check_frame(text: str) -> dict[str, Any]:
    """Decode a frame as the daemon does (bridge.protocol) and return it as JSON."""
    message = strict_json(text)
    protocol.decode(text)  # raises ProtocolError naming the bad field
    return message  # type: ignore[no-any-return]  # the decoded JSON is Any


def strict_json(text: str) -> Any:
    """Parse JSON as the daemon does: NaN and Infinity are errors, not numbers."""

    def refuse(token: str) -> Any:
        raise ValueError(f"invalid JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def _to_python(value: Any) -> Any:
    """A Lua value as FiveM's json.encode sees it: {} is [], integer keys 1..n an array."""
    kind = lua_type(value)
    if kind == "table":
        keys = list(value.keys())
        if not keys:
            return []
        if all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in keys):
            return [_to_python(value[i]) for i in range(1, max(keys) + 1)]
        if all(isinstance(k, str) for k in keys):
            return {k: _to_python(value[k]) for k in keys}
        raise ValueError("json.encode: a table with mixed or invalid key types")
    if kind is not None:
        raise ValueError(f"json.encode: cannot encode a Lua {kind}")
    return value


def encode_like_fivem(value: Any) -> str:
    """json.encode as FiveM does it: {} is [], and NaN/Infinity come out as (invalid) tokens."""
    return json.dumps(_to_python(value), separators=(",", ":"), allow_nan=True)


def decoder(lua: Any) -> Callable[[str], Any]:
    """json.decode for one Lua runtime: objects and arrays become Lua tables."""

    def decode(text: str) -> Any:
        value = json.loads(text)
        if isinstance(value, dict | list):
            return lua.table_from(value, recursive=True)
        return value

    return decode


class FakeServer:
    """One resource start: the real Lua files with natives stubbed, driven tick by tick."""

    def __init__(
        self,
        convars: dict[str, Any] | None = None,
        resource: str = RESOURCE,
        kvp: dict[str, str] | None = None,
        runtime: Any = None,
        resource_dir: Path = RESOURCE_DIR,
    ) -> None:
        self.convars = dict(convars or {})
        self.resource_dir = resource_dir
        if runtime is None:
            self.lua = lua54.LuaRuntime(unpack_returned_tuples=True)
            self.g = self.lua.globals()
        else:  # beside other resources (tests/lua_resource/world.py): globals of its own
            self.lua = runtime
            self.g = new_environment(runtime)
        g = self.g
        g.json = self.lua.table_from({"encode": encode_like_fivem, "decode": decoder(self.lua)})
        self._run_file(NATIVES)
        self.fake = g.FAKE
        self.fake.resource = resource
        self.resource = resource
        for name, value in (convars or {}).items():
            self.fake.convars[name] = str(value)
        for key, text in (kvp or {}).items():
            self.fake.kvp[key] = text
        g.LoadResourceFile = self._load_resource_file
        self._next_handle = 1000
        self._seen_frames = 0

    # -- loading -------------------------------------------------------------------------

    def _run_file(self, path: Path) -> Any:
        loaded = self.g.load(path.read_text(), "@" + str(path), "t", self.g)
        if isinstance(loaded, tuple):  # (nil, message)
            raise SyntaxError(loaded[1])
        return loaded()

    def _load_resource_file(self, resource: Any, path: Any, *_: Any) -> str | None:
        """LoadResourceFile as FXServer's server side has it: any file of the resource's
        folder, as text; nil for a file that is not there (or another resource's)."""
        if str(resource) != self.resource:
            return None
        file = self.resource_dir / str(path)
        return file.read_text() if file.is_file() else None

    def manifest(self) -> list[tuple[str, Any]]:
        """The directives of fxmanifest.lua, in order, as (name, value) pairs."""
        reader = self.lua.eval(
            """function(src)
                local fields = {}
                local env = setmetatable({}, { __index = function(_, key)
                    return function(value) fields[#fields + 1] = { key, value } end
                end })
                local chunk = assert(load(src, '@fxmanifest.lua', 't', env))
                chunk()
                return fields
            end"""
        )
        fields = reader((self.resource_dir / "fxmanifest.lua").read_text())
        pairs = []
        for i in range(1, len(fields) + 1):
            name, value = fields[i][1], fields[i][2]
            if lua_type(value) == "table":
                value = [value[j] for j in range(1, len(value) + 1)]
            pairs.append((name, value))
        return pairs

    def server_scripts(self) -> list[str]:
        """The server_scripts the manifest lists, in order."""
        return next(value for name, value in self.manifest() if name == "server_scripts")

    def start(self) -> FakeServer:
        """Run the manifest's Lua server scripts in order (the JS ones run under Node)."""
        for script in self.server_scripts():
            if script.endswith(".lua"):
                self._run_file(self.resource_dir / script)
        self.run()
        return self

    def kvp(self) -> dict[str, str]:
        """The resource KVP as it stands: what a restart of the resource or FXServer keeps."""
        return {str(k): str(v) for k, v in self.fake.kvp.items()}

    def restarted(self) -> FakeServer:
        """The same resource started again (`restart sonoran_bridge`, or FXServer restarted):
        a fresh Lua state with the KVP carried over. Add the world (players, entities, the
        sonorancad resource) to it before `start()`."""
        return FakeServer(self.convars, self.resource, kvp=self.kvp())

    # -- time ----------------------------------------------------------------------------

    @property
    def now(self) -> int:
        return int(self.fake.time)

    def run(self) -> None:
        """Resume whatever is due now."""
        self.fake.run_until(self.fake.time)

    def advance(self, ms: int) -> None:
        """Move the clock forward, running every sampling period on the way."""
        self.fake.run_until(self.fake.time + ms)

    # -- the world -----------------------------------------------------------------------

    def _entity(
        self,
        pos: tuple[float, float, float],
        heading: float,
        velocity: tuple,
        model: int = 0x705E61F2,  # mp_m_freemode_01
    ) -> int:
        handle = self._next_handle
        self._next_handle += 1
        x, y, z = pos
        vx, vy, vz = velocity
        self.fake.entities[handle] = self.lua.table_from(
            {
                "x": x,
                "y": y,
                "z": z,
                "heading": heading,
                "vx": vx,
                "vy": vy,
                "vz": vz,
                "model": model,
            }
        )
        return handle

    def add_player(
        self,
        player_id: int,
        pos: tuple[float, float, float] | None = (100.0, 200.0, 30.0),
        heading: float = 90.0,
        velocity: tuple[float, float, float] = (0.0, 0.0, 0.0),
        identifiers: list[str] | None = None,
    ) -> int:
        """A connected player; with pos=None it has no ped yet. Returns the ped handle (or 0).

        Identifiers default to a license and a discord id derived from the player id."""
        handle = 0 if pos is None else self._entity(pos, heading, velocity)
        self.fake.players[player_id] = handle
        ids = identifiers if identifiers is not None else default_identifiers(player_id)
        self.fake.identifiers[player_id] = self.lua.table_from(ids)
        return handle

    def give_ped(self, player_id: int, pos: tuple[float, float, float]) -> int:
        handle = self._entity(pos, 0.0, (0.0, 0.0, 0.0))
        self.fake.players[player_id] = handle
        return handle

    def ped(self, player_id: int) -> int:
        return int(self.fake.players[player_id] or 0)

    def move(self, handle: int, pos: tuple[float, float, float], **fields: float) -> None:
        entity = self.fake.entities[handle]
        entity.x, entity.y, entity.z = pos
        for key, value in fields.items():
            entity[key] = value

    def move_player(self, player_id: int, pos: tuple[float, float, float], **fields: float) -> None:
        self.move(self.ped(player_id), pos, **fields)

    def drop_player(self, player_id: int) -> None:
        """The player leaves: ped and id gone, `playerDropped` fired with it as source."""
        handle = self.ped(player_id)
        self.fake.players[player_id] = None
        self.fake.entities[handle] = None
        self.g.source = player_id
        self.trigger("playerDropped", "Exiting")
        self.g.source = None

    def add_vehicle(
        self, netid: int, pos: tuple[float, float, float], model: int = 0x2B6DC64A, **fields: float
    ) -> int:
        handle = self._entity(pos, fields.pop("heading", 0.0), (0.0, 0.0, 0.0), model)
        self.fake.netids[netid] = handle
        return handle

    def delete_entity(self, handle: int) -> None:
        """The entity is gone; its net id (if any) no longer resolves."""
        self.fake.entities[handle] = None
        for netid, h in list(self.fake.netids.items()):
            if h == handle:
                self.fake.netids[netid] = None

    # -- events, commands, exports ---------------------------------------------------------

    def trigger(self, name: str, *args: Any) -> None:
        """TriggerEvent from outside the resource (another resource, or the JS transport)."""
        self.g.TriggerEvent(name, *args)

    def link_up(self, daemon_version: str = "0.1.0") -> None:
        self.trigger(f"{self.resource}:linkUp", daemon_version)

    def link_down(self, reason: str = "closed (1006)") -> None:
        self.trigger(f"{self.resource}:linkDown", reason)

    def daemon_says(self, message: dict[str, Any]) -> None:
        self.trigger(f"{self.resource}:daemonMessage", json.dumps(message))

    def command(self, name: str, source: int, *args: str) -> str:
        """Run a registered command as FXServer would; returns what the caller was told."""
        command = self.fake.commands[name]
        assert command is not None, f"command {name} is not registered"
        prints, chats = len(self.fake.prints), len(self.fake.client_events)
        command.fn(source, self.lua.table_from(list(args)), " ".join((name, *args)))
        if source == 0:
            lines = [self.fake.prints[i] for i in range(prints + 1, len(self.fake.prints) + 1)]
            assert len(lines) == 1, lines
            return str(lines[0])
        events = [
            self.fake.client_events[i] for i in range(chats + 1, len(self.fake.client_events) + 1)
        ]
        assert len(events) == 1, events
        event = events[0]
        assert event.name == "chat:addMessage" and event.target == source
        return str(event.args[1].args[2])

    def export(self, name: str, *args: Any) -> tuple[Any, ...]:
        """Call exports.<resource>:<name>(...) from another resource; returns all results."""
        call = self.eval(
            "function(res, name, ...) return table.pack(exports[res][name](exports[res], ...)) end"
        )
        packed = call(self.resource, name, *args)
        return tuple(packed[i] for i in range(1, packed.n + 1))

    def eval(self, code: str) -> Any:
        """Evaluate a Lua expression in this resource's globals."""
        return self.g.load("return " + code, "=eval", "t", self.g)()

    def execute(self, code: str) -> Any:
        """Run Lua statements in this resource's globals."""
        return self.g.load(code, "=execute", "t", self.g)()

    def table(self, value: Any) -> Any:
        return self.lua.table_from(value, recursive=True)

    def events(self, name: str) -> list[tuple[Any, ...]]:
        """The arguments of every TriggerEvent(name, ...) so far."""
        found = []
        for i in range(1, len(self.fake.triggered) + 1):
            entry = self.fake.triggered[i]
            if entry.name == name:
                found.append(tuple(entry.args[j] for j in range(1, entry.args.n + 1)))
        return found

    @property
    def prints(self) -> list[str]:
        return [str(self.fake.prints[i]) for i in range(1, len(self.fake.prints) + 1)]

    @property
    def errors(self) -> list[str]:
        return [str(self.fake.errors[i]) for i in range(1, len(self.fake.errors) + 1)]

    # -- what reached the transport ----------------------------------------------------------

    def frames(self) -> list[str]:
        """Every frame Lua handed to the transport (`<resource>:send`), as text."""
        return [args[0] for args in self.events(f"{self.resource}:send")]

    def sent(self) -> list[dict[str, Any]]:
        """Frames handed to the transport since the last call, decoded and checked against v1."""
        frames = self.frames()
        new = frames[self._seen_frames :]
        self._seen_frames = len(frames)
        messages = []
        for text in new:
            assert isinstance(text, str)
            assert len(text.encode()) <= protocol.MAX_FRAME_BYTES
            messages.append(check_frame(text))
        return messages

    def positions(self) -> list[dict[str, Any]]:
        """Position items sent since the last `sent()`/`positions()` call (others discarded)."""
        return [item for msg in self.sent() if msg["type"] == "positions" for item in msg["items"]]

    # -- sonorancad --------------------------------------------------------------------------

    def start_sonorancad(self, *plugins: str) -> None:
        self.fake.resources["sonorancad"] = "started"
        for name in plugins:
            self.fake.cad.plugins[name] = True

    @property
    def spending_lookups(self) -> int:
        """Calls of sonorancad exports that may spend an API request (must stay 0)."""
        return int(self.fake.cad.spending_lookups)

    def cad_entry(
        self,
        call_id: int,
        meta: dict[str, Any],
        *,
        status: int = 1,
        dispatch_type: str | None = "CALL_NEW",
        **fields: Any,
    ) -> Any:
        """A call cache entry as sonorancad v4 keeps it: { dispatch_type, dispatch = call }."""
        dispatch = {
            "callId": call_id,
            "origin": 0,
            "status": status,
            "priority": 1,
            "block": "100",
            "address": "Mission Row",
            "postal": "9002",
            "title": "test",
            "code": "211",
            "primary": 0,
            "trackPrimary": False,
            "description": "",
            "idents": [],
            "metaData": meta,
            "updated": "2026-12-03T08:00:00Z",
            **fields,
        }
        entry: dict[str, Any] = {"dispatch": dispatch}
        if dispatch_type is not None:
            entry["dispatch_type"] = dispatch_type
        return self.table(entry)

    def _dispatch(self, call_id: int) -> dict[str, Any]:
        """The cached call object of a call, as Python values."""
        return dict(_to_python(self.fake.cad.calls[call_id].dispatch))

    def cad_new_call(
        self, call_id: int, meta: dict[str, Any], key: Any = None, **fields: Any
    ) -> None:
        """EVENT_DISPATCH_NEW: cached (SetCallCache fires CallCacheUpdated), then DispatchEvent."""
        entry = self.cad_entry(call_id, meta, **fields)
        self.fake.cad.calls[call_id if key is None else key] = entry
        self.trigger("SonoranCAD::pushevents:CallCacheUpdated")
        self.trigger("SonoranCAD::pushevents:DispatchEvent", entry)

    def cad_edit_call(
        self, call_id: int, meta: dict[str, Any] | None = None, **fields: Any
    ) -> None:
        """EVENT_DISPATCH_EDIT: DispatchEdit(old entry, body.data) - during which dispatchnotify,
        when loaded, fires CallEdit:Tracking if primary or trackPrimary changed - then the cache
        write (CallCacheUpdated) and DispatchEvent(new entry)."""
        old = self.fake.cad.calls[call_id]
        before = self._dispatch(call_id)
        dispatch = {**before, **fields}
        if meta is not None:
            dispatch["metaData"] = meta
        self.trigger("SonoranCAD::pushevents:DispatchEdit", old, self.table({"dispatch": dispatch}))
        if self.fake.cad.plugins["dispatchnotify"] and (
            before.get("primary") != dispatch.get("primary")
            or before.get("trackPrimary") != dispatch.get("trackPrimary")
        ):
            self.trigger(
                "SonoranCAD::dispatchnotify:CallEdit:Tracking",
                call_id,
                dispatch.get("trackPrimary"),
                dispatch.get("primary"),
            )
        entry = self.table({"dispatch_type": "CALL_EDIT", "dispatch": dispatch})
        self.fake.cad.calls[call_id] = entry
        self.trigger("SonoranCAD::pushevents:CallCacheUpdated")
        self.trigger("SonoranCAD::pushevents:DispatchEvent", entry)

    def cad_poll(self, call_id: int, key: Any = None, **fields: Any) -> None:
        """sonorancad's 60 s GET /calls poll: `CallCache[v.callId] = { dispatch = v }`, written
        straight into the table, no event at all (an API-made change fires none either)."""
        known = call_id in self.fake.cad.calls and self.fake.cad.calls[call_id] is not None
        base = self._dispatch(call_id) if known else {"metaData": {"a": "b"}}
        base.pop("callId", None)
        meta = base.pop("metaData", {"a": "b"})
        status = base.pop("status", 1)
        entry = self.cad_entry(
            call_id, meta, status=status, dispatch_type=None, **{**base, **fields}
        )
        self.fake.cad.calls[call_id if key is None else key] = entry

    def cad_close_call(self, call_id: int) -> None:
        """EVENT_DISPATCH_CLOSED: the entry becomes CALL_CLOSE with status 2 (and stays)."""
        entry = self.fake.cad.calls[call_id]
        closed = self.table({"dispatch_type": "CALL_CLOSE", "dispatch": {}})
        closed.dispatch = entry.dispatch
        closed.dispatch.status = 2
        self.fake.cad.calls[call_id] = closed
        self.trigger("SonoranCAD::pushevents:CallCacheUpdated")
        self.trigger("SonoranCAD::pushevents:DispatchEvent", closed)

    def cad_911(self, call_id: int, meta: dict[str, Any]) -> None:
        """EVENT_911: SetEmergencyCache(callId, call), then IncomingCadCall(call, metaData, ids)."""
        call = self.table({"callId": call_id, "metaData": meta, "description": "911"})
        self.fake.cad.emergency[call_id] = call
        self.trigger("SonoranCAD::pushevents:EmergencyCacheUpdated")
        self.trigger("SonoranCAD::pushevents:IncomingCadCall", call, call.metaData, self.table([]))

    def cad_unit(self, unit_id: int, player_id: int | None, *, by: str = "apiIds") -> Any:
        """A logged-in CAD unit played by `player_id` (None: not in game), in the unit cache.

        by="apiIds": the unit's apiIds hold the player's license (prefix stripped), as
        sonorancad's identity rules match it. by="communityUserId": only a community user
        id, which sonorancad matched itself and announced (SonoranCAD::core:AddPlayer)."""
        data: dict[str, Any] = {"unitNum": f"1-{unit_id}", "name": f"Unit {unit_id}"}
        if by == "apiIds":
            ids = default_identifiers(player_id or 99_999)
            data["apiIds"] = [ids[0].split(":", 1)[1]]
        else:
            data["communityUserId"] = f"cu-{unit_id}"
        unit = self.table({"id": unit_id, "accId": f"acc-{unit_id}", "status": 1, "data": data})
        units = self.fake.cad.units
        units[len(units) + 1] = unit
        if by != "apiIds" and player_id is not None:
            self.trigger("SonoranCAD::core:AddPlayer", str(player_id), unit)
        return unit

    def cad_unit_logout(self, unit_id: int) -> None:
        """EVENT_UNIT_LOGOUT: UnitLogout(identId) fires, then the unit leaves the cache."""
        self.trigger("SonoranCAD::pushevents:UnitLogout", unit_id)
        units = [u for u in lua_list(self.fake.cad.units) if u.id != unit_id]
        self.fake.cad.units = self.lua.table_from(units)


def stock_require(runtime: Any) -> Any:
    """Stock Lua's `require` of a runtime, pointed at the resource's folder ("shared.follow" is
    shared/follow.lua), for pure modules loaded without FXServer. Returns `require`."""
    runtime.globals().package.path = f"{RESOURCE_DIR}/?.lua"
    return runtime.eval("function(name) return (require(name)) end")  # the module alone


def new_environment(runtime: Any) -> Any:
    """A global table of its own for one resource in a shared Lua runtime: the base
    functions, and copies of the library tables (a resource changing `table` or `os` changes
    its own copy, as in a Lua state of its own)."""
    return runtime.eval(
        """function()
            local env = {}
            for name, value in pairs(_G) do
                if type(value) == "table" and name ~= "_G" and name ~= "package" then
                    local copy = {}
                    for k, v in pairs(value) do copy[k] = v end
                    env[name] = copy
                elseif type(value) == "function" then
                    env[name] = value
                end
            end
            env._G = env
            local base_load = load
            env.load = function(chunk, name, mode, scope) -- chunks it loads see its globals
                return base_load(chunk, name, mode or "bt", scope or env)
            end
            return env
        end"""
    )()


def default_identifiers(player_id: int) -> list[str]:
    return [f"license:{player_id:040x}", f"discord:{10**17 + player_id}"]


def is_finite_item(item: dict[str, Any]) -> bool:
    return all(math.isfinite(item[axis]) for axis in ("x", "y", "z"))


def lua_list(table: Any) -> Iterator[Any]:
    for i in range(1, len(table) + 1):
        yield table[i]
