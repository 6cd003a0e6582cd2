"""A model of the CAD's rate-limit window on the kit's virtual clock."""

from __future__ import annotations

import math

from bench.kit import LIMIT, WINDOW, VirtualTime
from bridge.outcomes import CallList, GetResult, Meta, PatchResult, Quota, RateLimited, Updated

__all__ = ["LIMIT", "WINDOW", "SharedKeyCad", "VirtualTime"]


class SharedKeyCad:
    """The CAD's strict sliding window of `LIMIT` updates per `WINDOW`, as the stand-in keeps
    it, shared with another integration on the key; each answer takes `latency` seconds."""

    def __init__(self, time: VirtualTime, *, quota_headers: bool, latency: float = 0.3) -> None:
        self.time = time
        self.quota_headers = quota_headers
        self.latency = latency
        self.admitted: list[float] = []
        self.ours: list[float] = []
        self.refused: list[tuple[float, bool]] = []
        """Each 429: when, and whether our own requests alone filled the window."""
        self.drawn: dict[int, tuple[float, float]] = {}
        self.last_quota: Quota | None = None

    def _in_window(self, times: list[float], now: float) -> list[float]:
        return [t for t in times if t > now - WINDOW]

    def spend_external(self) -> None:
        """The neighbour's request: counted whether or not it was refused itself."""
        self.admitted.append(self.time.now)

    async def update_call(self, server_id: int, call_id: int, meta: Meta) -> PatchResult:
        self.time.advance(self.latency / 2)
        now = self.time.now
        used = self._in_window(self.admitted, now)
        result: PatchResult
        if len(used) >= LIMIT:
            self.refused.append((now, len(self._in_window(self.ours, now)) >= LIMIT))
            result = RateLimited(max(1, math.ceil(used[0] + WINDOW - now)), "API rate limit")
        else:
            self.admitted.append(now)
            self.ours.append(now)
            self.drawn[call_id] = (float(meta["x"]), float(meta["y"]))
            result = Updated(call={"callId": call_id, "metaData": meta}, meta=meta)
        used = self._in_window(self.admitted, now)
        self.last_quota = (
            Quota(
                remaining=max(0, LIMIT - len(used)),
                reset_after=math.ceil(used[0] + WINDOW - now) if used else 0,
            )
            if self.quota_headers
            else None
        )
        self.time.advance(self.latency / 2)
        return result

    async def get_calls(self, server_id: int) -> GetResult:
        return CallList(calls={})
