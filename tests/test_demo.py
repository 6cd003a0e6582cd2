"""The demo serves the status page while it runs, and sets a naive SDK-style loop beside the
bridge on the same simulated world."""

from __future__ import annotations

import asyncio
import io
import re
import socket

import httpx

from bridge.demo import DemoReport, print_summary, run_demo
from bridge.naive import NaiveLoop
from bridge.outcomes import Answered, Meta, PatchResult, RateLimited, Transient, Updated


async def test_the_demo_serves_its_status_page_and_compares_with_a_naive_loop() -> None:
    out = io.StringIO()
    task = asyncio.create_task(
        run_demo(seconds=4.0, calls=4, speedup=15.0, out=out, status_port=0, progress_every=60)
    )
    async with asyncio.timeout(10):
        while not (found := re.search(r"watch it: (http://\S+/)", out.getvalue())):
            await asyncio.sleep(0.05)
    url = found[1]
    async with httpx.AsyncClient() as client:
        view = None
        async with asyncio.timeout(10):
            while view is None or not any(c["drawn_at"] for c in view["calls"]):
                await asyncio.sleep(0.2)
                view = (await client.get(url + "status.json")).json()
        page = await client.get(url)
    assert {c["call_id"] for c in view["calls"]} == {501, 502, 503, 504}
    assert "live map" in page.text.lower()
    report = await task
    assert report.status_url == url
    assert report.rate_limited == 0 and report.max_in_window <= report.limit
    assert report.naive.requests > 0 and sum(c.naive_pushes for c in report.calls) > 0
    assert all(c.naive_errors for c in report.calls)
    summary = io.StringIO()
    print_summary(report, summary)
    text = summary.getvalue()
    assert "side by side" in text and "naive loop (30 s)" in text
    table = dict(
        re.findall(r"^  (update requests|429s|mean map error)\s+(.+)$", text, re.MULTILINE)
    )
    assert table["429s"].split()[0] == "0"
    assert table["update requests"].split() == [str(report.requests), str(report.naive.requests)]


class Scripted:
    """Answers the naive loop's updates from a script, recording when each came."""

    def __init__(self, answers: list[PatchResult]) -> None:
        self.answers = answers
        self.sent: list[tuple[int, float]] = []

    async def update_call(self, server_id: int, call_id: int, meta: Meta) -> Answered[PatchResult]:
        self.sent.append((call_id, asyncio.get_running_loop().time()))
        return Answered(self.answers.pop(0) if self.answers else Updated(call={}, meta=meta))


async def test_the_naive_loop_retries_a_429_twice_like_the_sdk_then_gives_up() -> None:
    limited = RateLimited(None, "API rate limit exceeded")
    cad = Scripted([limited, limited, limited, Updated(call={}, meta={})])
    stop = asyncio.Event()
    loop = NaiveLoop(
        cad,
        lambda: {"player:1": (1.0, 2.0, 3.0), "player:2": (4.0, 5.0, 6.0)},
        {501: "player:1", 502: "player:2"},
        {501: {"postal": "1"}, 502: {"postal": "2"}},
        interval=3600.0,
        time_scale=100.0,
    )
    task = asyncio.create_task(loop.run(stop))
    async with asyncio.timeout(5):
        while len(cad.sent) < 4:
            await asyncio.sleep(0.005)
    stop.set()
    await task
    assert [call_id for call_id, _ in cad.sent] == [501, 501, 501, 502]
    # Without Retry-After the SDK waits about a second (here 1 s / 100) between attempts.
    gaps = [b - a for (_, a), (_, b) in zip(cad.sent, cad.sent[1:], strict=False)][:2]
    assert all(gap >= 0.009 for gap in gaps)
    assert (loop.stats.requests, loop.stats.rate_limited, loop.stats.given_up) == (4, 3, 1)
    assert loop.landed_per_call == {501: 0, 502: 1}


async def test_the_naive_loop_sends_what_the_call_had_with_the_position() -> None:
    cad = Scripted([Transient("HTTP 503: down", True)])
    stop = asyncio.Event()
    sent: list[Meta] = []
    original = cad.update_call

    async def keep(server_id: int, call_id: int, meta: Meta) -> Answered[PatchResult]:
        sent.append(meta)
        return await original(server_id, call_id, meta)

    cad.update_call = keep  # type: ignore[method-assign]
    loop = NaiveLoop(
        cad, lambda: {"p": (10.5, -3.0, 1.0)}, {7: "p"}, {7: {"uuid": "u"}}, interval=3600.0
    )
    task = asyncio.create_task(loop.run(stop))
    async with asyncio.timeout(5):
        while not sent:
            await asyncio.sleep(0.005)
    stop.set()
    await task
    assert sent[0]["uuid"] == "u" and sent[0]["x"] == "10.5" and sent[0]["y"] == "-3"
    assert loop.stats.given_up == 1  # a failure is not retried: the SDK only retries 429s


async def test_a_taken_status_port_falls_back_to_a_free_one() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        report = await run_demo(
            seconds=1.0, calls=1, speedup=20.0, out=io.StringIO(), status_port=taken
        )
    assert report.status_url is not None and f":{taken}/" not in report.status_url


def test_the_summary_says_what_the_map_error_means() -> None:
    out = io.StringIO()
    report = DemoReport(
        seconds=1.0,
        simulated_seconds=4.0,
        calls=[],
        requests=0,
        rate_limited=0,
        max_in_window=0,
        limit=10,
    )
    print_summary(report, out)
    text = out.getvalue()
    assert "mean map error: how far, on average, a call on the dispatcher's map is" in text
    assert "50 m radius" in text
