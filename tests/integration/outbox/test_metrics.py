"""The figures' rollups equal what the outbox itself says over the same window, whatever the
traffic: each completed event counted once as it moves to the history, in the minute (and the
hour) of each of its steps; dead letters recounted into them; one agency's rows are its own."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from outbox import delivery, queries
from outbox.metrics import BUCKET_BOUNDS_MS, count_dead, percentile, series
from tests.helpers.outbox import emit_effects, truncate_outbox

pytestmark = pytest.mark.django_db

TENANTS = (None, 1, 2)

traffic = st.lists(st.fixed_dictionaries({
    "tenant": st.sampled_from(TENANTS),
    "created_min": st.integers(0, 240),  # minutes before now
    "created_s": st.integers(0, 59),
    "relay_ms": st.integers(0, 120_000),
    "effect_ms": st.integers(0, 400_000),
    "attempts": st.integers(1, 4),
}), min_size=1, max_size=40)


def rows(statement: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params or {})
        return list(cursor.fetchall())


def make_completed(events: list[dict[str, Any]], now: datetime) -> None:
    """Emit the events, then give each the life the example drew: created, relayed, completed."""
    for event in events:
        [outbox_id] = emit_effects([f"k{id(event)}"], tenant_id=event["tenant"])
        created = now - timedelta(minutes=event["created_min"], seconds=event["created_s"])
        relayed = created + timedelta(milliseconds=event["relay_ms"])
        completed = relayed + timedelta(milliseconds=event["effect_ms"])
        with connection.cursor() as cursor:
            cursor.execute("UPDATE outbox_event SET status = 'completed', created_at = %s, available_at = %s, "
                           "relayed_at = %s, completed_at = %s, attempts = %s, redeliver_at = NULL WHERE id = %s",
                           [created, created, relayed, completed, event["attempts"], outbox_id])


def move_all(batch: int) -> None:
    with connection.cursor() as cursor:
        while True:
            cursor.execute(queries.MOVE_COMPLETED, {"limit": batch})
            if cursor.rowcount == 0:
                break


def rollup(table: str, unit: str) -> dict[tuple[Any, ...], tuple[int, ...]]:
    return {(t, at): (e, r, c, rt) for t, at, e, r, c, rt in rows(
        f"SELECT tenant_id, at, sum(emitted), sum(relayed), sum(completed), sum(retried) FROM {table} "
        "GROUP BY 1, 2")}


def from_history(unit: str) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """The same figures, counted from the history of the events themselves."""
    counted: dict[tuple[Any, ...], list[int]] = {}
    for tenant, created, relayed, completed, attempts in rows(
            "SELECT coalesce(tenant_id, 0), created_at, relayed_at, completed_at, attempts FROM outbox_history"):
        for column, at, add in ((0, created, 1), (1, relayed, 1), (2, completed, 1), (3, completed, attempts - 1)):
            key = (tenant, at.replace(second=0, microsecond=0, **({"minute": 0} if unit == "hour" else {})))
            counted.setdefault(key, [0, 0, 0, 0])[column] += add
    return {key: tuple(values) for key, values in counted.items()}


@hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=traffic, batch=st.integers(1, 15))
def test_rollups_equal_the_counts_taken_from_the_outbox(events: list[dict[str, Any]], batch: int) -> None:
    truncate_outbox()
    now = timezone.now()
    make_completed(events, now)
    move_all(batch)
    assert rollup("outbox_metric_minute", "minute") == from_history("minute")
    assert rollup("outbox_metric_hour", "hour") == from_history("hour")
    # Every completion is in one latency bucket of each histogram, and the buckets are right.
    [(lag_total, effect_total)] = rows(
        "SELECT sum(x), sum(y) FROM outbox_metric_minute, unnest(lag_hist, effect_hist) AS t(x, y)")
    assert (lag_total, effect_total) == (len(events), len(events))
    [(effect_hist,)] = rows("SELECT outbox_hist_sum(effect_hist) FROM outbox_metric_hour")
    for event in events:  # the bucket of each commit->effect latency holds at least it
        ms = event["relay_ms"] + event["effect_ms"]
        bucket = sum(1 for bound in BUCKET_BOUNDS_MS if bound <= ms)
        assert effect_hist[bucket] >= 1


def test_dead_letters_are_recounted_into_the_minute_they_died(harbor: Any) -> None:
    truncate_outbox()
    ids = emit_effects(["a", "b", "c"], tenant_id=harbor.id)
    for outbox_id in ids:
        delivery.kill(outbox_id, "TimeoutError: slow", "")
    count_dead()
    count_dead()  # again: a recount, not an addition
    assert rows("SELECT sum(dead) FROM outbox_metric_minute WHERE tenant_id = %(t)s", {"t": harbor.id}) == [(3,)]
    assert rows("SELECT sum(dead) FROM outbox_metric_hour WHERE tenant_id = %(t)s", {"t": harbor.id}) == [(3,)]
    assert rows("SELECT queue FROM outbox_metric_minute WHERE dead > 0") == [("default",)]


def test_a_tenants_series_has_its_own_figures_only(harbor: Any, northside: Any) -> None:
    truncate_outbox()
    now = timezone.now()
    make_completed([{"tenant": harbor.id, "created_min": 3, "created_s": 0, "relay_ms": 4, "effect_ms": 40,
                     "attempts": 2}], now)
    make_completed([{"tenant": northside.id, "created_min": 3, "created_s": 0, "relay_ms": 4, "effect_ms": 40,
                     "attempts": 1}] * 5, now)
    move_all(100)
    ours = series(harbor.id, "1h", now=now)
    assert sum(p.completed for p in ours.points) == 1
    assert sum(p.retried for p in ours.points) == 1
    assert ours.by_queue == {"default": {p.at: 1 for p in ours.points if p.completed}}
    [done] = [p for p in ours.points if p.completed]
    assert done.effect_ms(0.99) == 50.0  # 44 ms is in the bucket [20, 50)
    assert sum(p.completed for p in series(northside.id, "7d", now=now).points) == 5


def test_percentiles_come_from_the_bucket_counts() -> None:
    assert percentile([], 0.5) is None
    histogram = [0] * 17
    histogram[3] = 90  # [5, 10) ms
    histogram[9] = 10  # [500, 1000) ms
    assert (percentile(histogram, 0.5), percentile(histogram, 0.95), percentile(histogram, 0.9)) == (10, 1000, 10)
