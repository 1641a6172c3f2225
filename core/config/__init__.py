"""Django configuration: settings, URLs, ASGI/WSGI entry points and the Celery app.

The Celery app is imported here, as Django's guide to Celery does, so that it exists in
every process that loads these settings (web, relay, commands), and `celery -A core.config`
finds it for workers and beat.
"""

from __future__ import annotations

from core.config.celery import app as celery_app

__all__ = ["celery_app"]
