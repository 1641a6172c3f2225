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
        register(Policy("ops_actions", "ops_opsaction", "at",
                        lambda: timedelta(days=settings.RETENTION_OPS_ACTIONS_DAYS)))
        # A bulk action's record is its action log entry (kept a year); the job row, its progress.
        register(Policy("bulk_actions", "ops_bulkaction", "requested_at",
                        lambda: timedelta(days=settings.RETENTION_HEAL_RUNS_DAYS), "status IN ('succeeded', 'failed')"))
        self._register_metrics()

    @staticmethod
    def _register_metrics() -> None:
        """Gauges for alerts on heals, set by the relay from these queries (docs/observability.md)."""
        from core.ops import queries
        from core.platform.metrics import DatabaseGauge, register_database_gauge

        register_database_gauge(DatabaseGauge(
            "ferry_heal_last_run_repairs", "Repairs emitted by the latest finished platform-wide run of each heal",
            ("heal",), queries.HEAL_LAST_RUN_REPAIRS))
        register_database_gauge(DatabaseGauge(
            "ferry_heal_last_run_timestamp_seconds",
            "When the latest finished platform-wide run of each heal finished (unix time)",
            ("heal",), queries.HEAL_LAST_RUN_FINISHED))
