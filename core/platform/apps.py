from __future__ import annotations

from django.apps import AppConfig


class PlatformConfig(AppConfig):
    """Installed for its template tags (status badges, durations, JSON) shared by every page."""

    name = "core.platform"
    label = "platform"
    verbose_name = "Ferry platform"
