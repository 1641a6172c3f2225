"""Long-running consumers (outbox/jobs.py): the shared claim and abandonment statements, and
OutboxTask.run_job's claim -> work -> record, on a table of their own (tests.support.LongJob)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from outbox import jobs
from outbox.emit import emit
from outbox.models import DeadLetter, OutboxEvent
from tests.helpers.outbox import execute, row_of
from tests.support.models import LongJob
from tests.support.tasks import LONG_JOBS

pytestmark = pytest.mark.usefixtures("outbox_db")

EVENT, OTHER_EVENT = str(uuid.uuid4()), str(uuid.uuid4())


def claim(job: LongJob, event_id: str | None = EVENT, tenant_id: int | None = 7) -> int | None:
    with transaction.atomic():
        return jobs.claim(LONG_JOBS, job.id, tenant_id, event_id, lease_s=60)


def test_a_queued_job_is_claimed_once_and_its_own_event_may_resume_it() -> None:
    job = LongJob.objects.create(tenant_id=7)
    assert claim(job) == 1
    job.refresh_from_db()
    assert (job.status, str(job.claimed_event)) == ("running", EVENT)
    assert job.deadline_at is not None
    assert job.deadline_at > timezone.now() + timedelta(seconds=55)
    assert claim(job, OTHER_EVENT) is None  # another delivery finds it held
    assert claim(job) == 2  # a redelivery of the same event resumes it


def test_another_tenants_job_and_a_finished_job_are_not_claimed() -> None:
    job = LongJob.objects.create(tenant_id=7)
    assert claim(job, tenant_id=8) is None
    LongJob.objects.filter(id=job.id).update(status="done")
    assert claim(job) is None


def test_only_jobs_past_their_deadline_are_abandoned_with_the_reason() -> None:
    late = LongJob.objects.create(tenant_id=7, status="running", deadline_at=timezone.now() - timedelta(seconds=1))
    busy = LongJob.objects.create(tenant_id=7, status="running", deadline_at=timezone.now() + timedelta(minutes=5))
    done = LongJob.objects.create(tenant_id=7, status="done", deadline_at=timezone.now() - timedelta(hours=1))
    with connection.cursor() as cursor:
        cursor.execute(LONG_JOBS.abandon_statement("tenant_id = %(tenant_id)s"), {"error": "lost", "tenant_id": 7})
        abandoned = [row[0] for row in cursor.fetchall()]
    assert abandoned == [late.id]
    statuses = dict(LongJob.objects.values_list("id", "status"))
    assert statuses == {late.id: "failed", busy.id: "running", done.id: "done"}
    assert LongJob.objects.get(id=late.id).error == "lost"


def long_job_event(job: LongJob, fail: str = "") -> OutboxEvent:
    with transaction.atomic():
        emitted = emit("test.long_job", aggregate_type="test", aggregate_id=job.id, task="tests.long_job",
                       payload={"job_id": job.id, "fail": fail}, tenant_id=job.tenant_id)
    return row_of(emitted)


def test_run_job_records_the_work_with_the_events_completion() -> None:
    job = LongJob.objects.create(tenant_id=7)
    event = long_job_event(job)
    assert execute(event) == "worked in attempt 1"
    job.refresh_from_db()
    assert (job.status, job.notes, job.claimed_event) == ("done", ["worked in attempt 1"], None)
    assert OutboxEvent.objects.get(id=event.id).status == "completed"


def test_run_job_with_nothing_to_claim_only_completes_the_event() -> None:
    job = LongJob.objects.create(tenant_id=7, status="done")
    event = long_job_event(job)
    assert execute(event) is None
    assert OutboxEvent.objects.get(id=event.id).status == "completed"
    assert LongJob.objects.get(id=job.id).notes == []


def test_a_failure_is_noted_then_retried_and_the_last_one_is_final() -> None:
    job = LongJob.objects.create(tenant_id=7)
    event = long_job_event(job, fail="retry")
    execute(event)
    assert OutboxEvent.objects.get(id=event.id).status == "pending"  # back in the queue with a backoff
    execute(OutboxEvent.objects.get(id=event.id))  # max_retries=1: the second failure is the last
    job.refresh_from_db()
    assert job.notes == ["RuntimeError final=False", "RuntimeError final=True"]
    assert (job.status, job.attempts) == ("running", 2)  # the retry resumed the same claim
    assert OutboxEvent.objects.get(id=event.id).status == "dead"
    assert DeadLetter.objects.filter(outbox_id=event.id).exists()


def test_a_permanent_failure_is_final_at_once() -> None:
    job = LongJob.objects.create(tenant_id=7)
    event = long_job_event(job, fail="permanent")
    execute(event)
    assert LongJob.objects.get(id=job.id).notes == ["PermanentFailure final=True"]
    assert OutboxEvent.objects.get(id=event.id).status == "dead"
