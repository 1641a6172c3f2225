"""The relay's metrics, in the Prometheus text format (served by `relay --metrics-port`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from core.platform.metrics import DATABASE_GAUGES, DatabaseGauges, serve

if TYPE_CHECKING:
    from relays.messages import ClaimedEvent


class RelayMetrics:
    """One registry per relay, so several relays in one process (tests, bench) stay apart."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._lag_types: set[str] = set()
        r = self.registry
        self.pending = Gauge("ferry_outbox_pending_events", "Events waiting to be relayed", registry=r)
        self.due = Gauge("ferry_outbox_due_events", "Pending events whose time has come", registry=r)
        self.lag = Gauge("ferry_outbox_lag_seconds", "Age of the oldest due pending event", registry=r)
        self.inflight = Gauge("ferry_outbox_inflight_events",
                              "Task events relayed and not yet completed", registry=r)
        self.dead = Gauge("ferry_outbox_dead_events", "Dead letters not redriven or discarded yet", registry=r)
        self.lag_by_type = Gauge("ferry_outbox_event_type_lag_seconds",
                                 "Age of the oldest due pending event, by event type", ["event_type"], registry=r)
        self.queued = Gauge("ferry_queue_messages", "Messages waiting in a Celery queue (Redis)", ["queue"],
                            registry=r)
        self.relayed = Counter("ferry_relay_relayed_events", "Events published to Redis",
                               ["destination"], registry=r)
        self.moved = Counter("ferry_outbox_moved_events", "Completed events moved to the history",
                             registry=r)
        self.errors = Counter("ferry_relay_errors", "Failed batches, by failing dependency",
                              ["dependency"], registry=r)
        self.batch_size = Histogram("ferry_relay_batch_size", "Events per relayed batch", registry=r,
                                    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000))
        self.batch_seconds = Histogram(
            "ferry_relay_batch_duration_seconds", "Claim + publish + commit time of one batch",
            registry=r, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        # Gauges the apps define by a query (the heals' repairs: core/ops/apps.py), read at
        # each stats refresh: the relay is the process that already turns PostgreSQL into gauges.
        self.database = DatabaseGauges(r, DATABASE_GAUGES.values())

    def batch(self, events: Sequence[ClaimedEvent], seconds: float) -> None:
        tasks = sum(1 for e in events if e.task_name is not None)
        if tasks:
            self.relayed.labels("task").inc(tasks)
        if len(events) - tasks:
            self.relayed.labels("pubsub").inc(len(events) - tasks)
        self.batch_size.observe(len(events))
        self.batch_seconds.observe(seconds)

    def error(self, dependency: str) -> None:
        self.errors.labels(dependency).inc()

    def stats(self, *, pending: int, due: int, oldest_age_s: float, inflight: int, dead: int,
              lag_by_type: Mapping[str, float], queued: Mapping[str, int]) -> None:
        self.pending.set(pending)
        self.due.set(due)
        self.lag.set(oldest_age_s)
        self.inflight.set(inflight)
        self.dead.set(dead)
        # An event type seen before and now without due events has no lag (0), not its last one.
        for event_type in self._lag_types - set(lag_by_type):
            self.lag_by_type.labels(event_type).set(0)
        for event_type, lag in lag_by_type.items():
            self.lag_by_type.labels(event_type).set(lag)
        self._lag_types |= set(lag_by_type)
        for queue, depth in queued.items():
            self.queued.labels(queue).set(depth)

    def serve(self, port: int, addr: str = "127.0.0.1") -> None:
        serve(self.registry, port, addr)
