"""The Optimize Day task: a thin adapter from the outbox event to the write functions.

It runs as the event's tenant (core.platform.tenancy) and receives ids only. The solve takes
seconds and happens outside any transaction; only the final writes run inside
`self.effects()`, which also records the inbox row and completes the event.
"""

from __future__ import annotations

import math
from typing import Any

from django.conf import settings

from core.dispatch import optimize, selectors, services
from core.platform.tasks import ferry_task
from outbox.consumers import DuplicateDelivery, OutboxTask, PermanentFailure
from solver import ProblemError

# Limits follow the solver's: a minute beyond it for loading, building and writing; then the
# hard limit kills a task that ignored the soft one.
SOFT_TIME_LIMIT = math.ceil(settings.OPTIMIZE_TIME_LIMIT_S) + 60
HARD_TIME_LIMIT = SOFT_TIME_LIMIT + 30


def _readable(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


@ferry_task(name="dispatch.optimize_day", queue="interactive", soft_time_limit=SOFT_TIME_LIMIT,
            time_limit=HARD_TIME_LIMIT, base=OutboxTask, bind=True,
            # Someone is waiting: three retries (at most 2 + 4 + 8 s of backoff) before the job fails.
            max_retries=3)
def optimize_day(self: OutboxTask, tenant_id: int, job_id: int) -> None:
    """Solve the job's day and write the next route-plan version; nothing new for a finished job."""
    job = services.start_optimize_job(tenant_id, job_id)
    if job is None:
        with self.effects():  # done, failed or not this tenant's: only the event's completion
            return
    try:
        plan = optimize.solve_day(selectors.optimize_inputs(job.tenant_id, job.date),
                                  time_limit=settings.OPTIMIZE_TIME_LIMIT_S, speed_kmh=settings.TRAVEL_SPEED_KMH,
                                  detour_factor=settings.TRAVEL_DETOUR_FACTOR)
        with self.effects():
            services.record_route_plan(job.id, plan)
    except DuplicateDelivery:
        raise  # another delivery of this event committed first: nothing to record
    except ProblemError as exc:
        # Malformed data does not heal by retrying: fail now, dead-letter the event.
        services.record_optimize_failure(job.id, f"the day cannot be routed: {exc}", final=True)
        raise PermanentFailure(str(exc)) from exc
    except Exception as exc:
        services.record_optimize_failure(job.id, _readable(exc), final=_is_last_attempt(self, exc))
        raise


def _is_last_attempt(task: Any, exc: Exception) -> bool:
    """Whether OutboxTask will dead-letter rather than retry this failure (its own rule)."""
    return isinstance(exc, PermanentFailure) or task.attempt > (task.max_retries or 0)
