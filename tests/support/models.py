from __future__ import annotations

from django.db import models


class Effect(models.Model):
    """Written by tests.record_effect inside its effects() transaction. No unique constraint
    on purpose: only the outbox inbox stands between a duplicate delivery and a second row."""

    key = models.CharField(max_length=100, db_index=True)
    event_id = models.UUIDField()
    tenant_id = models.BigIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


class LongJob(models.Model):
    """A table with the lifecycle columns of outbox/jobs.py, for testing them on their own."""

    tenant_id = models.BigIntegerField(null=True)
    status = models.CharField(max_length=10, default="queued")
    attempts = models.IntegerField(default=0)
    claimed_event = models.UUIDField(null=True)
    started_at = models.DateTimeField(null=True)
    deadline_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)
    error = models.TextField(blank=True)
    notes = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"long job {self.pk} ({self.status})"
