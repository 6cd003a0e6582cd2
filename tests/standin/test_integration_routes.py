"""The stand-in's routes for the official sonorancad resource (bridge/standin/integration.py),
over real loopback sockets: behind the same gateway and key as the dispatch-call routes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from bridge.standin.cad import CadStandIn

KEY = "standin-test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
async def client() -> AsyncIterator[tuple[CadStandIn, httpx.AsyncClient]]:
    async with (
        CadStandIn(api_key=KEY) as standin,
        httpx.AsyncClient(base_url=standin.url, headers=AUTH) as http,
    ):
        yield standin, http


async def test_units_login_and_logout(client: tuple[CadStandIn, httpx.AsyncClient]) -> None:
    standin, http = client
    unit = {"id": 7, "data": {"apiIds": ["abc"]}}
    standin.integration.login(1, unit)
    standin.integration.login(1, {**unit, "status": 2})  # the same unit again: replaced
    answer = await http.get("/v2/emergency/servers/1/units", params={"onlyUnits": "false"})
    assert answer.status_code == 200
    assert answer.json() == {"units": [{**unit, "status": 2}]}
    standin.integration.logout(1, 7)
    assert (await http.get("/v2/emergency/servers/1/units")).json() == {"units": []}
    assert [r.route for r in standin.requests] == ["get_units", "get_units"]


async def test_start_up_routes(client: tuple[CadStandIn, httpx.AsyncClient]) -> None:
    standin, http = client
    assert (await http.get("/v2/general/version")).json() == {"version": "4.0.0"}
    assert (await http.get("/v2/general/servers")).json() == {"servers": []}
    servers = [{"id": 1, "name": "test"}]
    put = await http.put("/v2/general/servers", json={"servers": servers, "deployMap": False})
    assert put.status_code == 200 and standin.integration.servers == servers
    assert (await http.put("/v2/general/servers", json={"servers": 5})).status_code == 400
    beat = await http.post("/v2/general/servers/1/heartbeat", json={"playerCount": 3})
    assert beat.status_code == 200 and standin.integration.heartbeats == [(1, 3)]
    assert (await http.delete("/v2/general/version")).status_code == 405


async def test_link_check(client: tuple[CadStandIn, httpx.AsyncClient]) -> None:
    standin, http = client
    standin.integration.links["license:abc"] = "cu-8"
    linked = await http.post("/v2/general/links/check", json={"communityUserId": "license:abc"})
    assert linked.json() == {"linked": True, "communityUserId": "cu-8"}
    other = await http.post("/v2/general/links/check", json={"communityUserId": "license:zzz"})
    assert other.json() == {"linked": False}
    assert (await http.post("/v2/general/links/check", content=b"{no")).status_code == 400


async def test_they_need_the_key_and_count_on_no_limited_route(
    client: tuple[CadStandIn, httpx.AsyncClient],
) -> None:
    standin, http = client
    answer = await http.get("/v2/general/version", headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401
    for _ in range(12):  # no documented limit for these: never a 429
        assert (await http.get("/v2/emergency/servers/1/units")).status_code == 200
    assert standin.rate_limited == 0


@pytest.mark.parametrize(
    "path",
    ["/v2/general/servers/x/heartbeat", "/v2/general/links", "/v2/emergency/servers/1/units/7"],
)
async def test_near_misses_are_404(client: tuple[CadStandIn, httpx.AsyncClient], path: str) -> None:
    _, http = client
    assert (await http.post(path, json={})).status_code == 404
