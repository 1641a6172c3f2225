"""The ops pages (included by core/config/urls.py under /ops/)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from core.ops import views

app_name = "ops"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
    path("figures.json", views.figures, name="figures"),
    path("charts/", views.chart_panel, name="charts"),
    path("dead-letters/redrive/", views.redrive_dead_letters, name="redrive"),
    path("dead-letters/bulk/", views.bulk_dead_letters, name="bulk"),
    path("dead-letters/bulk/confirm/", views.confirm_bulk_dead_letters, name="bulk_confirm"),
    path("bulk/<int:bulk_id>/", views.bulk_action, name="bulk_action"),
    path("heal/", views.heal_runs, name="heal_runs"),
    path("heal/rows", views.heal_run_rows, name="heal_run_rows"),
    path("heal/<str:name>/", views.trigger_heal, name="trigger_heal"),
]
