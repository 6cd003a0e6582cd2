"""CadClient against the real stand-in over loopback, and edge cases on the kit's fake CAD."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

import bridge
from bench.kit import Reply, Step, cad_client
from bridge.cad import (
    AuthFailed,
    CadClient,
    CallList,
    Gone,
    Quota,
    RateLimited,
    Rejected,
    Transient,
    Updated,
    parse_quota,
    parse_retry_after,
)
from bridge.standin.cad import CadStandIn, Fault

KEY = "sk-test-9f8e7d6c5b4a-do-not-leak"


def bare(result: Any) -> Any:
    """The outcome without the ids naming it for support (random in the stand-in's answers)."""
    return msgspec.structs.replace(result, trace={}) if hasattr(result, "trace") else result
NOW = 1_780_000_000.0  # a fixed wall clock for Retry-After dates


def fixed_clock() -> float:
    return NOW


@pytest.fixture
async def standin() -> AsyncIterator[CadStandIn]:
    async with CadStandIn(api_key=KEY) as server:
        server.add_call(1, 501, {"callerPlayerId": "7", "uuid": "abc", "x": "1.0", "y": "2.0"})
        server.add_call(1, 502, {"postal": "9002"})
        yield server


@pytest.fixture
async def client(standin: CadStandIn) -> AsyncIterator[CadClient]:
    async with CadClient(standin.url, KEY, timeout=2.0, wall_clock=fixed_clock) as cad:
        yield cad


# -- against the stand-in ------------------------------------------------------------------


async def test_patch_replaces_metadata_and_returns_the_whole_call(
    standin: CadStandIn, client: CadClient
) -> None:
    result = (await client.update_call(1, 501, {"x": "430.5", "y": "-982.1"})).result
    assert isinstance(result, Updated)
    assert result.meta == {"x": "430.5", "y": "-982.1"}  # replaced whole, as the API does
    assert result.call["callId"] == 501 and result.call["title"] == "Armed Robbery"
    assert result.call["metaData"] == result.meta
    assert standin.call(1, 501)["metaData"] == {"x": "430.5", "y": "-982.1"}
    assert standin.requests[-1].body == {"metaData": {"x": "430.5", "y": "-982.1"}}


async def test_patch_of_full_meta_keeps_every_key(standin: CadStandIn, client: CadClient) -> None:
    meta = {"callerPlayerId": "7", "uuid": "abc", "x": "5", "y": "6", "z": "7", "radius": "50"}
    result = (await client.update_call(1, 501, meta)).result
    assert isinstance(result, Updated) and result.meta == meta


async def test_unknown_or_closed_call_is_gone(standin: CadStandIn, client: CadClient) -> None:
    assert isinstance((await client.update_call(1, 999, {})).result, Gone)
    standin.close_call(1, 502)
    result = (await client.update_call(1, 502, {"x": "1"})).result
    assert isinstance(result, Gone) and "502" in result.detail
    assert isinstance((await client.update_call(7, 501, {})).result, Gone)


async def test_wrong_key_is_auth_failed(standin: CadStandIn) -> None:
    async with CadClient(standin.url, "wrong-key") as cad:
        result = (await cad.update_call(1, 501, {})).result
    assert isinstance(result, AuthFailed) and result.status == 401
    standin.inject(Fault(403))
    async with CadClient(standin.url, KEY) as cad:
        assert bare((await cad.get_calls(1)).result) == AuthFailed(403, "Injected fault")


async def test_revoked_key_is_auth_failed(standin: CadStandIn, client: CadClient) -> None:
    standin.revoke_key()
    assert isinstance((await client.get_calls(1)).result, AuthFailed)
    standin.restore_key()
    assert isinstance((await client.get_calls(1)).result, CallList)


async def test_400_is_rejected_with_the_problem_detail(
    standin: CadStandIn, client: CadClient
) -> None:
    standin.inject(Fault(400))
    assert bare((await client.update_call(1, 501, {})).result) == Rejected(400, "Injected fault")


async def test_real_rate_limit_gives_retry_after_seconds(standin: CadStandIn) -> None:
    standin.spend_external("update_call", 10)
    async with CadClient(standin.url, KEY) as cad:
        result = (await cad.update_call(1, 501, {})).result
    assert isinstance(result, RateLimited)
    assert result.retry_after is not None and 59 <= result.retry_after <= 60
    assert result.detail == "API rate limit exceeded"
    assert standin.rate_limited == 1


async def test_429_retry_after_as_http_date(standin: CadStandIn, client: CadClient) -> None:
    standin.inject(Fault(429, retry_after=datetime.fromtimestamp(NOW + 42, UTC)))
    result = (await client.update_call(1, 501, {})).result
    assert bare(result) == RateLimited(42.0, "API rate limit exceeded")


async def test_429_retry_after_date_in_the_past_is_zero(
    standin: CadStandIn, client: CadClient
) -> None:
    standin.inject(Fault(429, retry_after=datetime.fromtimestamp(NOW - 30, UTC)))
    result = (await client.update_call(1, 501, {})).result
    assert bare(result) == RateLimited(0.0, "API rate limit exceeded")


async def test_429_without_hint_has_no_retry_after(
    standin: CadStandIn, client: CadClient
) -> None:
    standin.inject(Fault(429))
    assert bare((await client.update_call(1, 501, {})).result) == RateLimited(
        None, "API rate limit exceeded"
    )


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_transient(standin: CadStandIn, client: CadClient, status: int) -> None:
    standin.inject(Fault(status))
    result = (await client.update_call(1, 501, {})).result
    assert bare(result) == Transient(f"HTTP {status}: Injected fault", True, status=status)


async def test_hang_times_out_as_transient(standin: CadStandIn) -> None:
    standin.inject(Fault("hang"))
    async with CadClient(standin.url, KEY, timeout=0.3) as cad:
        started = time.monotonic()
        result = (await cad.update_call(1, 501, {})).result
        elapsed = time.monotonic() - started
    assert result == Transient("timeout after 0.3 s", reached_server=True)
    assert elapsed < 2.0


async def test_slow_answer_past_the_timeout_is_transient(standin: CadStandIn) -> None:
    standin.inject(Fault("slow", delay=1.0))
    async with CadClient(standin.url, KEY, timeout=0.3) as cad:
        result = (await cad.update_call(1, 501, {})).result
    assert isinstance(result, Transient) and result.reached_server


async def test_reset_is_transient(standin: CadStandIn, client: CadClient) -> None:
    standin.inject(Fault("reset"))
    result = (await client.update_call(1, 501, {})).result
    assert isinstance(result, Transient) and result.reached_server
    assert isinstance((await client.update_call(1, 501, {})).result, Updated)  # the client recovers


async def test_bad_json_is_transient(standin: CadStandIn, client: CadClient) -> None:
    standin.inject(Fault("bad_json"))
    result = (await client.update_call(1, 501, {})).result
    assert result == Transient("HTTP 200: body is not JSON", True, status=200)


async def test_connection_refused_never_reached_the_server() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with CadClient(f"http://127.0.0.1:{port}", KEY) as cad:
        result = (await cad.update_call(1, 501, {})).result
    assert result == Transient("connection refused", reached_server=False)


async def test_get_calls_lists_active_calls_only(standin: CadStandIn, client: CadClient) -> None:
    standin.add_call(1, 503, None)
    standin.close_call(1, 502)
    result = (await client.get_calls(1)).result
    assert isinstance(result, CallList)
    assert result.calls == {
        501: {"callerPlayerId": "7", "uuid": "abc", "x": "1.0", "y": "2.0"},
        503: {},
    }
    record = standin.requests[-1]
    assert record.route == "get_calls" and record.status == 200
    assert record.query == "closedLimit=10&closedOffset=0&type=100"
    assert result.closed == {502}


async def test_quota_headers_are_parsed(standin: CadStandIn, client: CadClient) -> None:
    assert (await client.get_calls(1)).quota is None  # the stand-in sends none by default
    standin.send_quota_headers = True
    await client.get_calls(1)
    quota = (await client.get_calls(1)).quota
    assert quota is not None
    assert quota.remaining == 2  # 5 per minute, 3 used
    assert quota.reset_after is not None and 0 < quota.reset_after <= 60


async def test_api_url_with_trailing_slash_and_prefix(standin: CadStandIn) -> None:
    async with CadClient(standin.url + "/", KEY) as cad:
        assert isinstance((await cad.update_call(1, 501, {})).result, Updated)
    async with CadClient(standin.url + "/api/", KEY) as cad:
        result = (await cad.update_call(1, 501, {})).result
    assert isinstance(result, Gone)
    assert standin.requests[-1].path == "/api/v2/emergency/servers/1/dispatch-calls/501"


async def test_the_key_never_shows_in_results_reprs_or_errors(standin: CadStandIn) -> None:
    shown: list[str] = []
    faults = [Fault(503), Fault(400), Fault(403), Fault(429, retry_after=3), Fault("reset"),
              Fault("bad_json"), Fault("hang")]
    async with CadClient(standin.url, KEY, timeout=0.3) as cad:
        shown += [repr(cad), str(cad)]
        for fault in faults:
            standin.inject(fault)
            result = (await cad.update_call(1, 501, {"x": "1"})).result
            shown += [repr(result), str(result)]
        shown.append(repr((await cad.update_call(1, 999, {})).result))
        shown.append(repr((await cad.get_calls(1)).result))
    async with CadClient(standin.url, "not-the-key-" + KEY) as cad:
        shown.append(repr((await cad.update_call(1, 501, {})).result))
    for bad_url in ["not a url", "ftp://host", ""]:
        with pytest.raises(ValueError) as caught:
            CadClient(bad_url, KEY)
        shown += [str(caught.value), repr(caught.value)]
    assert len(shown) > 20
    assert not [text for text in shown if KEY in text]


# -- the kit's fake CAD: what goes on the wire and edge cases of what comes back ------------


def mock_client(handler: Step, url: str = "https://api.example.test/base/") -> CadClient:
    """The client over the kit's fake CAD, which answers every request with `handler`."""
    return cad_client(otherwise=handler, base=url, api_key=KEY, wall_clock=fixed_clock)


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None,
           raw: bytes | None = None) -> Reply:
    """An answer with `body` as JSON (or the `raw` bytes; none when both are None)."""
    return Reply(status, raw if raw is not None else (b"" if body is None else body), headers or {})


async def test_request_shape_on_the_wire() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"callId": 501, "metaData": {"x": "1"}})

    async with mock_client(handler) as cad:
        await cad.update_call(1, 501, {"x": "1", "note": "é"})
        await cad.get_calls(2)
    patch, get = seen
    assert patch.method == "PATCH"
    assert str(patch.url) == "https://api.example.test/base/v2/emergency/servers/1/dispatch-calls/501"
    assert patch.headers["authorization"] == f"Bearer {KEY}"
    assert patch.headers["accept"] == "application/json"
    assert patch.headers["content-type"] == "application/json"
    assert patch.headers["user-agent"] == f"sonoran-bridge/{bridge.__version__}"
    assert json.loads(patch.content) == {"metaData": {"x": "1", "note": "é"}}
    assert get.method == "GET" and get.url.path == "/base/v2/emergency/servers/2/calls"
    assert dict(get.url.params) == {"closedLimit": "10", "closedOffset": "0", "type": "100"}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": " 2.5 "}, 2.5),
        ({"Retry-After": "-5"}, 0.0),
        ({"Retry-After": (datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=75)).strftime(
            "%a, %d %b %Y %H:%M:%S GMT")}, 75.0),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}, 180.0),  # months away: the cap
        ({"Retry-After": "soon", "RateLimit-Reset": "12"}, 12.0),
        ({"Retry-After": "nan", "X-RateLimit-Reset": "9"}, 9.0),
        ({"X-RateLimit-Reset": str(int(NOW) + 30)}, 30.0),  # a Unix timestamp
        ({"RateLimit-Reset": str(int(NOW * 1000) + 30_000)}, 30.0),  # one in milliseconds
        ({"Retry-After": "86400"}, 180.0),  # a day: the cap
        ({"RateLimit-Reset": str(int(NOW * 1000) + 86_400_000)}, 180.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "inf"}, None),
        ({}, None),
    ],
)
async def test_retry_after_sources(headers: dict[str, str], expected: float | None) -> None:
    body = {"message": "API rate limit exceeded", "request_id": "r1"}
    async with mock_client(answer(429, body, headers)) as cad:
        result = (await cad.update_call(1, 501, {})).result
    assert isinstance(result, RateLimited) and result.detail == "API rate limit exceeded"
    assert result.retry_after == (pytest.approx(expected) if expected is not None else None)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"RateLimit-Remaining": "4", "RateLimit-Reset": "30"}, Quota(4, 30.0)),
        ({"X-RateLimit-Remaining-Minute": "9", "X-RateLimit-Reset": "12"}, Quota(9, 12.0)),
        ({"X-RateLimit-Remaining": "3"}, Quota(3, None)),
        ({"RateLimit-Remaining": "-1"}, Quota(0, None)),
        ({"RateLimit-Remaining": "lots", "RateLimit-Reset": "x"}, None),
        ({}, None),
    ],
)
async def test_quota_headers(headers: dict[str, str], expected: Quota | None) -> None:
    async with mock_client(answer(200, {"callId": 1}, headers)) as cad:
        assert (await cad.update_call(1, 1, {})).quota == expected


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (422, {"type": "t", "title": "Unprocessable", "status": 422, "detail": "x must be str",
               "instance": "/v2", "traceId": "00-ab"}, Rejected(422, "x must be str")),
        (400, {"title": "One or more validation errors occurred.",
               "errors": {"metaData": ["must be an object"]}},
         Rejected(400, "One or more validation errors occurred. (metaData: must be an object)")),
        (409, {"message": "conflict"}, Rejected(409, "conflict")),
        (404, {"title": "Not Found"}, Gone("Not Found")),
        (401, None, AuthFailed(401, "Unauthorized")),
        (408, None, Transient("HTTP 408: Request Timeout", True, status=408)),
        (301, None, Transient("HTTP 301: Moved Permanently", True, status=301)),
        (502, b"<html>\n<b>Bad   gateway</b></html>",
         Transient("HTTP 502: <html> <b>Bad gateway</b></html>", True, status=502)),
    ],
)
async def test_error_details(status: int, body: Any, expected: Any) -> None:
    raw = body if isinstance(body, bytes) else None
    async with mock_client(answer(status, None if raw else body, raw=raw)) as cad:
        assert bare((await cad.update_call(1, 501, {})).result) == expected


async def test_long_detail_is_capped() -> None:
    async with mock_client(answer(400, {"detail": "y" * 5000})) as cad:
        result = (await cad.update_call(1, 501, {})).result
    assert isinstance(result, Rejected) and 0 < len(result.detail) <= 300


async def test_key_echoed_by_the_server_is_redacted() -> None:
    body = {"detail": f"API key {KEY} is not valid for community 42"}
    async with mock_client(answer(401, body)) as cad:
        result = (await cad.update_call(1, 501, {})).result
    assert result == AuthFailed(401, "API key [redacted] is not valid for community 42")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # No readable metaData is unknown, never {}: a next PATCH of {} would erase every key.
        ({"callId": 5, "metaData": None}, None),
        ({"callId": 5}, None),
        ({"callId": 5, "metaData": "not json"}, None),
        ({"callId": 5, "metaData": [1, 2]}, None),
        ({"callId": 5, "metaData": '{"x": "1"}'}, {"x": "1"}),
        ({"callId": 5, "metaData": {"x": 1.5}}, {"x": 1.5}),  # values kept as sent
    ],
)
async def test_updated_meta_shapes(body: dict[str, Any], expected: dict[str, Any] | None) -> None:
    async with mock_client(answer(200, body)) as cad:
        result = (await cad.update_call(1, 5, {})).result
    assert result == Updated(call=body, meta=expected)


@pytest.mark.parametrize("raw", [b"", b"[1, 2]", b'"ok"', b"null", b"<html>"])
async def test_2xx_without_a_json_object_is_transient(raw: bytes) -> None:
    async with mock_client(answer(200, raw=raw)) as cad:
        patch = (await cad.update_call(1, 5, {})).result
        listing = (await cad.get_calls(1)).result
    assert isinstance(patch, Transient) and patch.reached_server
    assert isinstance(listing, Transient) and listing.reached_server


async def test_get_calls_still_reads_the_camel_case_lists() -> None:
    body = {
        "activeCalls": [{"callId": 1, "metaData": {"x": "1"}}, {"callId": "2"}, {"nope": 1}, 7],
        "emergencyCalls": [{"callId": 9, "metaData": {"y": "2"}}],
        "closedCalls": [{"callId": 3, "metaData": {}}],
        "closedCallCount": 1,
    }
    async with mock_client(answer(200, body)) as cad:
        listed = (await cad.get_calls(1)).result
    # Item 2 carries no metaData: unknown, not {}; two items have no call id to read.
    assert listed == CallList(
        {1: {"x": "1"}, 2: None}, complete=False, emergency={9: {"y": "2"}}, closed=frozenset({3})
    )


@pytest.mark.parametrize("body", [{"calls": []}, {"activeCalls": {"1": {}}}])
async def test_get_calls_of_an_unexpected_shape_is_transient(body: dict[str, Any]) -> None:
    async with mock_client(answer(200, body)) as cad:
        assert isinstance((await cad.get_calls(1)).result, Transient)


@pytest.mark.parametrize(
    ("exc", "reached"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), False),
        (httpx.ConnectTimeout("connect timed out"), False),
        (httpx.ReadTimeout("read timed out"), True),
        (httpx.ReadError("Connection reset by peer"), True),
        (httpx.RemoteProtocolError("Server disconnected"), True),
        (httpx.WriteError("broken pipe"), True),
    ],
)
async def test_httpx_errors_become_transient(exc: httpx.HTTPError, reached: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        exc.request = request  # real httpx errors carry the request, Authorization included
        raise exc

    async with mock_client(handler) as cad:
        result = (await cad.update_call(1, 501, {})).result
    assert isinstance(result, Transient) and result.reached_server is reached
    assert KEY not in repr(result)


async def test_a_stuck_handler_is_cut_by_the_overall_timeout() -> None:
    async def handler(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()  # a hang that never ends: the client's timeout cuts it
        return httpx.Response(200)

    async with cad_client(otherwise=handler, api_key=KEY, timeout=0.2) as cad:
        assert (await cad.get_calls(1)).result == Transient("timeout after 0.2 s", True)


@given(st.text(max_size=60), st.floats(min_value=0, max_value=4e9))
def test_parse_retry_after_never_raises(value: str, now: float) -> None:
    seconds = parse_retry_after(value, now)
    assert seconds is None or seconds >= 0


@given(st.dictionaries(st.sampled_from(["ratelimit-remaining", "ratelimit-reset",
                                        "x-ratelimit-reset", "x-ratelimit-remaining-minute"]),
                       st.text(max_size=20)))
def test_parse_quota_never_raises(headers: dict[str, str]) -> None:
    quota = parse_quota(headers, NOW)
    assert quota is None or ((quota.remaining or 0) >= 0 and (quota.reset_after or 0) >= 0)


def test_parse_retry_after_reads_an_imf_fixdate() -> None:
    when = datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=90)
    text = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(text, NOW) == pytest.approx(90.0)


async def test_listed_calls_without_readable_metadata_are_unknown_never_empty() -> None:
    body = {
        "activeCalls": [
            {"callId": 1, "metaData": None},
            {"callId": 2},
            {"callId": 3, "metaData": "garbage"},
            {"callId": 4, "metaData": {"postal": "9002"}},
            {"callId": 5, "metaData": {}},
        ],
        "emergencyCalls": [],
    }
    async with mock_client(answer(200, body)) as cad:
        result = (await cad.get_calls(1)).result
    assert result == CallList({1: None, 2: None, 3: None, 4: {"postal": "9002"}, 5: {}})
    assert result.complete


async def test_a_quota_reset_in_epoch_milliseconds_or_too_far_is_read_and_capped() -> None:
    headers = {"RateLimit-Remaining": "0", "RateLimit-Reset": str(int(NOW * 1000) + 20_000)}
    async with mock_client(answer(200, {"callId": 501, "metaData": {}}, headers)) as cad:
        quota = (await cad.update_call(1, 501, {})).quota
        assert quota == Quota(remaining=0, reset_after=pytest.approx(20.0))
    far = {"RateLimit-Remaining": "0", "RateLimit-Reset": "99999999"}
    client = cad_client(otherwise=answer(200, {"callId": 501}, far), api_key=KEY,
                        wall_clock=fixed_clock, max_wait=30.0)
    async with client:
        quota = (await client.update_call(1, 501, {})).quota
        assert quota == Quota(remaining=0, reset_after=30.0)
