"""The Ops page charts the agency's own figures over 1 hour to 30 days, drawn as SVG."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from core.accounts.models import Tenant, User
from core.ops.charts import charts
from outbox.metrics import series
from tests.helpers.web import sign_in
from tests.integration.outbox.test_metrics import make_completed, move_all

pytestmark = pytest.mark.django_db


def traffic(tenant: Tenant, count: int, minutes_ago: int) -> None:
    make_completed([{"tenant": tenant.id, "created_min": minutes_ago, "created_s": 0, "relay_ms": 3,
                     "effect_ms": 30, "attempts": 1}] * count, timezone.now())
    move_all(500)


def test_the_ops_page_charts_the_agencys_figures_with_a_range_to_choose(
        client: Client, oscar: User, harbor: Tenant, northside: Tenant) -> None:
    traffic(harbor, 7, 5)
    traffic(northside, 40, 5)
    sign_in(client, oscar)
    page = client.get("/ops/").content.decode()
    assert 'data-chart="throughput"' in page
    assert "Events over 1 hour: emitted 7, completed 7, retried 0, dead 0" in page
    assert "Completed by queue" in page
    assert re.search(r'<polyline class="line tone-1" points="[0-9., ]+"', page)
    for key, label in (("24h", "24 hours"), ("7d", "7 days"), ("30d", "30 days")):
        panel = client.get(f"/ops/charts/?range={key}").content.decode()
        assert f"Events over {label}: emitted 7, completed 7" in panel
        assert 'aria-current="true" class="current">' + label in panel
    assert 'data-range="1h"' in client.get("/ops/charts/?range=forever").content.decode()  # the default


def test_a_step_without_completions_breaks_the_latency_line_and_counts_zero(harbor: Tenant) -> None:
    traffic(harbor, 2, 50)
    traffic(harbor, 3, 5)
    throughput, latency, queues = charts(series(harbor.id, "1h"))
    [emitted] = [line for line in throughput.lines if line.label == "emitted"]
    assert len(emitted.segments) == 1  # counts: one line, zeros between
    assert len(emitted.segments[0].split()) >= 60
    [p50] = [line for line in latency.lines if line.label == "p50"]
    assert len(p50.segments) == 2  # two minutes with completions, apart
    assert [line.label for line in queues.lines] == ["default"]
    assert latency.total == "worst p99 in the range 50 ms"
    assert [line.label for line in latency.lines] == ["p50", "p95", "p99", "relay lag p95"]
    assert len(latency.lines[3].segments) == 2  # the relay's lag, measured in the same two minutes


def test_an_empty_range_draws_empty_charts(harbor: Tenant) -> None:
    drawn = charts(series(harbor.id, "30d", now=timezone.now() - timedelta(days=400)))
    assert [c.total for c in drawn] == ["emitted 0, completed 0, retried 0, dead 0", "no completions in the range", ""]


def test_a_lone_point_is_drawn_as_a_dot(client: Client, oscar: User, harbor: Tenant) -> None:
    traffic(harbor, 1, 5)
    sign_in(client, oscar)
    panel = client.get("/ops/charts/?range=24h").content.decode()
    assert re.search(r'<circle class="dot tone-1" cx="[0-9.]+" cy="[0-9.]+"', panel)  # the p50 of one step
