"""Exports of the outbox history made in the background, for sets too large to stream to a
browser in one request (adr/0021): the job, its progress, and the file it made."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from core.accounts.models import Tenant


class HistoryExport(models.Model):
    """One export of an agency's filtered history to a file, made by the `audit.run_export`
    task (core/audit/exports.py). Written only there; the agency's auditors and ops see it."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"
        EXPIRED = "expired"  # done, and its file deleted after AUDIT_EXPORT_KEEP_DAYS

    class Format(models.TextChoices):
        CSV = "csv"
        JSONL = "jsonl"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                     related_name="+")
    requested_at = models.DateTimeField(default=timezone.now)
    # The history filter (outbox.selectors.HistoryFilter's fields; times as ISO 8601 text, the
    # payload match as written: `payload.visit_id = 42`).
    filters = models.JSONField(default=dict)
    format = models.CharField(max_length=5, choices=Format.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    rows_estimate = models.BigIntegerField(null=True)  # at the request (outbox.selectors.history_count)
    rows_done = models.BigIntegerField(default=0)  # so far, while running; all of them when done
    size_bytes = models.BigIntegerField(default=0)
    file_name = models.CharField(max_length=200, blank=True)  # in the default storage
    started_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    expires_at = models.DateTimeField(null=True)
    error = models.TextField(blank=True)
    # The lifecycle columns of outbox/jobs.py: the event whose delivery runs the export (a
    # redelivery of it starts the file again), deliveries so far, and when a run still
    # `running` was lost with its worker.
    claimed_event = models.UUIDField(null=True)
    attempts = models.IntegerField(default=0)
    deadline_at = models.DateTimeField(null=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-requested_at"], name="audit_export_tenant")]
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"history export #{self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status not in (self.Status.QUEUED, self.Status.RUNNING)
