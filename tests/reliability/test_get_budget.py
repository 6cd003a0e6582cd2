"""The list reads leave sonorancad's poll room, and a closed call stops costing anything within
a bounded time (bench.get_budget: loopback rig, strict stand-in, virtual time)."""

from __future__ import annotations

from bench.get_budget import run


async def test_reads_beside_sonorancads_poll_draw_no_429_and_closes_are_seen() -> None:
    after = await run("after", 200)
    assert after.own_429s == 0 and after.sonorancad_429s == 0
    assert after.reads_per_minute <= 3.0  # the GET budget's 3 of the key's 5
    assert after.patches_on_closed == 0
    # A close no event told of: seen by the next close check (30 s) at most.
    assert all(t is not None and t <= 31.0 for t in after.closed_told_after)


async def test_the_old_reading_starved_sonorancad_and_kept_pushing_a_closed_call() -> None:
    before = await run("before", 200)
    assert before.sonorancad_429s > 0
    assert before.patches_on_closed > 0 and before.closed_told_after == [None, None]
