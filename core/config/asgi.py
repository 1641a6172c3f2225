"""ASGI entry point: the web process runs under uvicorn (server-sent events need async)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.config.settings")

application = get_asgi_application()
