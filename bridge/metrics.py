"""`/metrics`: the daemon's figures in Prometheus' text format, one registry per daemon.

Every figure is read from the daemon's one status snapshot at scrape time (the counts in it
from `bridge.tally`); only the request durations are a histogram of their own, observed as
requests finish, and refused connections a counter of their own, counted as they are refused.
Labels are routes, statuses and reasons only: never a call, subject or server id, so the
series stay few however many calls come and go.
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
from bridge.status import Snapshot
from bridge.tally import ROUTES, RequestRecord

PREFIX = "sonoran_bridge"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds; the client gives up at `cad.timeout_seconds` (10 by default)."""


class _FromSnapshot(Collector):
    """The figures that are state, not events: read when scraped."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        view = self._snapshot()
        requests = CounterMetricFamily(
            f"{PREFIX}_requests",
            "Requests to the CAD, by route and HTTP status (error: no answer).",
            labels=["route", "status"],
        )
        for count in view.answered:
            requests.add_metric([count.route, count.status], count.count)
        yield requests
        rate_limited = CounterMetricFamily(
            f"{PREFIX}_rate_limited_requests",
            "Requests the CAD answered with 429.",
            labels=["route"],
        )
        limited = {c.route: c.count for c in view.answered if c.status == "429"}
        for route in ROUTES:
            rate_limited.add_metric([route], limited.get(route, 0))
        yield rate_limited
        dropped = CounterMetricFamily(
            f"{PREFIX}_updates_dropped",
            "Call updates that did not land on the map, by reason (gone, rate_limited, "
            "auth_failed, rejected, failed).",
            labels=["reason"],
        )
        for reason, times in view.dropped.items():
            dropped.add_metric([reason], times)
        yield dropped
        info = InfoMetricFamily(f"{PREFIX}_build", "The daemon's version.")
        info.add_metric([], {"version": __version__})
        yield info
        positions = CounterMetricFamily(
            f"{PREFIX}_positions_received", "Subject positions received from game servers."
        )
        positions.add_metric([], view.positions_received)
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
    """The daemon's Prometheus registry: the snapshot's figures, and the request durations
    `record()` observes as requests finish."""

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        # A `_created` series per counter doubles the output for nothing a dashboard uses.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = CollectorRegistry(auto_describe=True)
        self.latency = Histogram(
            f"{PREFIX}_request_duration_seconds",
            "Time from a request's start to its answer.",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.connections_refused = Counter(
            f"{PREFIX}_connections_refused",
            "Websocket connections refused or dropped, by reason (unauthorized, no_hello, "
            "bad_message, browser, over_rate, over_capacity, evicted_unauthenticated, ...).",
            ["reason"],
            registry=self.registry,
        )
        for route in ROUTES:
            self.latency.labels(route)
        self.registry.register(_FromSnapshot(snapshot))

    def record(self, request: RequestRecord) -> None:
        """Observe one finished request's duration (its counts are the tally's)."""
        self.latency.labels(request.route).observe(request.latency)

    def refused(self, reason: str) -> None:
        """Count one refused websocket connection."""
        self.connections_refused.labels(reason).inc()

    def render(self) -> bytes:
        """The exposition text of every metric."""
        return generate_latest(self.registry)
