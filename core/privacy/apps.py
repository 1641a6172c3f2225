from __future__ import annotations

from datetime import timedelta

from django.apps import AppConfig
from django.conf import settings


class PrivacyConfig(AppConfig):
    name = "core.privacy"
    label = "privacy"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from core.platform.retention import Policy, register

        register(Policy("patient_reads", "privacy_patientread", "at",
                        lambda: timedelta(days=settings.READ_AUDIT_RETENTION_DAYS)))
