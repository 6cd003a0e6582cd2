"""CadClient on the documented shapes: the lists in both cases, closed calls, 404s told apart,
and the ids Sonoran's support asks for (the kit's fake CAD: one answer per test)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.kit import Reply, cad_client
from bridge.cad import CadClient, gone_what
from bridge.outcomes import CallList, Gone, RateLimited, Rejected, Transient, Updated

KEY = "sk-test-lists-do-not-leak"


def client(status: int, body: Any = None, headers: dict[str, str] | None = None) -> CadClient:
    """The client over the kit's fake CAD, giving every request this one answer."""
    answer = Reply(status, b"" if body is None else body, headers or {})
    return cad_client(otherwise=answer, base="https://api.example.test", api_key=KEY)


async def test_the_pascal_case_lists_are_read() -> None:
    body = {
        "ActiveCalls": [{"callId": 501, "status": 1, "metaData": {"x": "1"}}],
        "EmergencyCalls": [{"callId": 302, "isEmergency": True, "metaData": {"postal": "9001"}}],
        "ClosedCalls": [{"callId": 480, "status": 2, "metaData": {}}],
        "ClosedCallCount": 18,
    }
    async with client(200, body) as cad:
        listed = (await cad.get_calls(1)).result
    assert listed == CallList(
        {501: {"x": "1"}}, emergency={302: {"postal": "9001"}}, closed=frozenset({480})
    )


async def test_pascal_case_wins_when_a_body_has_both() -> None:
    body = {"ActiveCalls": [{"callId": 1, "metaData": {}}], "activeCalls": [{"callId": 2}]}
    async with client(200, body) as cad:
        listed = (await cad.get_calls(1)).result
    assert isinstance(listed, CallList) and set(listed.calls) == {1}


async def test_a_911_id_equal_to_a_dispatch_id_stays_apart() -> None:
    body = {
        "ActiveCalls": [{"callId": 501, "metaData": {"a": "dispatch"}}],
        "EmergencyCalls": [{"callId": 501, "metaData": {"a": "911"}}],
    }
    async with client(200, body) as cad:
        listed = (await cad.get_calls(1)).result
    assert isinstance(listed, CallList)
    assert listed.calls == {501: {"a": "dispatch"}} and listed.emergency == {501: {"a": "911"}}


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # Lists null: read as empty; closed ones only the ClosedCalls list names.
        ({"ActiveCalls": None, "EmergencyCalls": []}, CallList({})),
        # String ids and extra keys are read; null metaData is unknown, never {}.
        (
            {"ActiveCalls": [{"callId": "7", "metaData": None, "extra": {"a": 1}}], "More": 1},
            CallList({7: None}),
        ),
        # Only the 911 list: no dispatch call is taken for gone by it alone... it is complete.
        ({"EmergencyCalls": [{"callId": 3}]}, CallList({}, emergency={3: None})),
        # An active item with status 2 is closed, not active.
        ({"ActiveCalls": [{"callId": 8, "status": 2}]}, CallList({}, closed=frozenset({8}))),
        # A closed item without a readable id is skipped: the active lists are complete.
        ({"ActiveCalls": [], "ClosedCalls": [{"callId": None}, 5]}, CallList({})),
    ],
)
async def test_shapes_the_docs_do_not_promise_give_clear_outcomes(
    body: dict[str, Any], expected: CallList
) -> None:
    async with client(200, body) as cad:
        assert (await cad.get_calls(1)).result == expected


@pytest.mark.parametrize(
    "body",
    [{"calls": []}, {"ClosedCalls": []}, {"ActiveCalls": {"1": {}}}, {"EmergencyCalls": "x"}],
)
async def test_bodies_without_readable_active_lists_are_transient(body: dict[str, Any]) -> None:
    async with client(200, body) as cad:
        result = (await cad.get_calls(1)).result
    assert isinstance(result, Transient) and result.reached_server


async def test_the_list_read_asks_for_closed_calls() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ActiveCalls": []})

    async with cad_client(otherwise=handler, api_key=KEY) as cad:
        await cad.get_calls(1)
    assert int(seen[0].url.params["closedLimit"]) >= 1


# -- a PATCH of a closed call -----------------------------------------------------------------


@pytest.mark.parametrize("status", [2, "2"])
async def test_an_update_answered_with_status_2_is_the_call_gone(status: Any) -> None:
    async with client(200, {"callId": 501, "status": status, "metaData": {"x": "1"}}) as cad:
        result = (await cad.update_call(1, 501, {"x": "1"})).result
    assert isinstance(result, Gone) and result.what == "call" and "closed" in result.detail


async def test_an_update_answered_with_status_1_is_updated() -> None:
    async with client(200, {"callId": 501, "status": 1, "metaData": {"x": "1"}}) as cad:
        assert isinstance((await cad.update_call(1, 501, {"x": "1"})).result, Updated)


# -- 404s told apart ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("detail", "what"),
    [
        ("Server 1 is not configured", "server"),
        ("serverId not configured", "server"),
        ("The serverId is not configured for this community.", "server"),
        ("Dispatch call 501 not found on server 1", "call"),
        ("Call does not exist", "call"),
        ("Not Found", "unknown"),
        ("", "unknown"),
        ("No route for /v2/x", "unknown"),
    ],
)
def test_a_404s_text_says_what_is_missing(detail: str, what: str) -> None:
    assert gone_what(detail) == what


async def test_a_404_problem_is_read_into_gone_with_its_trace() -> None:
    body = {"type": "https://httpstatuses.com/404", "title": "Not Found", "status": 404,
            "detail": "serverId not configured", "instance": "/v2", "traceId": "00-abc"}
    async with client(404, body, {"x-kong-request-id": "kong-1"}) as cad:
        result = (await cad.update_call(1, 501, {})).result
    assert result == Gone(
        "serverId not configured", "server", {"traceId": "00-abc", "x-kong-request-id": "kong-1"}
    )


# -- the ids support asks for ------------------------------------------------------------------


async def test_a_429_carries_its_request_id_and_the_gateway_id() -> None:
    body = {"message": "API rate limit exceeded", "request_id": "9457fb38"}
    async with client(429, body, {"X-Kong-Request-Id": "k-9"}) as cad:
        result = (await cad.get_calls(1)).result
    assert isinstance(result, RateLimited)
    assert result.trace == {"request_id": "9457fb38", "x-kong-request-id": "k-9"}


async def test_a_5xx_without_json_still_carries_the_gateway_id() -> None:
    async with client(502, None, {"x-kong-request-id": "k-5"}) as cad:
        result = (await cad.get_calls(1)).result
    assert isinstance(result, Transient) and result.trace == {"x-kong-request-id": "k-5"}


async def test_a_trace_id_that_echoes_the_key_is_redacted() -> None:
    async with client(400, {"detail": "bad", "traceId": f"t-{KEY}"}) as cad:
        result = (await cad.update_call(1, 501, {})).result
    assert isinstance(result, Rejected) and KEY not in str(result.trace)


async def test_the_failure_log_line_carries_the_ids() -> None:
    from bridge.driver import ListAnswer
    from bridge.planner import Fetch
    from bridge.pusher import _log_outcome

    body = {"message": "API rate limit exceeded", "request_id": "r-1"}
    async with client(429, body, {"x-kong-request-id": "k-1"}) as cad:
        result = (await cad.get_calls(1)).result
    with structlog.testing.capture_logs() as logs:
        _log_outcome(ListAnswer(Fetch(1), result, None, 0.0, 0.0))
    assert logs[0]["request_id"] == "r-1" and logs[0]["x-kong-request-id"] == "k-1"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=3),
    max_leaves=12,
)
items = st.dictionaries(
    st.sampled_from(["callId", "metaData", "status", "postal", "isEmergency", "x"]),
    json_values | st.integers(min_value=-3, max_value=600) | st.just("501"),
    max_size=4,
) | json_values
lists = st.dictionaries(
    st.sampled_from(["ActiveCalls", "activeCalls", "EmergencyCalls", "emergencyCalls",
                     "ClosedCalls", "closedCalls", "ClosedCallCount", "other"]),
    st.lists(items, max_size=4) | json_values,
    max_size=5,
)


@settings(max_examples=150, deadline=None)
@given(body=lists)
def test_any_json_body_of_the_list_gives_a_typed_outcome(body: dict[str, Any]) -> None:
    from bridge.cad import _call_list

    result = _call_list(body, 200)
    assert isinstance(result, CallList | Transient)
    if isinstance(result, CallList):
        assert not set(result.closed) & set(result.calls)
        assert all(meta is None or isinstance(meta, dict) for meta in result.calls.values())
