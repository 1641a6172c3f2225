"""The Optimize Day task: a thin adapter from the outbox event to the job (core/dispatch/jobs.py).

It runs as the event's tenant (core.platform.tenancy) and receives ids only.
"""

from __future__ import annotations

import math
from datetime import datetime

from django.conf import settings

from core.dispatch import schedules
from core.dispatch.jobs import OptimizeDay
from core.platform.tasks import ferry_task
from outbox.consumers import OutboxTask

# Limits follow the solver's: a minute beyond it for loading, building and writing; then the
# hard limit kills a task that ignored the soft one.
SOFT_TIME_LIMIT = math.ceil(max(settings.OPTIMIZE_TIME_LIMIT_S, settings.OPTIMIZE_MAX_TIME_LIMIT_S)) + 60
HARD_TIME_LIMIT = SOFT_TIME_LIMIT + 30


@ferry_task(name="dispatch.optimize_day", queue="interactive", soft_time_limit=SOFT_TIME_LIMIT,
            time_limit=HARD_TIME_LIMIT, base=OutboxTask, bind=True,
            # Someone is waiting: three retries (at most 2 + 4 + 8 s of backoff) before the job fails.
            max_retries=3)
def optimize_day(self: OutboxTask, tenant_id: int, job_id: int) -> str | None:
    """Solve the job's day and write the next route-plan version (core/dispatch/jobs.py);
    nothing new for a finished job."""
    return self.run_job(OptimizeDay(tenant_id, job_id))


@ferry_task(name="dispatch.run_schedule", queue="default", soft_time_limit=30, time_limit=45, base=OutboxTask,
            bind=True)
def run_schedule(self: OutboxTask, tenant_id: int, schedule_id: int, version: int, due_at: str) -> str:
    """A schedule's due run (core/dispatch/schedules.py): the run, its Optimize Day request and
    the next due event commit with this delivery's inbox row. Returns the outcome."""
    with self.effects():
        return schedules.run_schedule(tenant_id, int(schedule_id), int(version),
                                      datetime.fromisoformat(due_at)).outcome
