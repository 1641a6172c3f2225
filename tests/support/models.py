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
