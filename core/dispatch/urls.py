"""The dispatch pages (included by core/urls.py)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "dispatch"
urlpatterns: list[URLPattern | URLResolver] = []
