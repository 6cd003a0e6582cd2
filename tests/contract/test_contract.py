"""Sonoran's documented example bodies as fixtures: the client turns each documented answer into
the right outcome, and the stand-in answers in the same keys, case and types, so neither can
drift from the vendor unseen."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.kit import Reply, cad_client
from bridge.cad import CadClient
from bridge.outcomes import AuthFailed, CallList, RateLimited, Updated
from bridge.standin.cad import CadStandIn, Fault

HERE = Path(__file__).parent / "documented"
FILES = ("get-calls.json", "update-dispatch-call.json", "authentication.json")
KEY = "contract-key-0123456789"


def documented(name: str) -> dict[str, Any]:
    """One documented file, from the copies kept with the tests."""
    loaded: dict[str, Any] = json.loads((HERE / name).read_text())
    return loaded


def reference_folder() -> Path | None:
    """The reference contract folder: $SONORAN_CONTRACT_DIR, else `shared/reference/
    sonoran-contract` beside the repository or one of its parents; None when absent."""
    if env := os.environ.get("SONORAN_CONTRACT_DIR"):
        return Path(env)
    for parent in Path(__file__).resolve().parents[2:5]:
        candidate = parent.parent / "shared" / "reference" / "sonoran-contract"
        if candidate.is_dir():
            return candidate
    return None


@pytest.mark.parametrize("name", FILES)
def test_the_copies_equal_the_reference_contract(name: str) -> None:
    folder = reference_folder()
    if folder is None:
        pytest.skip("no reference contract folder (set SONORAN_CONTRACT_DIR or keep ../shared)")
    assert json.loads((folder / name).read_text()) == documented(name)


def test_every_documented_body_parses_as_its_verbatim_text() -> None:
    for name in FILES:
        for part in documented(name).values():
            if isinstance(part, dict) and "verbatim" in part and part.get("valid_json"):
                assert json.loads(part["verbatim"]) == part["body"], name


# -- the client reads each documented answer into the right outcome -------------------------


def client_answering(status: int, body: Any) -> CadClient:
    """The client over the kit's fake CAD, answering every request with the documented body."""
    return cad_client(otherwise=Reply(status, body), api_key=KEY)


async def test_the_documented_call_list_is_read_whole() -> None:
    body = documented("get-calls.json")["response_200"]["body"]
    async with client_answering(200, body) as cad:
        listed = (await cad.get_calls(1)).result
    assert listed == CallList(
        calls={501: body["ActiveCalls"][0]["metaData"]},
        emergency={302: body["EmergencyCalls"][0]["metaData"]},
        closed=frozenset({480}),
    )


async def test_the_documented_update_answer_is_updated_with_its_metadata() -> None:
    body = documented("update-dispatch-call.json")["response_200"]["body"]
    async with client_answering(200, body) as cad:
        result = (await cad.update_call(1, 501, body["metaData"], "9002")).result
    assert result == Updated(call=body, meta=body["metaData"])


async def test_the_documented_problem_is_auth_failed_with_its_trace_id() -> None:
    body = documented("authentication.json")["error_problem_json_401"]["body"]
    async with client_answering(401, body) as cad:
        result = (await cad.get_calls(1)).result
    assert result == AuthFailed(401, body["detail"], {"traceId": body["traceId"]})


async def test_the_documented_429_is_rate_limited_with_its_request_id() -> None:
    body = documented("authentication.json")["rate_limited_429"]["body"]
    async with client_answering(429, body) as cad:
        result = (await cad.update_call(1, 501, {})).result
    assert result == RateLimited(None, body["message"], {"request_id": body["request_id"]})


# -- the stand-in answers in the documented shape ---------------------------------------------


def shape(value: Any, key: str = "") -> Any:
    """Keys (with their case) and JSON types of a body; a metaData object's keys are the
    call's own, so it is only an object; an empty list matches a list of anything."""
    if isinstance(value, dict):
        return "object" if key == "metaData" else {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return ["list", shape(value[0]) if value else "any"]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else "string"


def same_shape(ours: Any, theirs: Any, where: str = "$") -> list[str]:
    """Where the stand-in's body differs from the documented one in keys, case or types."""
    if isinstance(theirs, dict) and isinstance(ours, dict):
        odd = sorted(set(ours) ^ set(theirs))
        wrong = [f"{where}: keys {odd}"] if odd else []
        for k in set(ours) & set(theirs):
            wrong += same_shape(ours[k], theirs[k], f"{where}.{k}")
        return wrong
    if isinstance(theirs, list) and isinstance(ours, list):
        if "any" in (ours[1], theirs[1]):
            return []
        return same_shape(ours[1], theirs[1], f"{where}[0]")
    return [] if ours == theirs else [f"{where}: {ours} where the docs have {theirs}"]


@pytest.fixture
async def standin() -> AsyncIterator[CadStandIn]:
    async with CadStandIn(api_key=KEY) as server:
        note = {"time": "2026-04-08T21:30:00Z", "label": "Sonoran CAD", "type": "text",
                "content": "Caller is hiding."}
        server.add_call(1, 501, {"source": "integration"}, notes=[note], idents=[12, 18])
        server.add_call(1, 480, {"source": "integration"}, notes=[note], idents=[12, 18])
        server.close_call(1, 480)
        server.add_emergency_call(1, 302, {"phone": "555-0100", "postal": "9001"})
        yield server


@pytest.fixture
async def http(standin: CadStandIn) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {KEY}"}
    async with httpx.AsyncClient(base_url=standin.url, headers=headers) as client:
        yield client


async def test_the_stand_ins_call_list_has_the_documented_shape(http: httpx.AsyncClient) -> None:
    spec = documented("get-calls.json")
    query = spec["request"]["query_defaults"]
    answer = await http.get("/v2/emergency/servers/1/calls", params=query)
    assert answer.status_code == 200
    assert same_shape(shape(answer.json()), shape(spec["response_200"]["body"])) == []


async def test_the_stand_ins_update_answer_has_the_documented_shape(
    http: httpx.AsyncClient,
) -> None:
    spec = documented("update-dispatch-call.json")
    answer = await http.patch(
        "/v2/emergency/servers/1/dispatch-calls/501", json=spec["request"]["body"]
    )
    assert answer.status_code == 200
    assert same_shape(shape(answer.json()), shape(spec["response_200"]["body"])) == []


async def test_the_stand_ins_errors_have_the_documented_shapes(
    standin: CadStandIn, http: httpx.AsyncClient
) -> None:
    spec = documented("authentication.json")
    refused = await http.get("/v2/emergency/servers/1/calls", headers={"Authorization": "Basic x"})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert same_shape(shape(refused.json()), shape(spec["error_problem_json_401"]["body"])) == []
    standin.inject(Fault(429))
    limited = await http.get("/v2/emergency/servers/1/calls")
    assert limited.status_code == 429
    assert same_shape(shape(limited.json()), shape(spec["rate_limited_429"]["body"])) == []
    assert limited.headers["x-kong-request-id"]


def test_the_shape_check_sees_a_case_change() -> None:
    body = documented("get-calls.json")["response_200"]["body"]
    camel = {k[0].lower() + k[1:]: v for k, v in body.items()}
    assert same_shape(shape(camel), shape(body)) != []
