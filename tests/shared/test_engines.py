"""Both engines (and fakeredis) hold the same rules: strict count, hold, confirm, pause, pace."""

from __future__ import annotations

import asyncio

from bridge.shared.engine import Engine, Reservation, Terms, Wait

ROUTE = "update_call"
TERMS = Terms(limit=3, window=0.4, hold=0.8)


async def take(engine: Engine, terms: Terms = TERMS, **demand: float) -> Reservation | Wait:
    answer = await engine.reserve(ROUTE, terms, **demand)
    assert isinstance(answer, Reservation | Wait), answer
    return answer


async def test_never_more_than_the_limit_across_daemons(engines: list[Engine]) -> None:
    answers = await asyncio.gather(*(take(engines[i % 3]) for i in range(9)))
    granted = [a for a in answers if isinstance(a, Reservation)]
    assert len(granted) == 3
    waits = [a for a in answers if isinstance(a, Wait)]
    assert {w.reason for w in waits} == {"full"}
    # Every slot is in flight: none frees before its end plus a window.
    assert all(w.seconds >= TERMS.window - 0.05 for w in waits)
    assert await engines[0].used(ROUTE, TERMS) == 3


async def test_a_confirmed_slot_counts_a_window_from_its_end(engines: list[Engine]) -> None:
    first = await take(engines[0])
    assert isinstance(first, Reservation)
    for engine in engines[1:]:
        assert isinstance(await take(engine), Reservation)
    await asyncio.sleep(0.1)
    assert await engines[0].confirm(first, TERMS)
    wait = await take(engines[1])
    assert isinstance(wait, Wait) and wait.reason == "full"
    assert TERMS.window - 0.1 <= wait.seconds <= TERMS.window + 0.01
    await asyncio.sleep(wait.seconds + 0.02)
    assert isinstance(await take(engines[2]), Reservation)


async def test_an_unconfirmed_slot_expires_after_the_hold(engines: list[Engine]) -> None:
    for _ in range(3):
        assert isinstance(await take(engines[0]), Reservation)  # then the daemon died
    await asyncio.sleep(TERMS.hold + TERMS.window - 0.15)
    assert isinstance(await take(engines[1]), Wait)
    await asyncio.sleep(0.2)
    assert isinstance(await take(engines[1]), Reservation)


async def test_a_cancelled_slot_is_free_at_once(engines: list[Engine]) -> None:
    held = [await take(engines[0]) for _ in range(3)]
    assert isinstance(await take(engines[1]), Wait)
    assert isinstance(held[1], Reservation)
    assert await engines[0].cancel(held[1], TERMS)
    assert isinstance(await take(engines[1]), Reservation)


async def test_a_pause_stops_every_daemon(engines: list[Engine]) -> None:
    assert await engines[0].pause(ROUTE, 0.3, TERMS)
    for engine in engines:
        wait = await take(engine)
        assert isinstance(wait, Wait) and wait.reason == "paused"
        assert 0.2 < wait.seconds <= 0.3
    await asyncio.sleep(0.32)
    assert isinstance(await take(engines[2]), Reservation)


async def test_spacing_paces_every_daemon_together(engines: list[Engine]) -> None:
    paced = Terms(limit=10, window=2.0, hold=1.0, spacing=0.2)
    assert isinstance(await take(engines[0], paced), Reservation)
    wait = await take(engines[1], paced)
    assert isinstance(wait, Wait) and wait.reason == "paced"
    assert 0.1 < wait.seconds <= 0.2
    await asyncio.sleep(wait.seconds + 0.01)
    assert isinstance(await take(engines[1], paced), Reservation)


async def test_a_weaker_demand_defers_to_a_stronger_live_one(engines: list[Engine]) -> None:
    terms = Terms(limit=10, window=2.0, hold=1.0, spacing=0.0, demand_ttl=0.3)
    strong, weak, _ = engines
    # The strong daemon says what it wants, then the weak one asks: it waits.
    assert isinstance(await take(strong, terms, demand=500.0, after=400.0), Reservation)
    deferred = await take(weak, terms, demand=100.0)
    assert isinstance(deferred, Wait) and deferred.reason == "deferred"
    # A stronger word wins; a demand left unrefreshed past its lifetime no longer counts.
    assert isinstance(await take(weak, terms, demand=450.0), Reservation)
    assert isinstance(await take(strong, terms, demand=20.0, after=300.0), Reservation)
    deferred = await take(weak, terms, demand=1.0)
    assert isinstance(deferred, Wait) and deferred.reason == "deferred"
    await asyncio.sleep(0.35)
    assert isinstance(await take(weak, terms, demand=1.0), Reservation)


async def test_requests_sent_alone_are_counted_once_recorded(engines: list[Engine]) -> None:
    assert await engines[0].record(ROUTE, [0.0, 0.1, 0.2], TERMS)
    wait = await take(engines[1])
    assert isinstance(wait, Wait) and wait.reason == "full"
    assert 0.1 < wait.seconds <= TERMS.window - 0.15
