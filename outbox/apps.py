from __future__ import annotations

from datetime import timedelta

from django.apps import AppConfig
from django.conf import settings


class OutboxConfig(AppConfig):
    name = "outbox"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.platform.retention import Policy, register

        register(Policy("inbox", "outbox_inbox", "processed_at",
                        lambda: timedelta(days=settings.RETENTION_INBOX_DAYS)))
        register(Policy("attempts", "outbox_attempt", "started_at",
                        lambda: timedelta(days=settings.RETENTION_ATTEMPTS_DAYS), "finished_at IS NOT NULL"))
        register(Policy("dead_letters", "outbox_deadletter", "created_at",
                        lambda: timedelta(days=settings.RETENTION_DEAD_LETTERS_DAYS),
                        "redriven_at IS NOT NULL OR discarded_at IS NOT NULL"))
        register(Policy("metric_minutes", "outbox_metric_minute", "at",
                        lambda: timedelta(days=settings.RETENTION_METRIC_MINUTES_DAYS)))
        register(Policy("metric_hours", "outbox_metric_hour", "at",
                        lambda: timedelta(days=settings.RETENTION_METRIC_HOURS_DAYS)))
