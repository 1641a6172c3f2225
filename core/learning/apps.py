from __future__ import annotations

from django.apps import AppConfig


class LearningConfig(AppConfig):
    name = "core.learning"
    label = "learning"

    def ready(self) -> None:
        from core.learning.heals import heal_pending_gradings, heal_search_index
        from core.platform.heals import register

        register("search_index", heal_search_index)
        register("pending_gradings", heal_pending_gradings)
