from __future__ import annotations

from django.urls import path

from core.audit import views

app_name = "audit"
urlpatterns = [
    path("", views.history, name="history"),
    path("events/<int:event_id>/", views.event, name="event"),
    path("reads/", views.read_list, name="reads"),
    path("reads/<int:read_id>/", views.read_detail, name="read"),
]
