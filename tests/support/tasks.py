"""Tasks used only by tests (loaded by workers started with tests.settings)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.platform.tasks import ferry_task
from core.platform.tenancy import current_tenant_id
from outbox import jobs
from outbox.consumers import OutboxTask, PermanentFailure
from outbox.jobs import JobTable
from tests.support.models import Effect, LongJob

seen_tenants: list[int | None] = []


@ferry_task(name="tests.record_tenant", queue="default", soft_time_limit=5, time_limit=10)
def record_tenant(tenant_id: int | None, fail: bool = False) -> None:
    seen_tenants.append(current_tenant_id())
    if fail:
        raise ValueError("boom")


@ferry_task(name="tests.record_effect", queue="default", soft_time_limit=20, time_limit=30,
            base=OutboxTask, bind=True, max_retries=2, retry_backoff=1, retry_jitter=False)
def record_effect(self: Any, tenant_id: int | None, key: str, fail_attempts: int = 0,
                  sleep_s: float = 0, die_attempts: int = 0) -> None:
    """Write one Effect row for `key`. Fails its first `fail_attempts` executions; kills its
    own worker process (SIGKILL) in its first `die_attempts` executions, after `sleep_s`."""
    attempt = self.attempt
    if sleep_s:
        time.sleep(sleep_s)
    if attempt <= die_attempts:
        os.kill(os.getpid(), 9)
    if attempt <= fail_attempts:
        raise RuntimeError(f"failing on purpose (attempt {attempt})")
    with self.effects():
        Effect.objects.create(key=key, event_id=self.request.id, tenant_id=current_tenant_id())


# --- a long-running consumer on the lifecycle columns of outbox/jobs.py ----------------------

LONG_JOBS = JobTable("support_longjob")


@dataclass(frozen=True)
class NoteJob:
    """Claims a support LongJob, "works" (or fails as asked), records; notes every step."""

    job_id: int
    tenant_id: int | None
    fail: str = ""  # "", "retry" (a RuntimeError) or "permanent" (a PermanentFailure)

    def claim(self, event_id: str | None) -> int | None:
        with transaction.atomic():
            return jobs.claim(LONG_JOBS, self.job_id, self.tenant_id, event_id, lease_s=60)

    def work(self, attempt: int) -> str:
        if self.fail == "retry":
            raise RuntimeError(f"failing on purpose (attempt {attempt})")
        if self.fail == "permanent":
            raise PermanentFailure("this job cannot be done")
        return f"worked in attempt {attempt}"

    def record(self, attempt: int, result: str) -> str:
        LongJob.objects.filter(id=self.job_id, status="running").update(
            status="done", finished_at=timezone.now(), claimed_event=None, notes=[result])
        return result

    def failed(self, attempt: int, error: BaseException, final: bool) -> None:
        job = LongJob.objects.get(id=self.job_id)
        LongJob.objects.filter(id=self.job_id).update(notes=[*job.notes, f"{type(error).__name__} final={final}"])


@ferry_task(name="tests.long_job", queue="default", soft_time_limit=20, time_limit=30,
            base=OutboxTask, bind=True, max_retries=1, retry_backoff=1, retry_jitter=False)
def long_job(self: OutboxTask, tenant_id: int | None, job_id: int, fail: str = "") -> str | None:
    return self.run_job(NoteJob(job_id, tenant_id, fail))
