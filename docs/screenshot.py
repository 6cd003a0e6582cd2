"""Regenerates docs/status.png: the demo's status page, taken in headless Chromium while its
calls move.

    python docs/screenshot.py [--out docs/status.png] [--after 20] [--size 1400,1600]

Runs `sonoran-bridge demo` in this process (daemon, CAD stand-in and simulated game on
loopback; no API key) and takes the page `--after` seconds in. Needs Debian's `chromium`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import re
import shutil
import sys
import tempfile
from pathlib import Path

import structlog

from bridge.demo import run_demo

ROOT = Path(__file__).resolve().parent.parent


async def screenshot(out: Path, after: float, size: str) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("needs chromium (apt-get install chromium)")
    # The demo's log lines would bury the one line this prints.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    printed = io.StringIO()
    demo = asyncio.create_task(
        run_demo(seconds=after + 15, calls=8, speedup=4.0, out=printed, status_port=0)
    )
    async with asyncio.timeout(20):
        while not (found := re.search(r"watch it: (http://\S+/)", printed.getvalue())):  # noqa: ASYNC110 - the demo prints, it sets no event
            await asyncio.sleep(0.05)
    await asyncio.sleep(after)
    with tempfile.TemporaryDirectory() as profile:
        process = await asyncio.create_subprocess_exec(
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=3000",  # the page's first read of /status.json, drawn
            f"--screenshot={out}",
            f"--window-size={size}",
            found[1],
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await asyncio.wait_for(process.wait(), 60)
    report = await demo
    print(f"wrote {out} ({report.requests} requests, mean map error {report.mean_error:.0f} m)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "status.png")
    parser.add_argument("--after", type=float, default=20.0, help="seconds into the demo")
    parser.add_argument("--size", default="1400,1600", help="the window, width,height")
    args = parser.parse_args()
    asyncio.run(screenshot(args.out, args.after, args.size))


if __name__ == "__main__":
    main()
