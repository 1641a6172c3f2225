from __future__ import annotations

from django.apps import AppConfig


class SupportConfig(AppConfig):
    """Test-only app: a task whose effect is a row, so duplicate effects are countable."""

    name = "tests.support"
    label = "support"
