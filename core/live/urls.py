"""The live stream's URL (included by core/config/urls.py at live/)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from core.live import views

app_name = "live"
urlpatterns: list[URLPattern | URLResolver] = [
    path("stream", views.stream, name="stream"),
]
