"""The dispatch pages (included by core/config/urls.py at dispatch/)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from core.dispatch import views

app_name = "dispatch"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.index, name="index"),
    path("day/<str:day>/", views.day_view, name="day"),
    path("day/<str:day>/board", views.board, name="board"),
    path("day/<str:day>/optimize", views.optimize, name="optimize"),
    path("day/<str:day>/clinicians/<int:clinician_id>/sick", views.report_sick, name="report_sick"),
    path("visits/new", views.visit_create, name="visit_create"),
    path("visits/<int:visit_id>/edit", views.visit_edit, name="visit_edit"),
    path("visits/<int:visit_id>/running-over", views.report_running_over, name="report_running_over"),
    path("clinicians/new", views.clinician_create, name="clinician_create"),
    path("clinicians/<int:clinician_id>/edit", views.clinician_edit, name="clinician_edit"),
    path("schedules/", views.schedule_list, name="schedules"),
    path("schedules/new", views.schedule_create, name="schedule_create"),
    path("schedules/<int:schedule_id>/", views.schedule_detail, name="schedule"),
    path("schedules/<int:schedule_id>/edit", views.schedule_edit, name="schedule_edit"),
    path("schedules/<int:schedule_id>/<str:change>", views.schedule_action, name="schedule_action"),
]
