"""A bad value in the shared store (another writer's, a bad edit) never stops the daemons.

Each engine (fakeredis, a real redis-server, a real mariadbd) gets the entry written straight
into its store, as a hostile or broken neighbour would, and must go on: waits capped at
`longest(terms)`, malformed entries dropped and named in the answer.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from structlog.testing import capture_logs

from bridge.budget import Budget
from bridge.build import planner_gate
from bridge.planner import Planner, Push
from bridge.scheduler import PacedAccumulator
from bridge.shared.engine import Answer, Engine, Reservation, Terms, Wait, longest
from bridge.shared.gate import UPDATE, terms_for

ROUTE = "update_call"
TERMS = Terms(limit=3, window=0.4, hold=0.8)
DEMANDING = Terms(limit=3, window=0.4, hold=0.8, spacing=0.0, demand_ttl=0.5)
YEARS = 10 * 365 * 86_400.0


async def write(engine: Engine, redis: list[Any], sql: tuple[str, tuple[Any, ...]]) -> None:
    """Put a bad entry in the engine's store: a Redis command, or a MariaDB statement."""
    client = getattr(engine, "_client", None)
    if client is not None:
        keys = engine._keys(ROUTE)  # type: ignore[attr-defined]  # the engine's private key layout is what this test corrupts
        await client.execute_command(*[keys[1] if a == "STATE" else keys[0] if a == "LOG" else a
                                       for a in redis])  # fmt: skip
    else:
        space = engine._keyspace  # type: ignore[attr-defined]  # hex: safe to quote
        await engine._run(sql[0].replace("KS", f"'{space}'"), sql[1])  # type: ignore[attr-defined]  # the engine's private query runner writes the bad entry


async def reserve(engine: Engine, terms: Terms = TERMS, **demand: float) -> Reservation | Wait:
    answer = await engine.reserve(ROUTE, terms, **demand)
    assert isinstance(answer, Reservation | Wait), answer
    return answer


async def test_a_pause_years_ahead_is_clamped_to_the_longest_wait(engines: list[Engine]) -> None:
    assert isinstance(await reserve(engines[0]), Reservation)  # the state exists
    ahead = time.time() + YEARS
    await write(
        engines[0],
        ["HSET", "STATE", "paused_until", f"{ahead:.6f}"],
        ("UPDATE sonoran_bridge_route SET paused_until = %s WHERE keyspace = KS", (ahead,)),
    )
    answer = await reserve(engines[1])
    print(f"a pause {YEARS:.0f} s ahead in the store: the daemon waits {answer}")
    assert isinstance(answer, Wait) and answer.reason == "paused"
    assert answer.seconds <= longest(TERMS) + 0.01
    assert "paused_until: too far ahead" in answer.skipped
    again = await reserve(engines[2])
    assert isinstance(again, Wait) and again.seconds <= longest(TERMS) and not again.skipped
    await asyncio.sleep(again.seconds + 0.05)
    assert isinstance(await reserve(engines[2]), Reservation)


async def test_a_malformed_demand_is_dropped_and_named(engines: list[Engine]) -> None:
    assert isinstance(await reserve(engines[0], DEMANDING, demand=1.0), Reservation)
    await write(
        engines[0],
        ["HSET", "STATE", "d:intruder", "a lot"],
        (
            "INSERT INTO sonoran_bridge_demand (keyspace, route, member, demand, at) "
            "VALUES (KS, 'update_call', 'intruder', 1e300, %s)",
            (time.time() + YEARS,),
        ),
    )
    answer = await reserve(engines[1], DEMANDING, demand=5.0)
    assert isinstance(answer, Reservation), answer
    assert any("malformed demand" in entry for entry in answer.skipped)
    assert isinstance(await reserve(engines[2], DEMANDING, demand=5.0), Reservation)


async def test_slots_ending_years_ahead_are_freed(engines: list[Engine]) -> None:
    for _ in range(3):
        assert isinstance(await reserve(engines[0]), Reservation)
    for engine in engines:
        await engine.close()
    ahead = time.time() + YEARS
    await write(
        engines[0],
        ["ZADD", "LOG", f"{ahead:.6f}", "x1", f"{ahead:.6f}", "x2", f"{ahead:.6f}", "x3"],
        ("UPDATE sonoran_bridge_slot SET mark = %s WHERE keyspace = KS", (ahead,)),
    )
    await asyncio.sleep(TERMS.window + TERMS.hold + 0.05)  # every real slot has expired
    answer = await reserve(engines[1])
    assert isinstance(answer, Reservation), answer
    assert any("too far ahead" in entry for entry in answer.skipped)


@pytest.mark.parametrize("value", ["soon", "nan", "inf"])
async def test_a_pause_that_is_not_a_number_is_dropped_in_redis(
    engines: list[Engine], value: str
) -> None:
    if getattr(engines[0], "_client", None) is None:
        pytest.skip("MariaDB keeps the pause in a DOUBLE column: it cannot hold text")
    assert isinstance(await reserve(engines[0]), Reservation)
    await write(engines[0], ["HSET", "STATE", "paused_until", value], ("", ()))
    answer = await reserve(engines[1])
    assert isinstance(answer, Reservation), answer
    assert "paused_until: not a number" in answer.skipped
    assert await engines[2].pause(ROUTE, 0.1, TERMS)


class Answering:
    """An engine that always answers the same (a store holding one bad value)."""

    member = "a"

    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    async def reserve(self, route: str, terms: Terms, **_: float) -> Answer:
        return self.answer


async def test_the_gate_caps_any_wait_an_engine_asks_for_and_logs_it_once() -> None:
    now = 1_000.0
    planner = Planner(
        policy=PacedAccumulator(1.0, 180.0),
        update_budget=Budget(10, 60.0, 1.0),
        get_budget=None,
    )
    terms = {UPDATE: terms_for(10, 60.0, 1.0, 10.0, 1.0)}
    engine = Answering(Wait(YEARS, "paused", "e1", ("paused_until: too far ahead",)))
    gate = planner_gate(planner, engine, terms, clock=lambda: now)  # type: ignore[arg-type]  # a scripted engine that answers one Wait, not a full Engine
    with capture_logs() as logged:
        for _ in range(3):
            assert not await gate.admit(Push((1, 501), {}, 0.0, 0.0, 0.0, 50.0), now)
    resumes = planner.update_budget.next_slot(now) - now
    print(f"the engine asks for a wait of {YEARS:.0f} s: the daemon asks again in {resumes:.0f} s")
    assert resumes <= longest(terms[UPDATE]) == 3 * 61.0
    events = [e["event"] for e in logged]
    assert len([e for e in events if "past the cap" in e]) == 1
    assert len([e for e in events if "malformed entry" in e]) == 1
