"""The dispatch JSON API (mounted by core/platform/api.py at /api/dispatch/).

Dispatchers read and write; auditors read. Every lookup is scoped to the caller's tenant
(another tenant's ids answer 404 like absent ones); every write goes through a write
function of core/dispatch/services.py, which validates and names the bad field.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from core.accounts.access import RoleAuth, get_for_tenant, tenant_user
from core.dispatch import schedules, selectors, services
from core.dispatch.models import Clinician, OptimizeJob, RoutePlan, Schedule, Visit
from core.dispatch.selectors import PlanView
from core.platform.errors import Invalid
from core.platform.roles import Role
from core.platform.schemas import Day, Text, WallTime, Whole, answers
from core.privacy import services as privacy
from core.privacy.models import ReadKind

router = Router(tags=["dispatch"])

WRITE = RoleAuth(Role.DISPATCHER)
READ = RoleAuth(Role.DISPATCHER, Role.AUDITOR)


# --- schemas -----------------------------------------------------------------------------


class ClinicianIn(Schema):
    name: Text
    skills: list[Text] = []
    shift_start: WallTime
    shift_end: WallTime
    start_lat: float
    start_lon: float
    active: bool = True
    break_start: WallTime | None = Field(None, description="the lunch break may start from this time")
    break_end: WallTime | None = Field(None, description="... and must start by this time")
    break_minutes: Whole = Field(0, description="the break's length; 0: no break")
    max_overtime_minutes: Whole = Field(0, description="how long past shift_end a route may run")


class ClinicianPatch(Schema):
    name: Text | None = None
    skills: list[Text] | None = None
    shift_start: WallTime | None = None
    shift_end: WallTime | None = None
    start_lat: float | None = None
    start_lon: float | None = None
    active: bool | None = None
    break_start: WallTime | None = None
    break_end: WallTime | None = None
    break_minutes: Whole | None = None
    max_overtime_minutes: Whole | None = None


class ClinicianOut(Schema):
    id: int
    name: str
    skills: list[str]
    shift_start: WallTime
    shift_end: WallTime
    start_lat: float
    start_lon: float
    active: bool
    break_start: WallTime | None
    break_end: WallTime | None
    break_minutes: int
    max_overtime_minutes: int


class VisitIn(Schema):
    patient_ref: Text
    lat: float
    lon: float
    date: Day
    window_start: WallTime
    window_end: WallTime
    duration_minutes: int
    required_skill: Text | None = None
    priority: int = 1
    status: Text = Visit.Status.SCHEDULED
    preferred_clinicians: list[Whole] = Field([], description="the patient's usual clinicians (continuity of care)")


class VisitPatch(Schema):
    patient_ref: Text | None = None
    lat: float | None = None
    lon: float | None = None
    date: Day | None = None
    window_start: WallTime | None = None
    window_end: WallTime | None = None
    duration_minutes: int | None = None
    required_skill: Text | None = None
    priority: int | None = None
    status: Text | None = None
    preferred_clinicians: list[Whole] | None = None


class VisitOut(Schema):
    id: int
    patient_ref: str
    lat: float
    lon: float
    date: dt.date
    window_start: WallTime
    window_end: WallTime
    duration_minutes: int
    required_skill: str
    priority: int
    status: str
    preferred_clinicians: list[int]


class OptimizeIn(Schema):
    date: Day


class JobAccepted(Schema):
    job_id: int
    status: str


class SickIn(Schema):
    date: Day
    from_time: WallTime = Field(description="out for the rest of the day from this time")


class RunningOverIn(Schema):
    until: WallTime = Field(description="when the visit under way will end")


class SickOut(Schema):
    clinician_id: int
    date: dt.date
    from_time: WallTime
    replan: JobAccepted | None = Field(description="the re-plan of the rest of the day (null: no plan yet)")


class JobOut(Schema):
    job_id: int
    date: dt.date
    status: str
    error: str
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    route_plan_id: int | None


class StopOut(Schema):
    sequence: int
    visit_id: int
    patient_ref: str
    window_start: WallTime
    window_end: WallTime
    planned_arrival: WallTime
    planned_start: WallTime
    planned_departure: WallTime


class RouteOut(Schema):
    clinician_id: int
    clinician_name: str
    stops: list[StopOut]
    break_start: WallTime | None = Field(description="when the lunch break is taken (null: none needed)")
    break_end: WallTime | None
    overtime_minutes: int


class ChangeOut(Schema):
    visit_id: int
    from_clinician_id: int | None = Field(description="null: the visit was not in the previous version")
    to_clinician_id: int | None = Field(description="null: the visit is left out now")
    from_start: str | None
    to_start: str | None


class UnassignedOut(Schema):
    visit_id: int
    patient_ref: str
    reason: str
    message: str


class PlanSummary(Schema):
    id: int
    version: int
    job_id: int | None
    created_at: dt.datetime
    objective: int
    solve_seconds: float
    time_limit_seconds: float
    total_travel_seconds: int
    visits_assigned: int
    visits_unassigned: int
    solver_status: str
    warm_start: bool = Field(description="searched from the day's previous plan version")
    reason: str = Field(description="why this version was made, when it was a re-plan (a sick call)")
    preferred_share: float | None = Field(description="of the visits with preferred clinicians, the share "
                                                      "served by one (null: none has any)")
    changes: list[ChangeOut] = Field(description="visits whose clinician or start changed since the "
                                                 "previous version")


class PlanOut(PlanSummary):
    routes: list[RouteOut]
    unassigned: list[UnassignedOut]


class RoutePlansOut(Schema):
    date: dt.date
    latest: PlanOut | None
    versions: list[PlanSummary]


# --- helpers -------------------------------------------------------------------------------


def _caller(request: HttpRequest) -> tuple[int, int]:
    """(tenant id, user id) of the signed-in caller (RoleAuth admitted only users of a tenant)."""
    user = tenant_user(request)
    assert user.tenant_id is not None
    return user.tenant_id, user.pk


def _tenant(request: HttpRequest) -> int:
    return _caller(request)[0]


def _shown(request: HttpRequest, kind: ReadKind, subject: object, visit_ids: Iterable[int]) -> None:
    """Record in the read audit that the caller is shown these visits (adr/0017)."""
    privacy.record_read(privacy.reader_of(request), kind, str(subject), visit_ids)


def _changes(payload: Schema) -> dict[str, Any]:
    """The fields a PATCH sent; null is refused except for required_skill, where it means none."""
    changes = payload.dict(exclude_unset=True)
    if "required_skill" in changes and changes["required_skill"] is None:
        changes["required_skill"] = ""
    for name, value in changes.items():
        if value is None:
            raise Invalid(f"{name} cannot be null", field=name)
    for name in ("skills", "preferred_clinicians"):
        if name in changes:
            changes[name] = tuple(changes[name])
    return changes


def job_out(job: OptimizeJob) -> dict[str, Any]:
    plan_id = RoutePlan.objects.filter(job_id=job.pk).values_list("id", flat=True).first()
    return {"job_id": job.pk, "date": job.date, "status": job.status, "error": job.error,
            "attempts": job.attempts, "created_at": job.created_at, "started_at": job.started_at,
            "finished_at": job.finished_at, "route_plan_id": plan_id}


def plan_summary(plan: RoutePlan) -> dict[str, Any]:
    return {"id": plan.pk, "version": plan.version, "job_id": plan.job_id, "created_at": plan.created_at,
            "objective": plan.objective, "solve_seconds": plan.solve_seconds,
            "time_limit_seconds": plan.time_limit_seconds, "total_travel_seconds": plan.total_travel_seconds,
            "visits_assigned": plan.visits_assigned, "visits_unassigned": plan.visits_unassigned,
            "solver_status": plan.solver_status, "warm_start": plan.warm_start, "reason": plan.reason,
            "preferred_share": plan.preferred_share,
            "changes": [{"visit_id": c["visit"], "from_clinician_id": c["from"], "to_clinician_id": c["to"],
                         "from_start": c["from_start"], "to_start": c["to_start"]} for c in plan.changes]}



def plan_out(view: PlanView) -> dict[str, Any]:
    routes = [{"clinician_id": route.clinician.pk, "clinician_name": route.clinician.name,
               "break_start": route.break_taken[0] if route.break_taken else None,
               "break_end": route.break_taken[1] if route.break_taken else None,
               "overtime_minutes": route.overtime_minutes, "stops": [
        {"sequence": stop.sequence, "visit_id": stop.visit_id, "patient_ref": stop.visit.patient_ref,
         "window_start": stop.visit.window_start, "window_end": stop.visit.window_end,
         "planned_arrival": stop.planned_arrival, "planned_start": stop.planned_start,
         "planned_departure": stop.planned_departure} for stop in route.stops]} for route in view.routes]
    unassigned = [{"visit_id": item.visit_id, "patient_ref": item.visit.patient_ref, "reason": item.reason,
                   "message": item.message} for item in view.unassigned]
    return {**plan_summary(view.plan), "routes": routes, "unassigned": unassigned}


# --- clinicians ------------------------------------------------------------------------------


@router.get("/clinicians", response=answers({200: list[ClinicianOut]}), auth=READ)
def list_clinicians(request: HttpRequest) -> Any:
    """The agency's clinicians, active ones first."""
    return Clinician.objects.filter(tenant_id=_tenant(request)).order_by("-active", "name", "id")


@router.post("/clinicians", response=answers({201: ClinicianOut}, 400), auth=WRITE)
def create_clinician(request: HttpRequest, payload: ClinicianIn) -> Any:
    tenant_id, actor_id = _caller(request)
    data = services.ClinicianFields(**{**payload.dict(), "skills": tuple(payload.skills)})
    return Status(201, services.create_clinician(tenant_id, data, actor_id=actor_id))


@router.get("/clinicians/{clinician_id}", response=answers({200: ClinicianOut}, 400, 404), auth=READ)
def get_clinician(request: HttpRequest, clinician_id: int) -> Any:
    return get_for_tenant(Clinician.objects.all(), _tenant(request), clinician_id, "clinician")


@router.patch("/clinicians/{clinician_id}", response=answers({200: ClinicianOut}, 400, 404), auth=WRITE)
def update_clinician(request: HttpRequest, clinician_id: int, payload: ClinicianPatch) -> Any:
    tenant_id, actor_id = _caller(request)
    return services.update_clinician(tenant_id, clinician_id, _changes(payload), actor_id=actor_id)


@router.delete("/clinicians/{clinician_id}", response=answers({204: None}, 400, 404, 409), auth=WRITE)
def delete_clinician(request: HttpRequest, clinician_id: int) -> Any:
    tenant_id, actor_id = _caller(request)
    services.delete_clinician(tenant_id, clinician_id, actor_id=actor_id)
    return Status(204, None)


@router.post("/clinicians/{clinician_id}/sick", response=answers({202: SickOut}, 400, 404, 409), auth=WRITE)
def report_sick(request: HttpRequest, clinician_id: int, payload: SickIn) -> Any:
    """The clinician is out for the rest of the date from `from_time`. If the date has a plan,
    the rest of the day is re-planned as of that time: visits already started stay, the
    clinician's others move to colleagues, and the new plan arrives on the live stream
    (schedule.optimized) with what changed. 409 if the absence is already recorded."""
    tenant_id, actor_id = _caller(request)
    call = services.report_sick(tenant_id, clinician_id, payload.date, payload.from_time, actor_id=actor_id)
    replan = {"job_id": call.replan.job.pk, "status": call.replan.job.status} if call.replan else None
    return Status(202, {"clinician_id": clinician_id, "date": payload.date, "from_time": payload.from_time,
                        "replan": replan})


# --- visits ----------------------------------------------------------------------------------


@router.get("/visits", response=answers({200: list[VisitOut]}, 400), auth=READ)
def list_visits(request: HttpRequest, date: Day | None = None) -> Any:
    """The agency's visits, of one date if given."""
    visits = Visit.objects.filter(tenant_id=_tenant(request))
    shown = list(visits.filter(date=date) if date else visits.order_by("date", "window_start", "id"))
    _shown(request, ReadKind.API_VISITS, date or "", [visit.pk for visit in shown])
    return shown


@router.post("/visits", response=answers({201: VisitOut}, 400), auth=WRITE)
def create_visit(request: HttpRequest, payload: VisitIn) -> Any:
    tenant_id, actor_id = _caller(request)
    data = services.VisitFields(**{**payload.dict(), "required_skill": payload.required_skill or "",
                                   "preferred_clinicians": tuple(payload.preferred_clinicians)})
    return Status(201, services.create_visit(tenant_id, data, actor_id=actor_id))


@router.get("/visits/{visit_id}", response=answers({200: VisitOut}, 400, 404), auth=READ)
def get_visit(request: HttpRequest, visit_id: int) -> Any:
    visit = get_for_tenant(Visit.objects.all(), _tenant(request), visit_id, "visit")
    _shown(request, ReadKind.API_VISIT, visit.pk, [visit.pk])
    return visit


@router.patch("/visits/{visit_id}", response=answers({200: VisitOut}, 400, 404), auth=WRITE)
def update_visit(request: HttpRequest, visit_id: int, payload: VisitPatch) -> Any:
    tenant_id, actor_id = _caller(request)
    return services.update_visit(tenant_id, visit_id, _changes(payload), actor_id=actor_id)


@router.post("/visits/{visit_id}/running-over", response=answers({202: JobAccepted}, 400, 404, 409), auth=WRITE)
def report_running_over(request: HttpRequest, visit_id: int, payload: RunningOverIn) -> Any:
    """The visit, under way, will end at `until` (later than planned): the rest of the day is
    re-planned as of its start, the visit pinned and lasting until then; the new plan arrives
    on the live stream. 409 if the day's current plan does not route the visit."""
    tenant_id, actor_id = _caller(request)
    job = services.report_running_over(tenant_id, visit_id, payload.until, actor_id=actor_id).job
    return Status(202, {"job_id": job.pk, "status": job.status})


@router.delete("/visits/{visit_id}", response=answers({204: None}, 400, 404, 409), auth=WRITE)
def delete_visit(request: HttpRequest, visit_id: int) -> Any:
    tenant_id, actor_id = _caller(request)
    services.delete_visit(tenant_id, visit_id, actor_id=actor_id)
    return Status(204, None)


# --- Optimize Day ------------------------------------------------------------------------------


@router.post("/optimize-day", response=answers({202: JobAccepted}, 400, 409), auth=WRITE)
def optimize_day(request: HttpRequest, payload: OptimizeIn) -> Any:
    """Queue Optimize Day for a date: 202 with the job to follow (GET /jobs/{id}, or the live
    stream's schedule.optimized). While a job for that date is queued or running, that job
    is returned instead of starting another."""
    tenant_id, actor_id = _caller(request)
    job = services.request_optimize(tenant_id, payload.date, actor_id=actor_id).job
    return Status(202, {"job_id": job.pk, "status": job.status})


@router.get("/jobs/{job_id}", response=answers({200: JobOut}, 400, 404), auth=READ)
def get_job(request: HttpRequest, job_id: int) -> Any:
    job = get_for_tenant(OptimizeJob.objects.all(), _tenant(request), job_id, "job")
    return job_out(job)


@router.get("/route-plans", response=answers({200: RoutePlansOut}, 400), auth=READ)
def route_plans(request: HttpRequest, date: Day) -> Any:
    """The date's latest route plan in full (null if never optimized) and every version's summary."""
    tenant_id = _tenant(request)
    latest = selectors.latest_plan(tenant_id, date)
    _shown(request, ReadKind.API_ROUTE_PLANS, date, latest.visit_ids() if latest else [])
    return {"date": date, "latest": plan_out(latest) if latest else None,
            "versions": [plan_summary(plan) for plan in selectors.plan_versions(tenant_id, date)]}


@router.get("/route-plans/{plan_id}", response=answers({200: PlanOut}, 400, 404), auth=READ)
def route_plan(request: HttpRequest, plan_id: int) -> Any:
    """One plan version in full."""
    plan = get_for_tenant(RoutePlan.objects.all(), _tenant(request), plan_id, "route plan")
    view = selectors.plan_view(plan)
    _shown(request, ReadKind.API_ROUTE_PLAN, plan.pk, view.visit_ids())
    return plan_out(view)


# --- schedules (core/dispatch/schedules.py, adr/0025) -------------------------------------------


class ScheduleIn(Schema):
    name: Text = Field(max_length=100)
    cron: Text | None = Field(None, max_length=100, description='five fields in the agency\'s time zone, '
                                                                  'e.g. "0 17 * * 1-5"; or give every_minutes')
    every_minutes: int | None = Field(None, description="instead of cron: every N minutes (5 to 20160)")
    days_ahead: int = Field(1, description="Optimize Day for the run's local date plus this many days (0 to 14)")
    priority: int = Field(5, description="0 (first) to 9, among runs due at the same time")
    enabled: bool = True


class SchedulePatch(Schema):
    name: Text | None = Field(None, max_length=100)
    cron: Text | None = Field(None, max_length=100)
    every_minutes: int | None = None
    days_ahead: int | None = None
    priority: int | None = None
    enabled: bool | None = None


class ScheduleOut(Schema):
    id: int
    name: str
    action: str
    cron: str
    every_minutes: int | None
    days_ahead: int
    priority: int
    enabled: bool
    time_zone: str
    next_run_at: dt.datetime | None
    last_run_at: dt.datetime | None


class ScheduleRunOut(Schema):
    id: int
    due_at: dt.datetime
    ran_at: dt.datetime
    outcome: str
    day: dt.date
    job_id: int | None
    missed: int


def schedule_out(schedule: Schedule) -> dict[str, Any]:
    return {"id": schedule.pk, "name": schedule.name, "action": schedule.action, "cron": schedule.cron,
            "every_minutes": schedule.every_minutes, "days_ahead": schedule.days_ahead,
            "priority": schedule.priority, "enabled": schedule.enabled,
            "time_zone": schedules.zone_of(schedule.tenant_id).key, "next_run_at": schedule.next_run_at,
            "last_run_at": schedule.last_run_at}


@router.get("/schedules", response=answers({200: list[ScheduleOut]}), auth=READ)
def list_schedules(request: HttpRequest) -> Any:
    """The agency's schedules, by name."""
    return [schedule_out(s) for s in Schedule.objects.filter(tenant_id=_tenant(request)).order_by("name", "id")]


@router.post("/schedules", response=answers({201: ScheduleOut}, 400), auth=WRITE)
def create_schedule(request: HttpRequest, payload: ScheduleIn) -> Any:
    """A recurring Optimize Day for the agency, from the next due time on."""
    tenant_id, actor_id = _caller(request)
    fields = schedules.ScheduleFields.from_data(payload.dict())
    return Status(201, schedule_out(schedules.create_schedule(tenant_id, fields, actor_id=actor_id)))


@router.get("/schedules/{schedule_id}", response=answers({200: ScheduleOut}, 400, 404), auth=READ)
def get_schedule(request: HttpRequest, schedule_id: int) -> Any:
    return schedule_out(get_for_tenant(Schedule.objects.all(), _tenant(request), schedule_id, "schedule"))


@router.patch("/schedules/{schedule_id}", response=answers({200: ScheduleOut}, 400, 404), auth=WRITE)
def update_schedule(request: HttpRequest, schedule_id: int, payload: SchedulePatch) -> Any:
    """Change any of the fields; giving cron drops every_minutes and the other way round. The
    next run follows the new settings."""
    tenant_id, actor_id = _caller(request)
    current = get_for_tenant(Schedule.objects.all(), tenant_id, schedule_id, "schedule")
    changes = _changes(payload)
    if "cron" in changes:
        changes.setdefault("every_minutes", None)
    elif "every_minutes" in changes:
        changes["cron"] = ""
    merged = {name: changes.get(name, getattr(current, name))
              for name in ("name", "cron", "every_minutes", "days_ahead", "priority", "enabled")}
    return schedule_out(schedules.update_schedule(tenant_id, schedule_id, schedules.ScheduleFields.from_data(merged),
                                                  actor_id=actor_id))


@router.post("/schedules/{schedule_id}/pause", response=answers({200: ScheduleOut}, 400, 404), auth=WRITE)
def pause_schedule(request: HttpRequest, schedule_id: int) -> Any:
    tenant_id, actor_id = _caller(request)
    return schedule_out(schedules.set_schedule_enabled(tenant_id, schedule_id, False, actor_id=actor_id))


@router.post("/schedules/{schedule_id}/resume", response=answers({200: ScheduleOut}, 400, 404), auth=WRITE)
def resume_schedule(request: HttpRequest, schedule_id: int) -> Any:
    """Run again from the next due time after now (nothing missed while paused is run)."""
    tenant_id, actor_id = _caller(request)
    return schedule_out(schedules.set_schedule_enabled(tenant_id, schedule_id, True, actor_id=actor_id))


@router.delete("/schedules/{schedule_id}", response=answers({204: None}, 400, 404), auth=WRITE)
def delete_schedule(request: HttpRequest, schedule_id: int) -> Any:
    tenant_id, actor_id = _caller(request)
    schedules.delete_schedule(tenant_id, schedule_id, actor_id=actor_id)
    return Status(204, None)


@router.get("/schedules/{schedule_id}/runs", response=answers({200: list[ScheduleRunOut]}, 400, 404), auth=READ)
def schedule_runs(request: HttpRequest, schedule_id: int) -> Any:
    """The schedule's last 50 runs, newest first."""
    schedule = get_for_tenant(Schedule.objects.all(), _tenant(request), schedule_id, "schedule")
    return [{"id": r.pk, "due_at": r.due_at, "ran_at": r.ran_at, "outcome": r.outcome, "day": r.day,
             "job_id": r.job_id, "missed": r.missed} for r in schedule.runs.all()[:50]]
