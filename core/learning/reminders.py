"""Stale-draft reminders (beat: learning.remind_stale_drafts, batch queue, hourly).

A draft that is still its content's latest version STALE_DRAFT_DAYS after it was written
reminds its author: a notification (so it is also in their next digest) and a live event on
their own channel, like every notification (core/learning/notifications.py). Versions never
change (a correction is a new version), so "untouched" is "written that long ago and nothing
newer since". A DraftReminder row per (draft, threshold) is claimed in the same transaction
as the notification: a second run, a concurrent one, or a run after old notifications were
pruned by retention reminds nobody again. Raising the threshold setting reminds once more,
at the new threshold.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.learning import queries
from core.learning.models import Notification, Version
from core.platform.channels import user_channel
from outbox.emit import emit

log = structlog.get_logger(__name__)

# Bounds one run; the next run (an hour later) goes on.
MAX_BATCHES = 20


def _message(version: Version, days: int) -> str:
    return (f"Your draft “{version.title}” (v{version.number}) has not changed for {days} days: "
            "submit it for review, or write a new version.")[:300]


def _claim_batch(now: datetime, days: int, batch: int) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(queries.REMIND_STALE_DRAFTS, {"now": now, "days": days, "batch": batch})
        return list(cursor.fetchall())


@transaction.atomic(durable=True)
def remind_batch(now: datetime, days: int, batch: int) -> int:
    """Remind the authors of up to `batch` stale drafts (reminder rows, notifications and their
    live events in one transaction). Returns how many; fewer than `batch`: none are left."""
    claimed = _claim_batch(now, days, batch)
    versions = Version.objects.in_bulk([version_id for _tenant, version_id, _author in claimed])
    rows = Notification.objects.bulk_create([
        Notification(tenant_id=tenant_id, recipient_id=author_id, actor=None, reason=Notification.Reason.STALE_DRAFT,
                     source=f"stale:{version_id}:{days}d", version_id=version_id,
                     message=_message(versions[version_id], days))
        for tenant_id, version_id, author_id in claimed])
    for row in rows:
        version = versions[row.version_id]
        emit("notification.created", aggregate_type="notification", aggregate_id=row.id,
             channel=user_channel(row.tenant_id, row.recipient_id), tenant_id=row.tenant_id,
             payload={"notification_id": row.id, "reason": row.reason, "message": row.message,
                      "version_id": row.version_id, "content_id": version.content_id})
    return len(rows)


def remind_stale_drafts(now: datetime | None = None, days: int | None = None) -> int:
    """The periodic job: every stale draft not yet reminded at the threshold, in bounded
    batches; returns how many authors were reminded."""
    now, days = now or timezone.now(), days or settings.STALE_DRAFT_DAYS
    reminded = 0
    for _ in range(MAX_BATCHES):
        done = remind_batch(now, days, settings.STALE_DRAFT_BATCH)
        reminded += done
        if done < settings.STALE_DRAFT_BATCH:
            break
    log.info("learning.stale_drafts_reminded", reminded=reminded, days=days)
    return reminded
