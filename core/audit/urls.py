from __future__ import annotations

from django.urls import path

from core.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.history, name="history"),
    path("events/<int:event_id>/", views.event, name="event"),
    path("trace/", views.trace, name="trace"),
    path("exports/", views.export_list, name="exports"),
    path("exports/new/", views.export_create, name="export_create"),
    path("exports/<int:export_id>/file", views.export_file, name="export_file"),
    path("reads/", views.read_list, name="reads"),
    path("reads/<int:read_id>/", views.read_detail, name="read"),
]
