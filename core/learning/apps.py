from __future__ import annotations

from datetime import timedelta

from django.apps import AppConfig
from django.conf import settings


class LearningConfig(AppConfig):
    name = "core.learning"
    label = "learning"

    def ready(self) -> None:
        from core.learning.heals import (
            confirm_grading_repairs,
            confirm_index_repairs,
            heal_pending_gradings,
            heal_search_index,
        )
        from core.learning.reputation import confirm_reputation_repairs, heal_reputation
        from core.platform.heals import register
        from core.platform.retention import Policy
        from core.platform.retention import register as retain

        register("search_index", heal_search_index, confirm_index_repairs)
        register("pending_gradings", heal_pending_gradings, confirm_grading_repairs)
        register("reputation", heal_reputation, confirm_reputation_repairs)
        retain(Policy("notifications", "learning_notification", "created_at",
                      lambda: timedelta(days=settings.RETENTION_NOTIFICATIONS_DAYS)))
        # Digests that are settled; a pending or claimed one is still in play.
        retain(Policy("digests", "learning_digest", "created_at",
                      lambda: timedelta(days=settings.RETENTION_DIGESTS_DAYS),
                      condition="status IN ('sent', 'empty', 'uncertain', 'failed')"))
