"""WSGI entry point, for tools that want one; the web process uses core.config.asgi."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.config.settings")

application = get_wsgi_application()
