"""Audit tasks: exports of the history made in the background, and their expiry (adr/0021)."""

from __future__ import annotations

from core.audit.exports import EXPORT_TIME_LIMIT_S, RunExport, expire_exports
from core.platform.tasks import ferry_task
from outbox.consumers import OutboxTask


@ferry_task(name="audit.run_export", queue="batch", soft_time_limit=EXPORT_TIME_LIMIT_S - 60,
            time_limit=EXPORT_TIME_LIMIT_S, base=OutboxTask, bind=True)
def run_export(self: OutboxTask, tenant_id: int, export_id: int, **_: object) -> str:
    """Make an export's file (core/audit/exports.py). Returns "done", or "skipped" when it was
    already finished or another delivery holds it."""
    return self.run_job(RunExport(int(export_id), int(tenant_id))) or "skipped"


@ferry_task(name="audit.expire_exports", queue="batch", soft_time_limit=300, time_limit=360)
def expire_exports_task(tenant_id: int | None = None) -> dict[str, int]:
    """Beat's hourly run (schedule seeded by migration audit/0002)."""
    return expire_exports()
