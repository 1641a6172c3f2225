"""ops_charts_bench: the Ops page's charts at 30 days of figures for 50 agencies (adr/0023).

In a database of its own (`ferry_chartsbench`: created, migrated, dropped), it fills the
rollups as the mover would have over 30 days: for each of 50 agencies, every minute, a few
series (event type, task, queue) with counts and latency histograms, and the hours summed from
those minutes. Then, as one agency's ops user through the page's own URL (the request's whole
path), it times the chart panel for each range, and beside the 7-day chart the same chart
drawn from the minute rows (the baseline: what reading minutes for a week would cost).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.utils import timezone

from bench import scratch
from core.accounts.models import Tenant, User
from core.ops.charts import charts
from core.platform.roles import Role
from outbox.metrics import RANGES, series

BENCH_DB = "ferry_chartsbench"
Report = Callable[[str], None]

# (event type, task, queue): a few series per agency-minute, as a busy agency's would be.
SERIES = (("submission.received", "learning.grade_submission", "default"), ("visit.updated", "", ""),
          ("optimize_day.requested", "dispatch.optimize_day", "interactive"),
          ("content.published", "learning.index_content", "batch"))


@dataclass(frozen=True)
class BenchOptions:
    agencies: int = 50
    days: int = 30
    series: int = 3
    calls: int = 30


def run_isolated(options: BenchOptions, keep: bool, as_json: bool, report: Report) -> None:
    report(f"ops_charts_bench: building {BENCH_DB} (migrations) …")
    scratch.run_isolated(BENCH_DB, "ops_charts_bench", [
        "--agencies", str(options.agencies), "--days", str(options.days), "--series", str(options.series),
        "--calls", str(options.calls), *(["--json"] if as_json else [])], keep)


# The rollup rows of every agency, minute and series, as the mover writes them: counts that
# vary with the time of day, and histograms whose buckets hold those counts.
FILL_MINUTES = """
INSERT INTO outbox_metric_minute (at, tenant_id, event_type, task_name, queue, emitted, relayed, completed,
                                  retried, dead, lag_hist, effect_hist)
SELECT m, t, s.event_type, s.task_name, s.queue, c, c, c, c / 20, (c %% 97 = 0)::int,
       ARRAY[0, c / 2, c / 4, c - c / 2 - c / 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
       ARRAY[0, 0, 0, c / 3, c / 3, c - 2 * (c / 3), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
FROM generate_series(%(since)s::timestamptz, %(until)s::timestamptz, interval '1 minute') AS m,
     unnest(%(tenants)s::bigint[]) AS t,
     (SELECT * FROM unnest(%(types)s::text[], %(tasks)s::text[], %(queues)s::text[])
        AS x(event_type, task_name, queue)) AS s,
     LATERAL (SELECT (5 + 20 * (1 + sin(extract(epoch FROM m) / 13751 + t)))::int AS c) AS counts
"""
FILL_HOURS = """
INSERT INTO outbox_metric_hour (at, tenant_id, event_type, task_name, queue, emitted, relayed, completed, retried,
                                dead, lag_hist, effect_hist)
SELECT date_trunc('hour', at, 'UTC'), tenant_id, event_type, task_name, queue, sum(emitted), sum(relayed),
       sum(completed), sum(retried), sum(dead), outbox_hist_sum(lag_hist), outbox_hist_sum(effect_hist)
FROM outbox_metric_minute
GROUP BY 1, 2, 3, 4, 5
"""


def _agencies(count: int) -> tuple[list[int], User]:
    """The agencies, and an ops user of the first (no second factor: the bench times pages)."""
    tenants = [Tenant.objects.create(slug=f"charts-bench-{i}", name=f"Agency {i}", mfa_roles=[]).pk
               for i in range(count)]
    user = User.objects.create_user(username="ops-bench", tenant_id=tenants[0])
    user.groups.set([Group.objects.get(name=Role.OPS.value)])
    return tenants, user


def _fill(options: BenchOptions, tenants: list[int], progress: Report) -> dict[str, int]:
    chosen = SERIES[:options.series]
    until = timezone.now().replace(second=0, microsecond=0)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for day in range(options.days, 0, -1):  # a day at a time: progress, and bounded transactions
            cursor.execute(FILL_MINUTES, {
                "since": until - timedelta(days=day), "until": until - timedelta(days=day - 1,
                                                                                                   minutes=1),
                "tenants": tenants, "types": [s[0] for s in chosen], "tasks": [s[1] for s in chosen],
                "queues": [s[2] for s in chosen]})
            if day % 5 == 0:
                progress(f"  … {options.days - day + 1} of {options.days} days of minutes "
                         f"({time.perf_counter() - started:.0f} s)")
        cursor.execute(FILL_HOURS)
        cursor.execute("ANALYZE outbox_metric_minute")
        cursor.execute("ANALYZE outbox_metric_hour")
        cursor.execute("SELECT (SELECT count(*) FROM outbox_metric_minute), (SELECT count(*) FROM outbox_metric_hour),"
                       " pg_total_relation_size('outbox_metric_minute'), pg_total_relation_size('outbox_metric_hour')")
        minutes, hours, minute_bytes, hour_bytes = cursor.fetchone()
    return {"minute_rows": minutes, "hour_rows": hours, "minute_mb": minute_bytes // 2**20,
            "hour_mb": hour_bytes // 2**20, "fill_s": round(time.perf_counter() - started)}


def _timed(calls: int, call: Callable[[], Any]) -> dict[str, float]:
    call()  # warm: the first call pays for cold caches and template compilation
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
            "max_ms": round(times[-1], 1)}


def run_inside(options: BenchOptions, as_json: bool, report: Report, progress: Report) -> bool:
    """Fill, time, print. Returns True if the 7-day chart's p95 is under 500 ms."""
    tenants, user = _agencies(options.agencies)
    progress(f"filling {options.days} days x {options.agencies} agencies x {options.series} series per minute …")
    sizes = _fill(options, tenants, progress)
    client = Client(HTTP_HOST=settings.ALLOWED_HOSTS[0])
    client.force_login(user)

    def page(key: str) -> Callable[[], Any]:
        def get() -> None:
            answer = client.get(f"/ops/charts/?range={key}")
            if answer.status_code != 200:
                raise RuntimeError(f"the chart panel answered {answer.status_code}")
        return get

    pages = {key: _timed(options.calls, page(key)) for key in RANGES}
    def chart_from(table: str) -> Callable[[], Any]:
        return lambda: charts(series(tenants[0], "7d", table=table))

    drawn = {table: _timed(options.calls, chart_from(table)) for table in ("hour", "minute")}
    results = {"options": options.__dict__, "sizes": sizes, "page": pages,
               "chart_7d_from_hours": drawn["hour"], "chart_7d_from_minutes_baseline": drawn["minute"]}
    met = pages["7d"]["p95_ms"] < 500
    if as_json:
        report(json.dumps(results))
        return met
    report(f"rollups: {sizes['minute_rows']:,} minute rows ({sizes['minute_mb']:,} MB), "
           f"{sizes['hour_rows']:,} hour rows ({sizes['hour_mb']:,} MB); filled in {sizes['fill_s']} s")
    report(f"{'chart panel (GET /ops/charts/)':<40} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for key, figures in pages.items():
        report(f"{'  range ' + key:<40} {figures['p50_ms']:>8} {figures['p95_ms']:>8} {figures['max_ms']:>8}")
    report(f"{'7-day chart, selector + geometry':<40}")
    for label, figures in (("  from hours (what the page does)", drawn["hour"]),
                           ("  from minutes (baseline)", drawn["minute"])):
        report(f"{label:<40} {figures['p50_ms']:>8} {figures['p95_ms']:>8} {figures['max_ms']:>8}")
    report(f"target: 7-day chart p95 < 500 ms: {'met' if met else 'MISSED'}")
    return met
