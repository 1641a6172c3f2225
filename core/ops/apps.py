from __future__ import annotations

from datetime import timedelta

from django.apps import AppConfig
from django.conf import settings


class OpsConfig(AppConfig):
    name = "core.ops"
    label = "ops"

    def ready(self) -> None:
        from core.platform.retention import Policy, register

        register(Policy("heal_runs", "ops_healrun", "requested_at",
                        lambda: timedelta(days=settings.RETENTION_HEAL_RUNS_DAYS), "status IN ('succeeded', 'failed')"))
