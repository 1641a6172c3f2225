"""Ferry's Django project: settings, URLs, tenancy, the Celery app and the domain apps."""

from __future__ import annotations

from core.celery import app as celery_app

__all__ = ["celery_app"]
