"""The dispatcher's pages: a day view that follows the live stream, and the edit forms.

Styling is left to the web UI issue; these pages work. The day view renders a board and
re-fetches it (day/<date>/board) whenever the live stream reports a change to that day.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Any, TypeVar

from django.contrib import messages
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core.accounts.access import get_for_tenant, page_tenant_id, page_user, role_required
from core.dispatch import demo, schedules, selectors, services
from core.dispatch.forms import ClinicianForm, RunningOverForm, ScheduleForm, SickForm, VisitForm, save_with
from core.dispatch.models import Clinician, Schedule, Visit
from core.platform.errors import DomainError, NotFound
from core.platform.roles import Role
from core.privacy import services as privacy
from core.privacy.models import ReadKind
from outbox.reader import current_position

READERS = (Role.DISPATCHER, Role.AUDITOR)
M = TypeVar("M", bound=models.Model)


def _caller(request: HttpRequest) -> tuple[int, int]:
    return page_tenant_id(request), page_user(request).pk


def _owned(queryset: models.QuerySet[M], tenant_id: int, pk: int, what: str) -> M:
    """The tenant's object, or 404 (pages answer Http404 where the API answers NotFound)."""
    try:
        return get_for_tenant(queryset, tenant_id, pk, what)
    except NotFound as exc:
        raise Http404(exc.message) from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Http404(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _day_url(day: date) -> str:
    return reverse("dispatch:day", args=[day.isoformat()])


def _hours(seconds: int) -> str:
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _board_context(request: HttpRequest, day: date, kind: ReadKind) -> dict[str, Any]:
    """The board's data; showing it is recorded in the read audit (as `kind`)."""
    tenant_id, _ = _caller(request)
    board = selectors.day_board(tenant_id, day)
    privacy.record_read(privacy.reader_of(request), kind, day.isoformat(), board.visit_ids())
    user: Any = request.user
    return {"board": board, "day": day, "can_edit": Role.DISPATCHER in user.roles,
            "travel": _hours(board.plan.plan.total_travel_seconds) if board.plan else ""}


@role_required(*READERS)
def index(request: HttpRequest) -> HttpResponse:
    """The dispatch page opens on the demo day (today)."""
    return redirect(_day_url(demo.demo_day()))


@role_required(*READERS)
def day_view(request: HttpRequest, day: str) -> HttpResponse:
    the_day = _day(day)
    # Read the stream position before the data: what commits later is replayed to the page.
    position = current_position()
    context = _board_context(request, the_day, ReadKind.DAY)
    context.update(stream_position=str(position), previous_day=date.fromordinal(the_day.toordinal() - 1),
                   next_day=date.fromordinal(the_day.toordinal() + 1))
    return render(request, "dispatch/day.html", context)


@role_required(*READERS)
def board(request: HttpRequest, day: str) -> HttpResponse:
    """The day's board alone, for the page to swap in when the stream reports a change (its
    read-audit record folds into the one of its window: adr/0017)."""
    return render(request, "dispatch/_board.html", _board_context(request, _day(day), ReadKind.DAY_BOARD))


@require_POST
@role_required(Role.DISPATCHER)
def optimize(request: HttpRequest, day: str) -> HttpResponse:
    """Without JavaScript, the Optimize Day button posts here (with it, to the API)."""
    tenant_id, actor_id = _caller(request)
    try:
        job = services.request_optimize(tenant_id, _day(day), actor_id=actor_id).job
        messages.info(request, f"Optimize Day queued (job {job.pk}); the routes appear here when it is done.")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(_day_url(_day(day)))


@require_POST
@role_required(Role.DISPATCHER)
def report_sick(request: HttpRequest, day: str, clinician_id: int) -> HttpResponse:
    """A clinician calls in sick: out from a time for the rest of the day, the rest re-planned."""
    tenant_id, actor_id = _caller(request)
    the_day = _day(day)
    clinician = _owned(Clinician.objects.all(), tenant_id, clinician_id, "clinician")
    form = SickForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Out sick from: {form.errors['from_time'][0]}")
        return redirect(_day_url(the_day))
    try:
        call = services.report_sick(tenant_id, clinician.pk, the_day, form.cleaned_data["from_time"],
                                    actor_id=actor_id)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect(_day_url(the_day))
    if call.replan is not None:
        messages.info(request, f"{clinician.name} is out; re-planning the rest of the day (job {call.replan.job.pk}).")
    else:
        messages.info(request, f"{clinician.name} is out; Optimize Day will plan around it.")
    return redirect(_day_url(the_day))


@require_POST
@role_required(Role.DISPATCHER)
def report_running_over(request: HttpRequest, visit_id: int) -> HttpResponse:
    """A visit under way runs over: the rest of its day is re-planned around it."""
    tenant_id, actor_id = _caller(request)
    visit = _owned(Visit.objects.all(), tenant_id, visit_id, "visit")
    form = RunningOverForm(request.POST)
    if not form.is_valid():
        messages.error(request, f"Runs over until: {form.errors['until'][0]}")
        return redirect(_day_url(visit.date))
    try:
        job = services.report_running_over(tenant_id, visit.pk, form.cleaned_data["until"], actor_id=actor_id).job
        messages.info(request, f"{visit.patient_ref} runs over; re-planning the rest of the day (job {job.pk}).")
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(_day_url(visit.date))


@role_required(Role.DISPATCHER)
def visit_create(request: HttpRequest) -> HttpResponse:
    tenant_id, actor_id = _caller(request)
    initial = {"date": request.GET.get("date") or demo.demo_day().isoformat()}
    form = VisitForm(request.POST or None, initial=initial, tenant_id=tenant_id)
    if request.method == "POST":
        visit = save_with(form, lambda data: services.create_visit(
            tenant_id, services.VisitFields(**data), actor_id=actor_id))
        if visit is not None:
            return HttpResponseRedirect(_day_url(visit.date))
    return render(request, "dispatch/form.html", {"form": form, "title": "New visit",
                                                  "back": _day_url(_day(str(initial["date"])))})


@role_required(Role.DISPATCHER)
def visit_edit(request: HttpRequest, visit_id: int) -> HttpResponse:
    tenant_id, actor_id = _caller(request)
    visit = _owned(Visit.objects.all(), tenant_id, visit_id, "visit")
    form = VisitForm(request.POST or None, initial=asdict(services.visit_fields(visit)), tenant_id=tenant_id)
    if request.method == "POST":
        saved = save_with(form, lambda data: services.update_visit(tenant_id, visit.pk, data, actor_id=actor_id))
        if saved is not None:
            return HttpResponseRedirect(_day_url(saved.date))
    privacy.record_read(privacy.reader_of(request), ReadKind.VISIT, str(visit.pk), [visit.pk])
    return render(request, "dispatch/form.html", {"form": form, "title": f"Visit {visit.patient_ref}",
                                                  "back": _day_url(visit.date)})


@role_required(Role.DISPATCHER)
def clinician_create(request: HttpRequest) -> HttpResponse:
    tenant_id, actor_id = _caller(request)
    form = ClinicianForm(request.POST or None)
    if request.method == "POST":
        saved = save_with(form, lambda data: services.create_clinician(
            tenant_id, services.ClinicianFields(**{**data, "skills": tuple(data["skills"])}), actor_id=actor_id))
        if saved is not None:
            return redirect("dispatch:index")
    return render(request, "dispatch/form.html", {"form": form, "title": "New clinician",
                                                  "back": reverse("dispatch:index")})


@role_required(Role.DISPATCHER)
def clinician_edit(request: HttpRequest, clinician_id: int) -> HttpResponse:
    tenant_id, actor_id = _caller(request)
    clinician = _owned(Clinician.objects.all(), tenant_id, clinician_id, "clinician")
    initial = {**asdict(services.clinician_fields(clinician)), "skills": list(clinician.skills)}
    form = ClinicianForm(request.POST or None, initial=initial)
    if request.method == "POST":
        saved = save_with(form, lambda data: services.update_clinician(
            tenant_id, clinician.pk, {**data, "skills": tuple(data["skills"])}, actor_id=actor_id))
        if saved is not None:
            return redirect("dispatch:index")
    return render(request, "dispatch/form.html", {"form": form, "title": clinician.name,
                                                  "back": reverse("dispatch:index")})


# --- schedules (core/dispatch/schedules.py) ------------------------------------------------------


def _schedules_page(request: HttpRequest, form: ScheduleForm) -> HttpResponse:
    tenant_id = _caller(request)[0]
    return render(request, "dispatch/schedules.html", {
        "schedules": Schedule.objects.filter(tenant_id=tenant_id).order_by("name", "id"), "form": form,
        "zone": schedules.zone_of(tenant_id).key, "can_edit": page_user(request).has_role(Role.DISPATCHER)})


@require_GET
@role_required(Role.DISPATCHER, Role.AUDITOR)
def schedule_list(request: HttpRequest) -> HttpResponse:
    """The agency's schedules with their next and last runs, and a form for a new one."""
    return _schedules_page(request, ScheduleForm())


@require_POST
@role_required(Role.DISPATCHER)
def schedule_create(request: HttpRequest) -> HttpResponse:
    tenant_id, actor_id = _caller(request)
    form = ScheduleForm(request.POST)
    made = save_with(form, lambda data: schedules.create_schedule(tenant_id, schedules.ScheduleFields.from_data(data),
                                                                  actor_id=actor_id))
    if made is None:
        return _schedules_page(request, form)
    messages.success(request, f"Schedule {made.name!r} saved; next run {_when(made)}.")
    return redirect("dispatch:schedules")


def _when(schedule: Schedule) -> str:
    if schedule.next_run_at is None:
        return "none (paused)"
    return timezone.localtime(schedule.next_run_at, schedules.zone_of(schedule.tenant_id)).strftime("%Y-%m-%d %H:%M %Z")


def _schedule_page(request: HttpRequest, schedule: Schedule, form: ScheduleForm) -> HttpResponse:
    return render(request, "dispatch/schedule.html", {
        "schedule": schedule, "form": form, "runs": schedule.runs.select_related("job")[:50],
        "zone": schedules.zone_of(schedule.tenant_id).key, "can_edit": page_user(request).has_role(Role.DISPATCHER)})


@require_GET
@role_required(Role.DISPATCHER, Role.AUDITOR)
def schedule_detail(request: HttpRequest, schedule_id: int) -> HttpResponse:
    """One schedule: its settings (a form for dispatchers) and its last runs."""
    schedule = _owned(Schedule.objects.all(), _caller(request)[0], schedule_id, "schedule")
    initial = {name: getattr(schedule, name) for name in ("name", "cron", "every_minutes", "days_ahead", "priority",
                                                          "enabled")}
    return _schedule_page(request, schedule, ScheduleForm(initial=initial))


@require_POST
@role_required(Role.DISPATCHER)
def schedule_edit(request: HttpRequest, schedule_id: int) -> HttpResponse:
    tenant_id, actor_id = _caller(request)
    schedule = _owned(Schedule.objects.all(), tenant_id, schedule_id, "schedule")
    form = ScheduleForm(request.POST)
    saved = save_with(form, lambda data: schedules.update_schedule(
        tenant_id, schedule.pk, schedules.ScheduleFields.from_data(data), actor_id=actor_id))
    if saved is None:
        return _schedule_page(request, schedule, form)
    messages.success(request, f"Schedule {saved.name!r} saved; next run {_when(saved)}.")
    return redirect("dispatch:schedule", schedule_id=saved.pk)


@require_POST
@role_required(Role.DISPATCHER)
def schedule_action(request: HttpRequest, schedule_id: int, change: str) -> HttpResponse:
    """Pause, resume or delete a schedule."""
    tenant_id, actor_id = _caller(request)
    _owned(Schedule.objects.all(), tenant_id, schedule_id, "schedule")  # another agency's: 404
    if change == "delete":
        schedules.delete_schedule(tenant_id, schedule_id, actor_id=actor_id)
        messages.success(request, "Schedule deleted; it will not run again.")
        return redirect("dispatch:schedules")
    if change not in ("pause", "resume"):
        raise Http404("no such change")
    saved = schedules.set_schedule_enabled(tenant_id, schedule_id, change == "resume", actor_id=actor_id)
    state = f"resumed; next run {_when(saved)}" if saved.enabled else "paused"
    messages.success(request, f"Schedule {saved.name!r} {state}.")
    return redirect("dispatch:schedule", schedule_id=saved.pk)
