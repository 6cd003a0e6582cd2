"""The multi-resource emulator itself (tests/lua_resource/world.py): what a resource sees of
another is what FXServer would hand it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .fivem import FakeServer
from .world import World


@pytest.fixture
async def world() -> AsyncIterator[tuple[World, FakeServer, FakeServer]]:
    world = World()
    a = FakeServer({}, resource="alpha", runtime=world.lua)
    b = FakeServer({}, resource="beta", runtime=world.lua)
    world.add(a)
    world.add(b)
    yield world, a, b
    await world.close()
    assert a.errors == [] and b.errors == []


async def test_exports_come_back_as_msgpack_copies(
    world: tuple[World, FakeServer, FakeServer],
) -> None:
    _, a, b = world
    a.execute(
        """
        KEPT = { n = 1, f = 1.0, empty = {}, fn = function() end, list = { 1, 2 } }
        exports("Get", function() return KEPT, 7 end)
        """
    )
    b.execute(
        """
        local got, second = exports.alpha:Get()
        got.n = 99 -- a copy: alpha's table is untouched
        RESULT = { math.type(got.f), math.type(got.n), next(got.empty) == nil, got.fn == nil,
                   #got.list, second }
        """
    )
    assert list(b.eval("RESULT").values()) == ["float", "integer", True, True, 2, 7]
    assert a.eval("KEPT.n") == 1
    with pytest.raises(Exception, match="No such export Missing in resource alpha"):
        b.execute("exports.alpha:Missing()")


async def test_events_reach_every_resource_in_the_chosen_order(
    world: tuple[World, FakeServer, FakeServer],
) -> None:
    w, a, b = world
    log: list[str] = []
    for server in (a, b):
        server.g.LOG = log.append
        server.execute(
            """
            AddEventHandler("ping", function(t)
                t.seen = GetCurrentResourceName() -- changes its own copy only
                LOG(GetCurrentResourceName() .. ":" .. tostring(source))
            end)
            """
        )
    a.execute("ARG = { seen = 'nobody' }")
    for order in (["alpha", "beta"], ["beta", "alpha"]):
        w.order(order)
        log.clear()
        a.execute('TriggerEvent("ping", ARG)')
        assert log == [f"{name}:nil" for name in order]
    assert a.eval("ARG.seen") == "nobody"
    w.emit("ping", {"seen": "x"}, source=12)  # e.g. from a client: `source` is its id
    assert log[-2:] == ["beta:12", "alpha:12"]


async def test_threads_promises_and_http_on_one_clock(
    world: tuple[World, FakeServer, FakeServer],
) -> None:
    w, a, _ = world
    a.execute(
        """
        CreateThread(function()
            local p = promise.new()
            SetTimeout(5000, function() p:resolve("late") end)
            DONE = { Citizen.Await(p), GetGameTimer() }
            PerformHttpRequest("https://api.example.invalid/x", function(status, body)
                HTTP = status
            end, "GET")
        end)
        """
    )
    await w.advance(4_999)
    assert a.eval("DONE") is None
    await w.advance(1)
    assert list(a.eval("DONE").values()) == ["late", 5000]
    await w.advance(0)
    assert a.eval("HTTP") == 0 and w.offline == ["https://api.example.invalid/x"]
