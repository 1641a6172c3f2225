"""The learning pages (included by core/urls.py)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver

app_name = "learning"
urlpatterns: list[URLPattern | URLResolver] = []
