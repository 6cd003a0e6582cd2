"""One call the CAD refuses beside three healthy movers: what share of the requests it takes.

The whole product on loopback (`bench.rig`: the stand-in, the real daemon, a feeder playing the
resource), 10x faster than production, so the window is 6 s. One run follows four moving calls
and the stand-in answers every update of the first with 400; the baseline, in the same run,
follows the three healthy ones alone. Printed: the refused call's share of every update
request, and each healthy call's pushes beside it against its pushes alone.

    python -m bench.call_faults [--windows 5]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections import Counter

import structlog

from bench.rig import FIRST_CALL, SERVER_ID, Pace, Rig
from bridge.standin.cad import Fault

PACE = Pace(speedup=10.0)
DETAIL = "metaData.postal: expected a string"


async def requests_per_call(known: int, *, refuse_first: bool, windows: float) -> Counter[int]:
    """Update requests (status 200 or not) per call id the stand-in saw, and pushes (200)."""
    async with Rig(PACE, known=known, unknown=0, late=0) as rig:
        refused = rig.known[0]
        if refuse_first:
            rig.standin.inject(Fault(400, detail=DETAIL), 1_000_000, call=(SERVER_ID, refused))
        await rig.windows(windows)
        seen: Counter[int] = Counter()
        for record in rig.standin.requests:
            if record.route == "update_call":
                call_id = int(record.path.rsplit("/", 1)[1])
                seen[call_id] += 1
                seen[-call_id] += record.status == 200  # pushes, under the negated id
        return seen


async def measure(windows: float) -> tuple[Counter[int], Counter[int]]:
    """(four calls, the first refused; the three healthy ones alone), side by side."""
    beside, alone = await asyncio.gather(
        requests_per_call(4, refuse_first=True, windows=windows),
        requests_per_call(3, refuse_first=False, windows=windows),
    )
    return beside, alone


def main(argv: list[str] | None = None) -> int:
    """Run both and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=float, default=5.0, help="budget windows to run")
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    beside, alone = asyncio.run(measure(args.windows))
    calls = [FIRST_CALL + i for i in range(4)]
    refused, healthy = calls[0], calls[1:]
    total = sum(beside[c] for c in calls)
    print(f"{args.windows:g} windows of {PACE.window:g} s, 10 updates a window, 4 moving calls;")
    print(f"call {refused} answered 400 every time ({DETAIL!r})")
    print(
        f"refused call: {beside[refused]} of {total} update requests "
        f"({beside[refused] / max(1, total):.0%}), {beside[-refused]} pushed"
    )
    alone_calls = [FIRST_CALL + i for i in range(3)]
    pushes_beside = [beside[-c] for c in healthy]
    pushes_alone = [alone[-c] for c in alone_calls]
    print(
        f"healthy calls' pushes beside it: {'/'.join(map(str, pushes_beside))}; "
        f"running alone: {'/'.join(map(str, pushes_alone))}; "
        f"ratio {sum(pushes_beside) / max(1, sum(pushes_alone)):.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
