"""Several resources on one stand-in FXServer, each with globals of its own, as FXServer runs them.

- Events are global: `TriggerEvent` in any resource runs the handlers of every resource, in
  the world's resource order (FiveM promises none: tests run both), each with its own copy of
  the arguments, as FXServer's msgpack makes them: tables copied key by key (so `{}` and `[]`
  are the same empty table), integers stay integers and floats floats, functions dropped.
- `exports.other:Fn(...)` calls into the other resource; arguments and results are copied the
  same way.
- Each handler runs as a thread of its own (it may `Wait` or `Citizen.Await`).
- Time is one clock: `advance` resumes the threads of every resource in wake order.
- `PerformHttpRequest` is answered over a real socket (httpx) when the URL is on loopback
  (the CAD stand-in), between two steps of the clock; any other URL gets status 0, as
  FXServer answers a request that cannot connect, and is recorded in `offline`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from lupa import lua54
from lupa.lua54 import lua_type


class Resource(Protocol):
    resource: str
    lua: Any
    g: Any
    fake: Any


WORLD_LUA = """
local world = { order = {} } -- FAKE tables of the resources, in handler order

---A value as FXServer's msgpack carries it to another resource: tables copied key by key
---(an empty table stays an empty table, whatever it stood for), integers and floats as they
---are, functions and other non-data values dropped.
local function copy(value, seen)
    local kind = type(value)
    if kind == "table" then
        seen = seen or {}
        assert(not seen[value], "msgpack: a table that contains itself")
        seen[value] = true
        local out = {}
        for k, v in pairs(value) do
            local ck, cv = copy(k, seen), copy(v, seen)
            if ck ~= nil and cv ~= nil then
                out[ck] = cv
            end
        end
        seen[value] = nil
        return out
    elseif kind == "function" or kind == "thread" or kind == "userdata" then
        return nil
    end
    return value
end
world.copy = copy

local function copies(packed)
    local out = { n = packed.n }
    for i = 1, packed.n do
        out[i] = copy(packed[i])
    end
    return out
end

function world.emit(name, from, packed)
    local order = {}
    for i, fake in ipairs(world.order) do order[i] = fake end
    for _, fake in ipairs(order) do
        local args = copies(packed)
        fake.deliver(name, from, table.unpack(args, 1, args.n))
    end
end

function world.call(resource, name, ...)
    for _, fake in ipairs(world.order) do
        if fake.resource == resource then
            local list = fake.exports[resource]
            local fn = list and list[name]
            if fn == nil then break end
            local args = copies(table.pack(...))
            local results = copies(table.pack(fn(table.unpack(args, 1, args.n))))
            return table.unpack(results, 1, results.n)
        end
    end
    error(("No such export %s in resource %s"):format(name, resource))
end

return world
"""


class World:
    """Resources sharing events, exports, players, one clock and the CAD stand-in.

    The resources share one lupa runtime, each with globals of its own (`FakeServer(...,
    runtime=world.lua)`): a call from one resource into another (an event, an export) then
    stays in Lua, where lupa's Python wrappers cannot meet a running coroutine (they can
    corrupt memory when a Lua object made inside one outlives it)."""

    def __init__(self) -> None:
        self.lua = lua54.LuaRuntime(unpack_returned_tuples=True)
        self.bus = self.lua.execute(WORLD_LUA)
        self.resources: list[Resource] = []
        self.offline: list[str] = []
        """URLs of requests answered with status 0 (not on loopback)."""
        self.http_log: list[tuple[str, str, str, int]] = []
        """(resource, method, url, status) of every request answered."""
        self.now = 0
        self._client = httpx.AsyncClient(timeout=5.0)

    def add(self, resource: Resource) -> None:
        """Join a resource to the world (its handlers run after those already there)."""
        fake = resource.fake
        fake.world = self.bus
        fake.time = self.now
        for other in self.resources:  # their exports are reached through the world now
            fake.exports[other.resource] = None
            other.fake.exports[resource.resource] = None
        self.resources.append(resource)
        self._sync()
        for other in self.resources:
            for started in self.resources:
                other.fake.resources[started.resource] = "started"

    def _sync(self) -> None:
        self.bus.order = self.lua.table_from([r.fake for r in self.resources])

    def remove(self, name: str) -> None:
        """The resource stops: its handlers and exports are gone."""
        self.resources = [r for r in self.resources if r.resource != name]
        self._sync()
        for other in self.resources:
            other.fake.resources[name] = "stopped"

    def order(self, names: Iterable[str]) -> None:
        """Run event handlers in this order of resources."""
        by_name = {r.resource: r for r in self.resources}
        self.resources = [by_name[name] for name in names]
        self._sync()

    def emit(self, name: str, *args: Any, source: Any = None) -> None:
        """An event from outside every resource (e.g. a client's), to all handlers."""
        packed = self.lua.table_from(list(args), recursive=True)
        packed.n = len(args)
        self.bus.emit(name, source, packed)

    async def close(self) -> None:
        await self._client.aclose()

    # -- players -------------------------------------------------------------------------

    def add_player(self, player_id: int, identifiers: list[str]) -> None:
        """A player connects: every resource sees its id and identifiers."""
        for resource in self.resources:
            resource.fake.identifiers[player_id] = resource.lua.table_from(identifiers)
            if resource.fake.players[player_id] is None:
                resource.fake.players[player_id] = 0

    # -- time and HTTP -------------------------------------------------------------------

    async def run(self) -> None:
        await self.advance(0)

    async def advance(self, ms: int) -> None:
        """Move the one clock forward by `ms`, running every resource's threads on the way."""
        target = self.now + ms
        while True:
            await self._serve_http()
            wakes = [w for r in self.resources if (w := r.fake.next_wake()) is not None]
            due = min(wakes, default=None)
            if due is None or due > target:
                break
            due = max(due, self.now)
            self.now = int(due)
            for resource in self.resources:
                resource.fake.time = max(int(resource.fake.time), self.now)
            for resource in list(self.resources):
                resource.fake.run_until(self.now)
        self.now = target
        for resource in self.resources:
            resource.fake.time = target

    async def _serve_http(self) -> None:
        while True:
            work = []
            for resource in self.resources:
                taken = resource.fake.take_http()
                for i in range(1, len(taken) + 1):
                    item = taken[i]
                    headers = {
                        str(item.headers[j][1]): str(item.headers[j][2])
                        for j in range(1, len(item.headers) + 1)
                    }
                    work.append(
                        (
                            resource,
                            int(item.id),
                            str(item.url),
                            str(item.method),
                            str(item.body or ""),
                            headers,
                        )
                    )
            if not work:
                return
            for resource, request_id, url, method, body, headers in work:
                status, text, answer_headers = await self._request(url, method, body, headers)
                self.http_log.append((resource.resource, method.upper(), url, status))
                resource.fake.http_done(request_id, status, text, json.dumps(answer_headers))

    async def _request(
        self, url: str, method: str, body: str, headers: dict[str, str]
    ) -> tuple[int, str, dict[str, str]]:
        host = urlsplit(url).hostname or ""
        if host not in ("127.0.0.1", "localhost", "::1"):
            self.offline.append(url)
            return 0, "", {}
        try:
            response = await self._client.request(
                method.upper(), url, content=body.encode() if body else None, headers=headers
            )
        except httpx.HTTPError as exc:
            return 0, json.dumps({"error": "HTTP_REQUEST_FAILED", "message": str(exc)}), {}
        return response.status_code, response.text, dict(response.headers)


def plain(value: Any) -> Any:
    """A Lua value as Python data (tables as dicts keyed as in Lua); call it at top level only."""
    kind = lua_type(value)
    if kind == "table":
        return {plain(k): plain(v) for k, v in value.items()}
    if kind is not None:
        return None
    return value
