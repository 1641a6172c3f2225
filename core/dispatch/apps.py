from __future__ import annotations

from datetime import timedelta

from django.apps import AppConfig
from django.conf import settings


class DispatchConfig(AppConfig):
    name = "core.dispatch"
    label = "dispatch"

    def ready(self) -> None:
        from core.platform.retention import Policy, register

        register(Policy("schedule_runs", "dispatch_schedulerun", "ran_at",
                        lambda: timedelta(days=settings.RETENTION_SCHEDULE_RUNS_DAYS)))
