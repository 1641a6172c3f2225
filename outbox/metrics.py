"""The outbox's figures over time (adr/0023): rollups per minute and per hour, and the series
the Ops page charts.

The mover writes the rollups as events leave the hot table (outbox/queries.py MOVE_COMPLETED);
`count_dead` recounts dead letters into them (beat, every minute). Reads are per tenant: an
agency's charts come from its own rows only. Tenant 0 holds the platform's own events (those
with no tenant).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from core.platform.errors import Invalid
from outbox import queries

# Upper bounds of the latency buckets, in milliseconds (outbox_metric_bucket in
# outbox/sql/0006_metric_rollups.sql): bucket 0 is below 1 ms, bucket i is [bound i-1, bound i),
# the last is 300 s and more.
BUCKET_BOUNDS_MS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, 300000)
TABLES = {"minute": "outbox_metric_minute", "hour": "outbox_metric_hour"}
# Dead letters are recounted from a little before the last run's end: a letter committed late
# (its created_at is its transaction's start) is still caught.
DEAD_RECOUNT_OVERLAP = timedelta(minutes=10)


def percentile(histogram: list[int], q: float) -> float | None:
    """The upper bound (ms) of the bucket holding the q-quantile of `histogram`; None when it
    is empty. The last bucket has no bound: it answers with its lower one (300 s)."""
    total = sum(histogram)
    if not total:
        return None
    rank, seen = q * total, 0
    for bucket, count in enumerate(histogram):
        seen += count
        if seen >= rank and count:
            return float(BUCKET_BOUNDS_MS[min(bucket, len(BUCKET_BOUNDS_MS) - 1)])
    return float(BUCKET_BOUNDS_MS[-1])


def _composed(template: str, table: str, unit: str = "") -> sql.Composed:
    return sql.SQL(template).format(table=sql.Identifier(table), unit=sql.Literal(unit))


@transaction.atomic
def count_dead(now: datetime | None = None) -> datetime:
    """Recount `dead` in the minute and hour rollups from the start of the hour before the
    last run's end (less DEAD_RECOUNT_OVERLAP) to now. Returns where it started."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(queries.DEAD_COUNTED_UNTIL)
        row = cursor.fetchone()
        last = row[0] if row else now - timedelta(days=1)
        since = (min(last, now) - DEAD_RECOUNT_OVERLAP).replace(minute=0, second=0, microsecond=0)
        for unit, table in TABLES.items():
            cursor.execute(_composed(queries.ZERO_DEAD, table), {"since": since})
            cursor.execute(_composed(queries.COUNT_DEAD, table, unit), {"since": since})
        cursor.execute(queries.DEAD_COUNTED, {"until": now})
    return since


# --- the charts' series ------------------------------------------------------------------------


@dataclass(frozen=True)
class Range:
    """A chart's time range: how far back, from which rollup, in points of how many seconds."""

    key: str
    label: str
    span: timedelta
    table: str
    step_s: int


RANGES = {r.key: r for r in (
    Range("1h", "1 hour", timedelta(hours=1), "minute", 60),
    Range("24h", "24 hours", timedelta(days=1), "minute", 600),
    Range("7d", "7 days", timedelta(days=7), "hour", 3600),
    Range("30d", "30 days", timedelta(days=30), "hour", 4 * 3600),
)}


@dataclass(frozen=True)
class Point:
    at: datetime
    emitted: int
    relayed: int
    completed: int
    retried: int
    dead: int
    lag_hist: list[int]
    effect_hist: list[int]

    def lag_ms(self, q: float) -> float | None:
        return percentile(self.lag_hist, q)

    def effect_ms(self, q: float) -> float | None:
        return percentile(self.effect_hist, q)


@dataclass(frozen=True)
class Series:
    """One tenant's figures over a range: a point per step (steps with nothing are absent),
    and completions per queue per step."""

    range: Range
    since: datetime
    until: datetime
    points: list[Point]
    by_queue: dict[str, dict[datetime, int]] = field(default_factory=dict)


def series(tenant_id: int, range_key: str, now: datetime | None = None, table: str | None = None) -> Series:
    """The tenant's figures over `range_key` (1h, 24h, 7d, 30d) up to now. `table` ('minute'
    or 'hour') overrides the range's own rollup (the benchmark's baseline reads minutes).
    Invalid, naming `range`, for another key."""
    chosen = RANGES.get(range_key)
    if chosen is None:
        raise Invalid(f"no range {range_key!r}; there are {', '.join(RANGES)}", field="range")
    until = now or timezone.now()
    since = until - chosen.span
    params: dict[str, int | datetime] = {"tenant_id": tenant_id, "since": since, "until": until,
                                         "step": chosen.step_s}
    name = TABLES[table or chosen.table]
    with connection.cursor() as cursor:
        cursor.execute(_composed(queries.METRIC_SERIES, name), params)
        points = [Point(at, int(e), int(r), int(c), int(t), int(d), list(lag or []), list(effect or []))
                  for at, e, r, c, t, d, lag, effect in cursor.fetchall()]
        cursor.execute(_composed(queries.METRIC_BY_QUEUE, name), params)
        by_queue: dict[str, dict[datetime, int]] = {}
        for at, queue, completed in cursor.fetchall():
            by_queue.setdefault(queue, {})[at] = int(completed)
    return Series(chosen, since, until, points, by_queue)
