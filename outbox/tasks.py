"""Periodic outbox maintenance (beat schedules seeded by migration outbox/0002)."""

from __future__ import annotations

import logging
from pathlib import Path

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.platform.channels import platform_channel
from core.platform.retention import POLICIES, prune
from core.platform.tasks import ferry_task
from outbox import queries
from outbox.archive import archive_expired
from outbox.delivery import SweepResult, sweep_stalled
from outbox.emit import emit
from outbox.metrics import count_dead

log = structlog.get_logger(__name__)

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


def enforce_retention() -> dict[str, int]:
    """Delete what every registered retention policy no longer keeps (bounded per run); the
    rows deleted per table, recorded as a platform event when anything went (adr/0016)."""
    deleted = {name: prune(policy, batch=settings.RETENTION_BATCH, max_batches=settings.RETENTION_MAX_BATCHES)
               for name, policy in POLICIES.items()}
    if settings.OUTBOX_ARCHIVE_DIR:  # each month archived records an ArchiveRun of its own
        for run in archive_expired(Path(settings.OUTBOX_ARCHIVE_DIR), settings.OUTBOX_HISTORY_KEEP_MONTHS):
            log.log(logging.INFO if run.status == "done" else logging.ERROR, "outbox.history_archived",
                    partition=run.partition, rows=run.rows, status=run.status, error=run.error)
    if any(deleted.values()):
        keep_days = {name: round(policy.keep().total_seconds() / 86400, 4) for name, policy in POLICIES.items()}
        with transaction.atomic(durable=True):
            emit("retention.applied", aggregate_type="retention", aggregate_id=timezone.now().strftime("%Y-%m-%d"),
                 payload={"deleted": deleted, "keep_days": keep_days}, channel=platform_channel(), tenant_id=None)
    log.info("outbox.retention_enforced", **deleted)
    return deleted


@ferry_task(name="outbox.enforce_retention", queue="batch", soft_time_limit=600, time_limit=660)
def enforce_retention_task(tenant_id: int | None = None) -> dict[str, int]:
    """Keep the inbox, attempts, dead letters, heal runs and notifications bounded, and archive
    old months of the outbox history when OUTBOX_ARCHIVE_DIR is set."""
    return enforce_retention()


@ferry_task(name="outbox.count_dead_letters", queue="default", soft_time_limit=50, time_limit=60)
def count_dead_letters_task(tenant_id: int | None = None) -> str:
    """Beat, every minute: recount dead letters into the figures' rollups (outbox/metrics.py)."""
    return count_dead().isoformat()
