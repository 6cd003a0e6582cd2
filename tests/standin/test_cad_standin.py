"""The CAD stand-in over real loopback sockets: rate limit, API semantics, faults, robustness."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from bench.kit import VirtualTime, until
from bridge.standin.cad import CadStandIn, Fault

KEY = "standin-test-key"
PATCH_501 = "/v2/emergency/servers/1/dispatch-calls/501"
CALLS = "/v2/emergency/servers/1/calls"


@pytest.fixture
def clock() -> VirtualTime:
    return VirtualTime(1000.0)


@pytest.fixture
async def standin(clock: VirtualTime) -> AsyncIterator[CadStandIn]:
    async with CadStandIn(api_key=KEY, clock=clock) as server:
        server.add_call(1, 501, {"callerPlayerId": "7", "uuid": "u-1", "x": "0", "y": "0"})
        yield server


@pytest.fixture
async def http(standin: CadStandIn) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=standin.url, headers=headers) as client:
        yield client


async def patch(http: httpx.AsyncClient, body: Any = None, path: str = PATCH_501,
                **kwargs: Any) -> httpx.Response:
    content = json.dumps({"metaData": {"x": "1"}} if body is None else body).encode()
    return await http.patch(path, content=content, **kwargs)


# -- the rate limit ------------------------------------------------------------------------


async def test_strict_sliding_window(
    standin: CadStandIn, http: httpx.AsyncClient, clock: VirtualTime
) -> None:
    for _ in range(10):
        assert (await patch(http)).status_code == 200
        clock.now += 1.0  # accepted at 1000 .. 1009
    clock.now = 1009.5
    rejected = await patch(http)
    assert rejected.status_code == 429
    assert rejected.json()["message"] == "API rate limit exceeded"
    assert rejected.headers["retry-after"] == "51"  # 1000 leaves the window at 1060
    clock.now = 1060.0  # the window is closed: 1000 still counts at 1060
    assert (await patch(http)).status_code == 429
    clock.now = 1060.001
    assert (await patch(http)).status_code == 200  # 1000 slid out: one slot
    second = await patch(http)
    assert second.status_code == 429 and second.headers["retry-after"] == "1"
    assert standin.rate_limited == 3
    accepted = [r.t for r in standin.requests if r.status == 200]
    assert all(sum(a <= t <= a + 60 for t in accepted) <= 10 for a in accepted)


async def test_429s_do_not_take_slots(
    standin: CadStandIn, http: httpx.AsyncClient, clock: VirtualTime
) -> None:
    for _ in range(10):
        await patch(http)
    clock.now += 30
    for _ in range(5):
        assert (await patch(http)).status_code == 429
    clock.now += 30.001
    assert [(await patch(http)).status_code for _ in range(11)] == [200] * 10 + [429]


async def test_routes_have_separate_limits(standin: CadStandIn, http: httpx.AsyncClient) -> None:
    statuses = [(await http.get(CALLS)).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    assert (await patch(http)).status_code == 200


async def test_external_spend_counts_in_the_window(
    standin: CadStandIn, http: httpx.AsyncClient, clock: VirtualTime
) -> None:
    standin.spend_external("update_call", 8)
    clock.now += 10
    assert [(await patch(http)).status_code for _ in range(3)] == [200, 200, 429]
    clock.now += 50.001  # the external eight leave the window
    assert (await patch(http)).status_code == 200


async def test_limits_and_window_are_configurable(clock: VirtualTime) -> None:
    async with CadStandIn(api_key=KEY, clock=clock, window=10.0, limits={"update_call": 2},
                          ) as standin, httpx.AsyncClient(base_url=standin.url) as http:
        standin.add_call(1, 501)
        headers = {"Authorization": f"Bearer {KEY}"}
        statuses = [(await patch(http, headers=headers)).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        assert all([(await http.get(CALLS, headers=headers)).status_code == 200
                    for _ in range(20)])  # no limit configured for get_calls
        clock.now += 10.001
        assert (await patch(http, headers=headers)).status_code == 200


async def test_quota_headers_when_asked(
    standin: CadStandIn, http: httpx.AsyncClient, clock: VirtualTime
) -> None:
    assert "ratelimit-remaining" not in (await patch(http)).headers
    standin.send_quota_headers = True
    clock.now += 15
    answer = await patch(http)
    assert answer.headers["ratelimit-remaining"] == "8"
    assert answer.headers["ratelimit-reset"] == "45"


# -- the API's semantics ----------------------------------------------------------------------


async def test_metadata_replaces_the_stored_object_whole(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    answer = await patch(http, {"metaData": {"x": "430.5", "y": "-982.1"}, "postal": "100"})
    assert answer.status_code == 200
    call = answer.json()
    assert call["metaData"] == {"x": "430.5", "y": "-982.1"}  # callerPlayerId and uuid gone
    assert call["postal"] == "100" and call["callId"] == 501 and call["title"] == "Armed Robbery"
    assert standin.call(1, 501) == call


async def test_patch_without_metadata_keeps_it(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    before = standin.call(1, 501)["metaData"]
    call = (await patch(http, {"description": "Spread to the garage.", "serverId": 1})).json()
    assert call["metaData"] == before and call["description"] == "Spread to the garage."
    assert "serverId" not in call


async def test_dispatcher_edit_is_seen_by_the_api(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    standin.edit_meta(1, 501, {"callerPlayerId": "7", "silentAlert": "true"})
    calls = (await http.get(CALLS)).json()["ActiveCalls"]
    assert calls[0]["metaData"] == {"callerPlayerId": "7", "silentAlert": "true"}


async def test_closed_call_is_gone_and_listed_as_closed(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    standin.add_call(1, 502)
    standin.add_call(1, 503)
    standin.close_call(1, 501)
    standin.close_call(1, 502)
    answer = await patch(http)
    assert answer.status_code == 404
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert set(problem) == {"type", "title", "status", "detail", "instance", "traceId"}
    assert problem["status"] == 404 and "501" in problem["detail"]
    listing = (await http.get(CALLS, params={"closedLimit": 1, "closedOffset": 0})).json()
    assert [c["callId"] for c in listing["ActiveCalls"]] == [503]
    assert [c["callId"] for c in listing["ClosedCalls"]] == [502]  # latest closed first
    assert listing["ClosedCallCount"] == 2 and listing["EmergencyCalls"] == []
    page2 = (await http.get(CALLS, params={"closedLimit": 5, "closedOffset": 1})).json()
    assert [c["callId"] for c in page2["ClosedCalls"]] == [501]


async def test_bad_query_is_400(http: httpx.AsyncClient) -> None:
    answer = await http.get(CALLS, params={"closedLimit": "-1"})
    assert answer.status_code == 400 and "closedLimit" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object, got list"),
        (b'{"metaData": "x=1"}', "metaData must be an object"),
    ],
)
async def test_bad_body_is_400_naming_the_problem(
    standin: CadStandIn, http: httpx.AsyncClient, content: bytes, words: str
) -> None:
    answer = await http.patch(PATCH_501, content=content)
    assert answer.status_code == 400 and words in answer.json()["detail"]
    assert standin.call(1, 501)["metaData"]["uuid"] == "u-1"  # nothing applied


async def test_unknown_server_is_404(http: httpx.AsyncClient) -> None:
    for answer in [await patch(http, path="/v2/emergency/servers/9/dispatch-calls/501"),
                   await http.get("/v2/emergency/servers/9/calls")]:
        assert answer.status_code == 404
        assert answer.headers["content-type"] == "application/problem+json"
        assert "Server 9" in answer.json()["detail"]


async def test_unknown_route_404_and_wrong_method_405(http: httpx.AsyncClient) -> None:
    assert (await http.get("/v2/emergency/servers/1/blips")).status_code == 404
    assert (await http.get("/v2/emergency/servers/x/calls")).status_code == 404
    wrong = await http.post(PATCH_501, content=b"{}")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "PATCH"


@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", f"Basic {KEY}", f"Bearer {KEY}x"]
)
async def test_auth(standin: CadStandIn, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with httpx.AsyncClient(base_url=standin.url, headers=headers) as http:
        answer = await patch(http)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert KEY not in answer.text
    assert not standin.requests[-1].counted


async def test_revoked_key_gets_401_until_restored(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    standin.revoke_key()
    assert (await patch(http)).status_code == 401
    assert (await http.get(CALLS)).status_code == 401
    standin.restore_key()
    assert (await patch(http)).status_code == 200


# -- faults ------------------------------------------------------------------------------------


async def test_faults_fire_for_exactly_n_requests_of_their_route(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    standin.inject(Fault(503), count=2, route="update_call")
    assert (await http.get(CALLS)).status_code == 200
    assert [(await patch(http)).status_code for _ in range(3)] == [503, 503, 200]
    assert standin.call(1, 501)["metaData"] == {"x": "1"}  # only the third was applied


async def test_backend_faults_count_in_the_window_gateway_faults_do_not(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    standin.inject(Fault(500))
    standin.inject(Fault(429, retry_after=5))
    first, second = await patch(http), await patch(http)
    assert (first.status_code, second.status_code) == (429, 500)  # the gateway acts first
    assert first.headers["retry-after"] == "5" and first.json()["message"]
    assert [r.counted for r in standin.requests] == [False, True]
    assert standin.rate_limited == 1


async def test_429_fault_with_http_date_or_nothing(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    from datetime import UTC, datetime

    standin.inject(Fault(429, retry_after=datetime(2026, 4, 8, 21, 30, tzinfo=UTC)))
    standin.inject(Fault(429))
    dated, bare = await patch(http), await patch(http)
    assert dated.headers["retry-after"] == "Wed, 08 Apr 2026 21:30:00 GMT"
    assert bare.status_code == 429 and "retry-after" not in bare.headers


async def test_bad_json_fault(standin: CadStandIn, http: httpx.AsyncClient) -> None:
    standin.inject(Fault("bad_json"))
    answer = await patch(http)
    assert answer.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        answer.json()


async def test_reset_fault_drops_the_connection(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    standin.inject(Fault("reset"))
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        await patch(http)
    assert standin.requests[-1].status is None
    assert (await patch(http)).status_code == 200


async def test_hang_fault_never_answers_and_stop_still_returns(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    standin.inject(Fault("hang"))
    with pytest.raises(httpx.ReadTimeout):
        await patch(http, timeout=0.3)
    standin.inject(Fault("hang"))
    pending = asyncio.create_task(patch(http, timeout=30))
    await until(lambda: len(standin.requests) == 2, within=2)  # the stand-in has it in hand
    started = time.monotonic()
    await standin.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(httpx.TransportError):
        await pending


async def test_slow_fault_answers_late(standin: CadStandIn, http: httpx.AsyncClient) -> None:
    standin.inject(Fault("slow", delay=0.2), route="get_calls")
    started = time.monotonic()
    assert (await http.get(CALLS)).status_code == 200
    assert time.monotonic() - started >= 0.2


def test_inject_checks_its_arguments() -> None:
    standin = CadStandIn()
    with pytest.raises(ValueError):
        standin.inject(Fault(503), count=0)
    with pytest.raises(ValueError):
        standin.inject(Fault(503), route="unit_locations")
    with pytest.raises(ValueError):
        CadStandIn(limits={"nope": 1})


# -- HTTP robustness --------------------------------------------------------------------------


async def raw_exchange(standin: CadStandIn, data: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", standin.port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(65536), 2.0)
    finally:
        writer.close()


@pytest.mark.parametrize(
    "garbage",
    [b"\x00\xff\xfe garbage\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
     b"PATCH /x HTTP/1.1\r\nContent-Length: nope\r\n\r\n", b"GET /" + b"a" * 100_000],
)
async def test_garbage_gets_an_error_and_the_server_lives_on(
    standin: CadStandIn, http: httpx.AsyncClient, garbage: bytes
) -> None:
    reply = await raw_exchange(standin, garbage)
    assert reply == b"" or reply.startswith(b"HTTP/1.1 4")
    assert (await http.get(CALLS)).status_code == 200


async def test_body_over_1_mib_is_413(standin: CadStandIn) -> None:
    head = (f"PATCH {PATCH_501} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
            f"Content-Length: {2 * 1024 * 1024}\r\n\r\n").encode()
    reply = await raw_exchange(standin, head + b"{" * (1024 * 1024 + 10))
    assert reply.startswith(b"HTTP/1.1 413")


async def test_keep_alive_serves_several_requests_on_one_connection(
    standin: CadStandIn,
) -> None:
    request = f"GET {CALLS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n\r\n".encode()
    reader, writer = await asyncio.open_connection("127.0.0.1", standin.port)
    try:
        for _ in range(3):
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 2.0)
            assert head.startswith(b"HTTP/1.1 200")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length")))
            await reader.readexactly(length)
    finally:
        writer.close()


def test_runs_as_a_program() -> None:
    command = [sys.executable, "-m", "bridge.standin.cad", "--port", "0", "--calls", "501,502"]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            line = process.stdout.readline()
            assert "http://127.0.0.1:" in line and "standin-key" in line
            url = line.split()[4]
            answer = httpx.get(url + CALLS, headers={"Authorization": "Bearer standin-key"})
            assert sorted(c["callId"] for c in answer.json()["ActiveCalls"]) == [501, 502]
        finally:
            process.terminate()
            process.wait(timeout=5)


async def test_911_calls_are_listed_apart_and_can_share_a_dispatch_id(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    standin.add_emergency_call(1, 501, {"phone": "555-0100", "postal": "9001"})
    listing = (await http.get(CALLS)).json()
    assert [c["callId"] for c in listing["ActiveCalls"]] == [501]
    (item,) = listing["EmergencyCalls"]
    assert item["callId"] == 501 and item["isEmergency"] is True
    assert item["metaData"] == {"phone": "555-0100", "postal": "9001"} and "postal" not in item
    only_911 = (await http.get(CALLS, params={"type": 1})).json()
    assert only_911["ActiveCalls"] == [] and len(only_911["EmergencyCalls"]) == 1
    only_dispatch = (await http.get(CALLS, params={"type": 0})).json()
    assert only_dispatch["EmergencyCalls"] == [] and len(only_dispatch["ActiveCalls"]) == 1
    standin.remove_emergency_call(1, 501)
    assert (await http.get(CALLS)).json()["EmergencyCalls"] == []


async def test_a_911_call_is_updated_through_the_dispatch_call_route(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    standin.add_emergency_call(1, 302, {"phone": "555-0100"})
    body = {"metaData": {"phone": "555-0100", "x": "1"}}
    answer = await patch(http, body, "/v2/emergency/servers/1/dispatch-calls/302")
    assert answer.status_code == 200 and answer.json()["isEmergency"] is True
    assert standin.emergency_call(1, 302)["metaData"] == {"phone": "555-0100", "x": "1"}


async def test_a_closed_call_may_answer_a_patch_with_200_and_status_2(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    standin.closed_patch = 200
    standin.close_call(1, 501)
    answer = await patch(http)
    assert answer.status_code == 200 and answer.json()["status"] == 2


async def test_every_answer_carries_a_gateway_request_id(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    ok = await http.get(CALLS)
    missing = await http.get("/v2/emergency/servers/9/calls")
    assert ok.headers["x-kong-request-id"] != missing.headers["x-kong-request-id"]
    assert missing.status_code == 404 and "not configured" in missing.json()["detail"]


async def test_the_old_camel_case_shape_can_still_be_served(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    standin.camel_case = True
    listing = (await http.get(CALLS)).json()
    assert set(listing) == {"activeCalls", "emergencyCalls", "closedCalls", "closedCallCount"}
