"""Write functions where concurrency and history matter: no duplicate solve, stale jobs, the demo."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from core.accounts.models import Tenant
from core.dispatch import demo, selectors, services
from core.dispatch.models import Clinician, OptimizeJob, Visit
from core.dispatch.queries import INSERT_JOB
from core.platform.db import conninfo
from outbox.models import OutboxEvent
from tests.helpers.dispatch import DAY
from tests.helpers.processes import wait_until


@pytest.mark.django_db(transaction=True)
def test_a_request_racing_an_uncommitted_one_waits_and_returns_its_job(harbor: Tenant) -> None:
    results: list[services.OptimizeRequest] = []
    with psycopg.connect(**conninfo()) as other, psycopg.connect(**conninfo(), autocommit=True) as watcher:
        # Another request has inserted its job and not committed yet.
        row = other.execute(INSERT_JOB, {"tenant_id": harbor.pk, "date": DAY, "actor_id": None, "as_of": None,
                                         "reason": "",
                                         "stale_s": 1800}).fetchone()
        assert row is not None
        theirs = row[0]
        racer = threading.Thread(target=_request, args=(harbor, results))
        racer.start()
        wait_until(lambda: _waiting_on_a_lock(watcher), 10, message="the racing insert to wait for ours")
        other.commit()
        racer.join(10)
    (result,) = results
    assert (result.job.pk, result.created) == (theirs, False)
    assert OptimizeJob.objects.count() == 1
    assert not OutboxEvent.objects.filter(task_name="dispatch.optimize_day").exists()  # theirs emitted its own


def _request(harbor: Tenant, results: list[services.OptimizeRequest]) -> None:
    try:
        results.append(services.request_optimize(harbor.pk, DAY, actor_id=None))
    finally:
        connection.close()  # this thread's own connection


def _waiting_on_a_lock(connection: psycopg.Connection[tuple[object, ...]]) -> bool:
    row = connection.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                             "AND datname = current_database()").fetchone()
    return bool(row and row[0])


@pytest.mark.django_db
def test_a_job_silent_for_too_long_is_abandoned_by_the_next_request(harbor: Tenant, settings: object) -> None:
    stuck = services.request_optimize(harbor.pk, DAY, actor_id=None).job
    OptimizeJob.objects.filter(pk=stuck.pk).update(status="running",  # claimed an hour ago
                                                   deadline_at=timezone.now() - timedelta(minutes=30))
    fresh = services.request_optimize(harbor.pk, DAY, actor_id=None)
    stuck.refresh_from_db()
    assert fresh.created
    assert (stuck.status, stuck.error) == ("failed", "abandoned: no progress for 1800 s (the worker was lost)")
    assert OutboxEvent.objects.filter(event_type="optimize.failed", payload__job_id=stuck.pk).exists()


@pytest.mark.django_db
def test_a_busy_job_is_not_abandoned(harbor: Tenant) -> None:
    running = services.request_optimize(harbor.pk, DAY, actor_id=None).job
    OptimizeJob.objects.filter(pk=running.pk).update(status="running",  # claimed five minutes ago
                                                     deadline_at=timezone.now() + timedelta(minutes=25))
    again = services.request_optimize(harbor.pk, DAY, actor_id=None)
    assert (again.job.pk, again.created) == (running.pk, False)


@pytest.mark.django_db
def test_the_demo_seeds_a_boston_day_once_however_often_it_runs(harbor: Tenant, northside: Tenant) -> None:
    tenants = {"harbor": harbor, "northside": northside}
    demo.seed(tenants, io.StringIO())
    events = OutboxEvent.objects.count()
    demo.seed(tenants, io.StringIO())
    assert OutboxEvent.objects.count() == events  # nothing created, nothing announced again
    day = demo.demo_day()
    assert Clinician.objects.filter(tenant=harbor, active=True).count() == 10
    assert Visit.objects.filter(tenant=harbor, date=day).count() == 80
    assert Visit.objects.filter(tenant=northside, date=day).count() == 12
    inputs = selectors.optimize_inputs(harbor.pk, day)
    assert all(42.2 < v.lat < 42.45 and -71.2 < v.lon < -70.95 for v in inputs.visits)  # Boston
    assert all(v.window_start < v.window_end for v in inputs.visits)
    assert {c.id for c in inputs.clinicians} == set(
        Clinician.objects.filter(tenant=harbor).values_list("id", flat=True))
