from __future__ import annotations

from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "core.web"
    label = "web"
    verbose_name = "Ferry site shell"
