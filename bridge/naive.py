"""What an integration built around Sonoran's official SDK does, for the demo to compare against.

Every `interval` seconds it sends every call's current position, one call after another. A
429 is retried as the official SDKs retry it (at most twice, waiting Retry-After capped at
10 s, else about a second), then the update is given up. It keeps no budget of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from bridge.meta import merged
from bridge.outcomes import Answered, Meta, PatchResult, RateLimited, Updated

SDK_RETRIES = 2
SDK_RETRY_CAP = 10.0
SDK_RETRY_DEFAULT = 1.0


class Updater(Protocol):
    """The one request the naive loop makes (the bridge's CAD client fits)."""

    async def update_call(
        self, server_id: int, call_id: int, meta: Meta
    ) -> Answered[PatchResult]: ...


@dataclass
class NaiveStats:
    """What the naive loop sent and what came of it."""

    requests: int = 0
    rate_limited: int = 0
    given_up: int = 0
    landed: int = 0


class NaiveLoop:
    """Every call, every `interval` seconds, with the SDK's retries; time runs `time_scale`x."""

    def __init__(
        self,
        cad: Updater,
        positions: Callable[[], Mapping[str, tuple[float, float, float]]],
        calls: Mapping[int, str],
        metas: Mapping[int, Meta],
        *,
        interval: float = 30.0,
        time_scale: float = 1.0,
        radius: float = 50.0,
        server_id: int = 1,
    ) -> None:
        self.cad = cad
        self.positions = positions
        self.calls = dict(calls)
        self.metas = {call_id: dict(meta) for call_id, meta in metas.items()}
        self.interval = interval
        self.time_scale = time_scale
        self.radius = radius
        self.server_id = server_id
        self.stats = NaiveStats()
        self.landed_per_call: dict[int, int] = dict.fromkeys(self.calls, 0)

    async def run(self, stop: asyncio.Event) -> None:
        """Round after round until `stop` is set."""
        while not stop.is_set():
            for call_id, subject in self.calls.items():
                if stop.is_set():
                    return
                x, y, z = self.positions()[subject]
                await self._update(call_id, merged(self.metas[call_id], x, y, z, self.radius))
            try:
                await asyncio.wait_for(stop.wait(), self.interval / self.time_scale)
            except TimeoutError:
                pass

    async def _update(self, call_id: int, meta: Meta) -> None:
        for attempt in range(SDK_RETRIES + 1):
            self.stats.requests += 1
            result = (await self.cad.update_call(self.server_id, call_id, meta)).result
            if isinstance(result, Updated):
                self.stats.landed += 1
                self.landed_per_call[call_id] += 1
                return
            if not isinstance(result, RateLimited):
                self.stats.given_up += 1
                return
            self.stats.rate_limited += 1
            if attempt == SDK_RETRIES:
                self.stats.given_up += 1
                return
            # Retry-After is the CAD's own (real) seconds; the SDK's cap and default are seconds
            # of the simulated world.
            cap, default = SDK_RETRY_CAP / self.time_scale, SDK_RETRY_DEFAULT / self.time_scale
            wait = min(result.retry_after, cap) if result.retry_after is not None else default
            await asyncio.sleep(wait)
