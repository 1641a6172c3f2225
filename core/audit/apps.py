from __future__ import annotations

from datetime import timedelta

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "core.audit"
    label = "audit"

    def ready(self) -> None:
        from core.platform.retention import Policy, register

        # An export's row outlives its file (deleted after AUDIT_EXPORT_KEEP_DAYS) by a year:
        # who exported what, and when, stays answerable (and in the outbox history for good).
        register(Policy("history_exports", "audit_historyexport", "requested_at", lambda: timedelta(days=365),
                        "status IN ('expired', 'failed')"))
