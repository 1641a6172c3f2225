"""Ops tasks: heal runs on the batch queue (ADR 0012)."""

from __future__ import annotations

from core.ops.jobs import RunBulkAction, RunHeal
from core.ops.models import HealRun
from core.ops.services import BULK_TASK_TIME_LIMIT_S, HEAL_TASK_TIME_LIMIT_S, request_heal, verify_heal_runs
from core.platform.tasks import ferry_task
from outbox.consumers import OutboxTask


@ferry_task(name="ops.run_heal", queue="batch", soft_time_limit=HEAL_TASK_TIME_LIMIT_S - 60,
            time_limit=HEAL_TASK_TIME_LIMIT_S, base=OutboxTask, bind=True)
def run_heal(self: OutboxTask, tenant_id: int | None, run_id: int) -> str:
    """Run a requested heal (core/ops/jobs.py). Returns the run's final status, or "skipped"
    when it was already finished or another delivery holds it."""
    return self.run_job(RunHeal(int(run_id), tenant_id)) or "skipped"


@ferry_task(name="ops.request_heal", queue="batch", soft_time_limit=30, time_limit=60)
def request_scheduled_heal(name: str, tenant_id: int | None = None, dry_run: bool = False) -> int:
    """Beat's entry point (schedules seeded by migration ops/0002): record a run (every tenant,
    unless the schedule's kwargs name one) and enqueue it through the outbox like any other.
    Returns the run id."""
    return request_heal(name, trigger=HealRun.Trigger.BEAT, actor_label="beat", dry_run=dry_run,
                        tenant_id=tenant_id).id


@ferry_task(name="ops.verify_heal_runs", queue="batch", soft_time_limit=120, time_limit=150)
def verify_heal_runs_task(tenant_id: int | None = None) -> int:
    """Beat, every minute: count the repairs of recent runs that took effect. Returns how many
    runs it looked at."""
    return len(verify_heal_runs())


@ferry_task(name="ops.run_bulk_action", queue="batch", soft_time_limit=BULK_TASK_TIME_LIMIT_S - 60,
            time_limit=BULK_TASK_TIME_LIMIT_S, base=OutboxTask, bind=True)
def run_bulk_action(self: OutboxTask, tenant_id: int | None, bulk_id: int) -> str:
    """Redrive or discard the dead letters a bulk action chose (core/ops/jobs.py). Returns the
    job's final status, or "skipped" when it was finished or another delivery holds it."""
    return self.run_job(RunBulkAction(int(bulk_id), tenant_id)) or "skipped"
