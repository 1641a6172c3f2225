"""URLs for tests only (never in the project's URLconf): a view that fails."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import path

from core.config.urls import urlpatterns as project_urlpatterns


def explode(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom: SECRET must never be shown")


urlpatterns = [path("__explode__", explode), *project_urlpatterns]
