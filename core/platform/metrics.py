"""Prometheus metrics of the web and beat processes, and gauges read from PostgreSQL.

Each process serves its own registry on a port of its own (settings *_METRICS_PORT, off by
default), never on the public site: a scrape sees route patterns and schedule names, nothing
of any tenant. The relay's metrics are relays/metrics.py; the workers' are
core/platform/worker_metrics.py (Celery's prefork children need multiprocess mode there).
docs/observability.md lists every metric.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from celery import signals
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

# A request whose path resolved to no URL pattern (a 404 before any view): one label for all.
UNMATCHED_ROUTE = "unmatched"
# Any other method a client makes up is counted as "other": labels stay few.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def serve(registry: CollectorRegistry, port: int, addr: str = "127.0.0.1") -> None:
    """Serve `registry` at http://addr:port/metrics from a daemon thread."""
    start_http_server(port, addr=addr, registry=registry)


# --- web ------------------------------------------------------------------------------------


class _StreamRefusals(Collector):
    """The live stream's refusals by status, read from the stream app's own counter at scrape
    time (the stream is served beside Django, so the request metrics never see it)."""

    def __init__(self, refused: Mapping[int, int]) -> None:
        self._refused = refused

    def collect(self) -> Iterable[CounterMetricFamily]:
        family = CounterMetricFamily("ferry_live_stream_refusals", "Live streams refused, by HTTP status",
                                     labels=["status"])
        for status, count in sorted(self._refused.items()):
            family.add_metric([str(status)], count)
        yield family


class WebMetrics:
    """Requests Django served (by route pattern, never the path) and the open live streams."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("ferry_http_requests", "Requests answered by Django, by route pattern and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("ferry_http_request_duration_seconds",
                                 "Time from the request to its response (headers), by route pattern", ["route"],
                                 registry=r, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
        self.streams = Gauge("ferry_live_streams_open", "Live streams (SSE) open in this process", registry=r)
        self.learning_cache = Counter("ferry_learning_cache_lookups",
                                      "Published-document cache lookups (core/learning/cache.py), by result",
                                      ["result"], registry=r)
        self._refusals: _StreamRefusals | None = None

    def request(self, route: str, method: str, status: int, seconds: float) -> None:
        route = route or UNMATCHED_ROUTE
        self.requests.labels(route, method if method in HTTP_METHODS else "other", str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def watch_streams(self, open_streams: Callable[[], int], refused: Mapping[int, int]) -> None:
        """Read the live stream's open count and refusals at each scrape."""
        self.streams.set_function(lambda: float(open_streams()))
        if self._refusals is not None:  # watched again (another stream app: tests)
            self.registry.unregister(self._refusals)
        self._refusals = _StreamRefusals(refused)
        self.registry.register(self._refusals)


WEB = WebMetrics()


# --- beat -----------------------------------------------------------------------------------


class BeatMetrics:
    """Whether this beat leads, and when it last sent each schedule."""

    def __init__(self) -> None:
        self.registry = r = CollectorRegistry()
        self.leader = Gauge("ferry_beat_leader", "1 while this beat holds the leader lock and sends, 0 standing by",
                            registry=r)
        self.last_sent = Gauge("ferry_beat_last_send_timestamp_seconds",
                               "When this beat last sent a periodic task, by schedule name (unix time)",
                               ["schedule"], registry=r)

    def leading(self, leading: bool) -> None:
        self.leader.set(1 if leading else 0)

    def sent(self, schedule: str, at: float | None = None) -> None:
        self.last_sent.labels(schedule).set(time.time() if at is None else at)


BEAT = BeatMetrics()


def _serve_beat_metrics(**_: Any) -> None:
    from django.conf import settings

    if settings.BEAT_METRICS_PORT:
        serve(BEAT.registry, settings.BEAT_METRICS_PORT, settings.METRICS_ADDR)


def connect_beat_signals() -> None:
    """Serve the beat's metrics when `celery beat` starts (core/config/celery.py calls this)."""
    signals.beat_init.connect(_serve_beat_metrics, weak=False)


# --- gauges read from PostgreSQL ------------------------------------------------------------


@dataclass(frozen=True)
class DatabaseGauge:
    """A gauge an app defines by a query, which the relay runs at each stats refresh (every 5 s).

    `query` returns one row per series: the label values in `labels` order, then the value.
    A series whose row is gone is removed. The app owns its SQL (its queries.py) and registers
    the gauge when it is ready, so the relay runs it without importing the app.
    """

    name: str
    documentation: str
    labels: tuple[str, ...]
    query: str


DATABASE_GAUGES: dict[str, DatabaseGauge] = {}


def register_database_gauge(gauge: DatabaseGauge) -> None:
    if gauge.name in DATABASE_GAUGES and DATABASE_GAUGES[gauge.name] != gauge:
        raise ValueError(f"a database gauge named {gauge.name!r} is already registered")
    DATABASE_GAUGES[gauge.name] = gauge


class DatabaseGauges:
    """The registered database gauges in one registry, set from their queries' rows."""

    def __init__(self, registry: CollectorRegistry, gauges: Iterable[DatabaseGauge]) -> None:
        self._gauges = {g.name: (g, Gauge(g.name, g.documentation, list(g.labels), registry=registry))
                        for g in gauges}
        self._seen: dict[str, set[tuple[str, ...]]] = {name: set() for name in self._gauges}

    def queries(self) -> list[tuple[str, str]]:
        """(gauge name, query) of every gauge."""
        return [(name, spec.query) for name, (spec, _) in self._gauges.items()]

    def set(self, name: str, rows: Sequence[Sequence[Any]]) -> None:
        spec, gauge = self._gauges[name]
        width = len(spec.labels)
        now = {tuple(str(v) for v in row[:width]): float(row[width]) for row in rows}
        for gone in self._seen[name] - set(now):
            gauge.remove(*gone)
        for labels, value in now.items():
            (gauge.labels(*labels) if labels else gauge).set(value)
        self._seen[name] = set(now)
