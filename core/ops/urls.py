"""The ops pages (included by core/urls.py under /ops/)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from core.ops import views

app_name = "ops"
urlpatterns: list[URLPattern | URLResolver] = [
    path("heal/", views.heal_runs, name="heal_runs"),
    path("heal/<str:name>/", views.trigger_heal, name="trigger_heal"),
]
