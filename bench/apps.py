from __future__ import annotations

from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Installed only for its management commands; it has no models."""

    name = "bench"
    label = "bench"
    verbose_name = "Ferry benchmarks and chaos harness"
