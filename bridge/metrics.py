"""`/metrics`: the daemon's figures in Prometheus' text format, one registry per daemon.

Request figures are counted as requests finish; the rest is read from a status snapshot at
scrape time. Labels are routes, statuses and reasons only: never a call, subject or server id,
so the series stay few however many calls come and go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from bridge import __version__
from bridge.status import RequestRecord, Snapshot

PREFIX = "sonoran_bridge"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds; the client gives up at `cad.timeout_seconds` (10 by default)."""


class _FromSnapshot(Collector):
    """The figures that are state, not events: read when scraped."""

    def __init__(self, snapshot: Callable[[], Snapshot], positions: Callable[[], int]) -> None:
        self._snapshot = snapshot
        self._positions = positions

    def collect(self) -> Iterator[Metric]:
        view = self._snapshot()
        info = InfoMetricFamily(f"{PREFIX}_build", "The daemon's version.")
        info.add_metric([], {"version": __version__})
        yield info
        positions = CounterMetricFamily(
            f"{PREFIX}_positions_received", "Subject positions received from game servers."
        )
        positions.add_metric([], self._positions())
        yield positions
        yield GaugeMetricFamily(
            f"{PREFIX}_calls_tracked", "Dispatch calls being followed.", value=len(view.calls)
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_game_servers_connected",
            "Game servers linked to the daemon.",
            value=len(view.links),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_game_servers_disconnected",
            "Game servers whose link went down and has not come back (their calls stand still).",
            value=len(view.departed),
        )
        error = GaugeMetricFamily(
            f"{PREFIX}_map_error_meters",
            "Mean distance between followed subjects and their calls as the CAD draws them.",
        )
        if view.mean_error is not None:
            error.add_metric([], view.mean_error)
        yield error
        used = GaugeMetricFamily(
            f"{PREFIX}_budget_slots_used",
            "Requests counted in the current window (in flight included).",
            labels=["route"],
        )
        limit = GaugeMetricFamily(
            f"{PREFIX}_budget_slots_limit",
            "Requests allowed per window on the key.",
            labels=["route"],
        )
        share = GaugeMetricFamily(
            f"{PREFIX}_budget_slots_share",
            "Requests per window the daemon allows itself (below the limit once another "
            "integration on the key drew 429s).",
            labels=["route"],
        )
        paused = GaugeMetricFamily(
            f"{PREFIX}_budget_paused_seconds",
            "Seconds the CAD asked the daemon to wait before its next request.",
            labels=["route"],
        )
        for budget in view.budgets:
            used.add_metric([budget.route], budget.used)
            limit.add_metric([budget.route], budget.limit)
            share.add_metric([budget.route], budget.share)
            paused.add_metric([budget.route], budget.paused_for)
        yield from (used, limit, share, paused)
        yield GaugeMetricFamily(
            f"{PREFIX}_auth_failing",
            "1 while the CAD refuses the API key.",
            value=float(view.auth_failing),
        )


class Metrics:
    """The daemon's Prometheus registry, fed by `record()` as requests finish."""

    def __init__(self, snapshot: Callable[[], Snapshot], positions: Callable[[], int]) -> None:
        # A `_created` series per counter doubles the output for nothing a dashboard uses.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            f"{PREFIX}_requests",
            "Requests to the CAD, by route and HTTP status (error: no answer).",
            ["route", "status"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            f"{PREFIX}_rate_limited_requests",
            "Requests the CAD answered with 429.",
            ["route"],
            registry=self.registry,
        )
        self.latency = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Time from a request's start to its answer.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.dropped = Counter(
            f"{PREFIX}_updates_dropped",
            "Call updates that did not land on the map, by reason (gone, rate_limited, "
            "auth_failed, rejected, failed).",
            ["reason"],
            registry=self.registry,
        )
        self.connections_refused = Counter(
            f"{PREFIX}_connections_refused",
            "Websocket connections refused or dropped, by reason (unauthorized, no_hello, "
            "bad_message, browser, over_rate, over_capacity, evicted_unauthenticated, ...).",
            ["reason"],
            registry=self.registry,
        )
        for route in ("update_call", "get_calls"):
            self.rate_limited.labels(route)
            self.latency.labels(route)
        self.registry.register(_FromSnapshot(snapshot, positions))

    def record(self, request: RequestRecord, dropped: str | None) -> None:
        """Count one finished request; `dropped` is why its update did not land, if it did not."""
        self.requests.labels(request.route, request.status).inc()
        if request.status == "429":
            self.rate_limited.labels(request.route).inc()
        self.latency.labels(request.route).observe(request.latency)
        if dropped is not None and request.route == "update_call":
            self.dropped.labels(dropped).inc()

    def refused(self, reason: str) -> None:
        """Count one refused websocket connection."""
        self.connections_refused.labels(reason).inc()

    def render(self) -> bytes:
        """The exposition text of every metric."""
        return generate_latest(self.registry)
