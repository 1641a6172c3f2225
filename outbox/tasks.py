"""Periodic outbox maintenance (beat schedules seeded by migration outbox/0002)."""

from __future__ import annotations

from django.db import connection

from core.platform.tasks import ferry_task
from outbox import queries
from outbox.delivery import SweepResult, sweep_stalled

# Bounds one run; the next run (a minute later) continues.
SWEEP_MAX_BATCHES = 50


def sweep_all(limit: int = 1000) -> SweepResult:
    """Sweep until nothing stalled is left or SWEEP_MAX_BATCHES batches were moved."""
    requeued = dead = 0
    for _ in range(SWEEP_MAX_BATCHES):
        result = sweep_stalled(limit=limit)
        requeued, dead = requeued + result.requeued, dead + result.dead
        if result.moved < limit:
            break
    return SweepResult(requeued=requeued, dead=dead)


@ferry_task(name="outbox.sweep_stalled", queue="batch", soft_time_limit=120, time_limit=150)
def sweep_stalled_task(tenant_id: int | None = None) -> dict[str, int]:
    """The generic heal: redeliver task events that were relayed but never completed."""
    result = sweep_all()
    return {"requeued": result.requeued, "dead": result.dead}


@ferry_task(name="outbox.ensure_partitions", queue="batch", soft_time_limit=60, time_limit=90)
def ensure_partitions_task(tenant_id: int | None = None) -> int:
    """Create outbox_history partitions three months ahead (rows never reach the default)."""
    with connection.cursor() as cursor:
        cursor.execute(queries.ENSURE_PARTITIONS)
        return int(cursor.fetchone()[0])
