"""Dispatch write functions: one per state change, each with its outbox event(s).

Request-side functions (called by the API and the pages) are durable transactions. The
task-side ones called inside `OutboxTask.effects()` (record_route_plan) use a plain
atomic block, because effects() already opened the durable transaction that also records
the inbox row. Every function validates what it writes and raises core.platform.errors exceptions
naming the field, so the API and the forms report the same message.

Events on the tenant channel let every signed-in user of the agency see changes live
(core/live); the Optimize Day task is reached through a task event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import ProtectedError

from core.accounts.access import get_for_tenant
from core.dispatch import queries
from core.dispatch.models import (
    Clinician,
    ClinicianAbsence,
    OptimizeJob,
    Priority,
    RoutePlan,
    RouteStop,
    Skill,
    UnassignedVisit,
    Visit,
)
from core.dispatch.optimize import DayPlan, time_of
from core.platform.channels import tenant_channel
from core.platform.db import fetch_as
from core.platform.errors import Conflict, Invalid
from outbox import jobs
from outbox.emit import emit

SKILLS = frozenset(Skill.values)
MAX_VISIT_MINUTES = 12 * 60
OPTIMIZE_TASK = "dispatch.optimize_day"


# --- validation ------------------------------------------------------------------------


@dataclass(frozen=True)
class ClinicianFields:
    name: str
    skills: tuple[str, ...]
    shift_start: time
    shift_end: time
    start_lat: float
    start_lon: float
    active: bool = True
    break_start: time | None = None
    break_end: time | None = None
    break_minutes: int = 0
    max_overtime_minutes: int = 0


@dataclass(frozen=True)
class VisitFields:
    patient_ref: str
    lat: float
    lon: float
    date: date
    window_start: time
    window_end: time
    duration_minutes: int
    required_skill: str = ""
    priority: int = Priority.ROUTINE
    status: str = Visit.Status.SCHEDULED
    preferred_clinicians: tuple[int, ...] = ()


def _text(value: str, field: str, max_length: int) -> str:
    text = str(value).strip()
    if not text:
        raise Invalid(f"{field} must not be blank", field=field)
    if len(text) > max_length:
        raise Invalid(f"{field} must be at most {max_length} characters", field=field)
    return text


def _coordinate(value: float, field: str, limit: int) -> float:
    # NaN fails every comparison, so it is refused here too.
    if not (isinstance(value, int | float) and math.isfinite(value) and -limit <= value <= limit):
        raise Invalid(f"{field} must be a number between -{limit} and {limit}, not {value}", field=field)
    return float(value)


def _skill(value: str, field: str) -> str:
    if value not in SKILLS:
        raise Invalid(f"unknown skill {value!r}; known skills: {', '.join(sorted(SKILLS))}", field=field)
    return value


MAX_BREAK_MINUTES = 120
MAX_OVERTIME_MINUTES = 4 * 60


def _minutes(value: int, field: str, limit: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise Invalid(f"{field} must be a whole number of minutes from 0 to {limit}", field=field)
    return value


def _validate_break(data: ClinicianFields) -> ClinicianFields:
    """A break needs its window (both ends, inside the shift) and a length; no length, no break."""
    minutes = _minutes(data.break_minutes, "break_minutes", MAX_BREAK_MINUTES)
    if not minutes:
        return replace(data, break_start=None, break_end=None)
    if data.break_start is None:
        raise Invalid("a break needs the time from which it may start", field="break_start")
    if data.break_end is None:
        raise Invalid("a break needs the time by which it must start", field="break_end")
    if data.break_start < data.shift_start:
        raise Invalid("the break window opens before the shift starts", field="break_start")
    if data.break_end < data.break_start:
        raise Invalid("the break window closes before it opens", field="break_end")
    shift_end = datetime.combine(date.min, data.shift_end) + timedelta(minutes=data.max_overtime_minutes)
    if datetime.combine(date.min, data.break_end) + timedelta(minutes=minutes) > shift_end:
        raise Invalid("a break starting at the window's end would last past the shift", field="break_end")
    return data


def validate_clinician(data: ClinicianFields) -> ClinicianFields:
    """The fields, normalised; Invalid naming the first bad field."""
    if data.shift_end <= data.shift_start:
        raise Invalid("the shift ends before it starts", field="shift_end")
    _minutes(data.max_overtime_minutes, "max_overtime_minutes", MAX_OVERTIME_MINUTES)
    data = _validate_break(data)
    return replace(
        data,
        name=_text(data.name, "name", 200),
        skills=tuple(sorted({_skill(skill, "skills") for skill in data.skills})),
        start_lat=_coordinate(data.start_lat, "start_lat", 90),
        start_lon=_coordinate(data.start_lon, "start_lon", 180),
    )


def validate_visit(data: VisitFields, tenant_id: int | None = None) -> VisitFields:
    """The fields, normalised; Invalid naming the first bad field. With `tenant_id`, the
    preferred clinicians must be that agency's."""
    if data.window_end < data.window_start:
        raise Invalid("the time window ends before it starts", field="window_end")
    if isinstance(data.duration_minutes, bool) or not 0 < data.duration_minutes <= MAX_VISIT_MINUTES:
        raise Invalid(f"duration_minutes must be between 1 and {MAX_VISIT_MINUTES}", field="duration_minutes")
    if data.required_skill:
        _skill(data.required_skill, "required_skill")
    if data.priority not in Priority.values:
        raise Invalid(f"priority must be one of {Priority.values}", field="priority")
    if data.status not in Visit.Status.values:
        raise Invalid(f"status must be one of {Visit.Status.values}", field="status")
    preferred = tuple(sorted(set(data.preferred_clinicians)))
    if any(isinstance(c, bool) or not isinstance(c, int) for c in preferred):
        raise Invalid("preferred_clinicians must be clinician ids", field="preferred_clinicians")
    if tenant_id is not None and preferred:
        known = set(Clinician.objects.filter(tenant_id=tenant_id, pk__in=preferred).values_list("pk", flat=True))
        unknown = [c for c in preferred if c not in known]
        if unknown:
            raise Invalid(f"no clinician {unknown[0]} in this agency", field="preferred_clinicians")
    return replace(
        data,
        patient_ref=_text(data.patient_ref, "patient_ref", 64),
        lat=_coordinate(data.lat, "lat", 90),
        lon=_coordinate(data.lon, "lon", 180),
        preferred_clinicians=preferred,
    )


def _merge(current: Any, changes: Mapping[str, Any]) -> Any:
    """`current` (a fields dataclass) with `changes` applied; Invalid for an unknown field."""
    known = {f.name for f in fields(current)}
    for name in changes:
        if name not in known:
            raise Invalid(f"{name} is not a field that can be changed", field=name)
    return replace(current, **changes)


def clinician_fields(clinician: Clinician) -> ClinicianFields:
    return ClinicianFields(name=clinician.name, skills=tuple(clinician.skills), shift_start=clinician.shift_start,
                           shift_end=clinician.shift_end, start_lat=clinician.start_lat,
                           start_lon=clinician.start_lon, active=clinician.active,
                           break_start=clinician.break_start, break_end=clinician.break_end,
                           break_minutes=clinician.break_minutes,
                           max_overtime_minutes=clinician.max_overtime_minutes)


def visit_fields(visit: Visit) -> VisitFields:
    return VisitFields(patient_ref=visit.patient_ref, lat=visit.lat, lon=visit.lon, date=visit.date,
                       window_start=visit.window_start, window_end=visit.window_end,
                       duration_minutes=visit.duration_minutes, required_skill=visit.required_skill,
                       priority=visit.priority, status=visit.status,
                       preferred_clinicians=tuple(visit.preferred_clinicians))


# --- clinicians -------------------------------------------------------------------------


def _announce(event_type: str, aggregate_type: str, aggregate_id: int, tenant_id: int,
              actor_id: int | None, **payload: Any) -> None:
    """Tell the agency's live pages (tenant channel) that something changed."""
    emit(event_type, aggregate_type=aggregate_type, aggregate_id=aggregate_id, payload=payload,
         channel=tenant_channel(tenant_id), tenant_id=tenant_id, actor_id=actor_id)


def _clinician_values(data: ClinicianFields) -> dict[str, Any]:
    return {**asdict(data), "skills": list(data.skills)}


@transaction.atomic(durable=True)
def create_clinician(tenant_id: int, data: ClinicianFields, *, actor_id: int | None) -> Clinician:
    clinician = Clinician.objects.create(tenant_id=tenant_id, **_clinician_values(validate_clinician(data)))
    _announce("clinician.created", "clinician", clinician.pk, tenant_id, actor_id, clinician_id=clinician.pk)
    return clinician


@transaction.atomic(durable=True)
def update_clinician(tenant_id: int, clinician_id: int, changes: Mapping[str, Any], *,
                     actor_id: int | None) -> Clinician:
    """Change some fields; NotFound for another tenant's or an absent clinician."""
    clinician = get_for_tenant(Clinician.objects.select_for_update(), tenant_id, clinician_id, "clinician")
    data = validate_clinician(_merge(clinician_fields(clinician), changes))
    for name, value in _clinician_values(data).items():
        setattr(clinician, name, value)
    clinician.save()
    _announce("clinician.updated", "clinician", clinician.pk, tenant_id, actor_id, clinician_id=clinician.pk)
    return clinician


@transaction.atomic(durable=True)
def delete_clinician(tenant_id: int, clinician_id: int, *, actor_id: int | None) -> None:
    """Delete a clinician no plan mentions; Conflict (409) otherwise: deactivate them instead."""
    clinician = get_for_tenant(Clinician.objects.select_for_update(), tenant_id, clinician_id, "clinician")
    try:
        clinician.delete()
    except ProtectedError:
        raise Conflict("the clinician appears in route plans; set active to false instead",
                       field="clinician_id") from None
    _announce("clinician.deleted", "clinician", clinician_id, tenant_id, actor_id, clinician_id=clinician_id)


# --- visits ----------------------------------------------------------------------------


def _visit_values(data: VisitFields) -> dict[str, Any]:
    return {**asdict(data), "preferred_clinicians": list(data.preferred_clinicians)}


@transaction.atomic(durable=True)
def create_visit(tenant_id: int, data: VisitFields, *, actor_id: int | None) -> Visit:
    visit = Visit.objects.create(tenant_id=tenant_id, **_visit_values(validate_visit(data, tenant_id)))
    _announce("visit.created", "visit", visit.pk, tenant_id, actor_id, visit_id=visit.pk,
              dates=[visit.date.isoformat()])
    return visit


@transaction.atomic(durable=True)
def update_visit(tenant_id: int, visit_id: int, changes: Mapping[str, Any], *, actor_id: int | None) -> Visit:
    """Change some fields (cancel with status="cancelled"); NotFound for another tenant's visit."""
    visit = get_for_tenant(Visit.objects.select_for_update(), tenant_id, visit_id, "visit")
    before = visit.date
    data = validate_visit(_merge(visit_fields(visit), changes), tenant_id)
    for name, value in _visit_values(data).items():
        setattr(visit, name, value)
    visit.save()
    # Pages showing either day refresh: the visit may have moved between days.
    dates = sorted({before.isoformat(), visit.date.isoformat()})
    _announce("visit.updated", "visit", visit.pk, tenant_id, actor_id, visit_id=visit.pk, dates=dates)
    return visit


@transaction.atomic(durable=True)
def delete_visit(tenant_id: int, visit_id: int, *, actor_id: int | None) -> None:
    """Delete a visit no plan mentions; Conflict (409) otherwise: cancel it instead."""
    visit = get_for_tenant(Visit.objects.select_for_update(), tenant_id, visit_id, "visit")
    day = visit.date.isoformat()
    try:
        visit.delete()
    except ProtectedError:
        raise Conflict("the visit appears in route plans; set its status to cancelled instead",
                       field="visit_id") from None
    _announce("visit.deleted", "visit", visit_id, tenant_id, actor_id, visit_id=visit_id, dates=[day])


# --- sick calls ------------------------------------------------------------------------


@dataclass(frozen=True)
class SickCall:
    absence: ClinicianAbsence
    replan: OptimizeRequest | None  # None when the day has no plan yet to re-plan


@transaction.atomic(durable=True)
def report_sick(tenant_id: int, clinician_id: int, day: date, from_time: time, *,
                actor_id: int | None) -> SickCall:
    """A clinician is out for the rest of `day` from `from_time`. Recorded with its event, and
    when the day has a plan, with a re-plan of the rest of the day as of that time (visits
    already started stay; the others move, priced to stay close to the plan). NotFound for
    another agency's clinician; Conflict if the absence is already recorded."""
    clinician = get_for_tenant(Clinician.objects.select_for_update(), tenant_id, clinician_id, "clinician")
    if ClinicianAbsence.objects.filter(clinician=clinician, date=day).exists():
        raise Conflict(f"{clinician.name} is already out on {day.isoformat()}", field="clinician_id")
    absence = ClinicianAbsence.objects.create(tenant_id=tenant_id, clinician=clinician, date=day,
                                              from_time=from_time, reported_by_id=actor_id)
    _announce("clinician.out_sick", "clinician", clinician.pk, tenant_id, actor_id, clinician_id=clinician.pk,
              date=day.isoformat(), from_time=from_time.strftime("%H:%M"))
    replan = None
    if RoutePlan.objects.filter(tenant_id=tenant_id, date=day).exists():
        reason = f"{clinician.name} is out sick from {from_time.strftime('%H:%M')}"
        replan = request_optimize_within(tenant_id, day, actor_id=actor_id, as_of=from_time, reason=reason)
    return SickCall(absence, replan)


@transaction.atomic(durable=True)
def report_running_over(tenant_id: int, visit_id: int, until: time, *, actor_id: int | None) -> OptimizeRequest:
    """A visit under way will end at `until`, later than planned: recorded, and the rest of the
    day re-planned as of just after its planned start (so it and what came before stay where
    they are, lasting until `until`, and what follows moves as little as it can). NotFound for
    another agency's visit; Conflict if the day's current plan does not route it; Invalid
    (naming `until`) if `until` is not after its planned end."""
    visit = get_for_tenant(Visit.objects.select_for_update(), tenant_id, visit_id, "visit")
    plan = RoutePlan.objects.filter(tenant_id=tenant_id, date=visit.date).order_by("-version").first()
    stop = RouteStop.objects.filter(plan=plan, visit=visit).first() if plan is not None else None
    if stop is None:
        raise Conflict("the visit is not in the day's current plan; optimize the day first", field="visit_id")
    if until <= stop.planned_departure:
        raise Invalid(f"the visit is planned to end at {stop.planned_departure:%H:%M}; give a later time",
                      field="until")
    visit.running_until = until
    visit.save(update_fields=["running_until", "updated_at"])
    _announce("visit.running_over", "visit", visit.pk, tenant_id, actor_id, visit_id=visit.pk,
              dates=[visit.date.isoformat()], until=until.strftime("%H:%M"))
    started = datetime.combine(visit.date, stop.planned_start) + timedelta(minutes=1)
    reason = f"{visit.patient_ref} runs over until {until:%H:%M}"
    return request_optimize_within(tenant_id, visit.date, actor_id=actor_id, as_of=started.time(), reason=reason)


# --- Optimize Day: requests ----------------------------------------------------------------


@dataclass(frozen=True)
class OptimizeRequest:
    job: OptimizeJob
    created: bool  # False: a job for that day was already queued or running


def _fetch(sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _job_event(event_type: str, job_id: int, tenant_id: int, day: date, actor_id: int | None = None,
               **payload: Any) -> None:
    _announce(event_type, "optimize_job", job_id, tenant_id, actor_id, job_id=job_id, date=day.isoformat(),
              **payload)


@transaction.atomic(durable=True)
def request_optimize(tenant_id: int, day: date, *, actor_id: int | None) -> OptimizeRequest:
    """Queue an Optimize Day job for `day`, or return the one already queued or running.

    The job row and the task event commit together: a job is never queued without its task,
    and a rolled-back request leaves neither.
    """
    return request_optimize_within(tenant_id, day, actor_id=actor_id)


def request_optimize_within(tenant_id: int, day: date, *, actor_id: int | None, as_of: time | None = None,
                            reason: str = "") -> OptimizeRequest:
    """request_optimize inside the caller's transaction (a schedule's run records itself with
    the job it requested, core/dispatch/schedules.py). `as_of` asks for a re-plan of the
    rest of the day from that time (a sick call), `reason` says why."""
    stale_s = settings.OPTIMIZE_STALE_AFTER_S
    error = f"abandoned: no progress for {stale_s} s (the worker was lost)"
    for (job_id,) in _fetch(queries.ABANDON_STALE_JOBS, {"tenant_id": tenant_id, "date": day, "error": error}):
        _job_event("optimize.failed", job_id, tenant_id, day, error="abandoned", final=True)
    # Twice at most: the active job we collided with may finish between our insert and our read.
    for _ in range(2):
        inserted = _fetch(queries.INSERT_JOB, {"tenant_id": tenant_id, "date": day, "actor_id": actor_id,
                                               "stale_s": stale_s, "as_of": as_of, "reason": reason[:200]})
        if inserted:
            job_id = inserted[0][0]
            emit("optimize_day.requested", aggregate_type="optimize_job", aggregate_id=job_id,
                 payload={"job_id": job_id}, task=OPTIMIZE_TASK, tenant_id=tenant_id, actor_id=actor_id)
            _job_event("optimize.queued", job_id, tenant_id, day, actor_id, reason=reason)
            return OptimizeRequest(OptimizeJob.objects.get(pk=job_id), created=True)
        active = OptimizeJob.objects.filter(tenant_id=tenant_id, date=day, status__in=OptimizeJob.ACTIVE).first()
        if active is not None:
            return OptimizeRequest(active, created=False)
    raise Conflict("another Optimize Day for this date just finished; try again", field="date")


# --- Optimize Day: the task's state changes -----------------------------------------------


@dataclass(frozen=True)
class StartedJob:
    id: int
    tenant_id: int
    date: date
    attempts: int
    as_of: time | None = None  # a re-plan of the rest of the day from this time
    reason: str = ""


@transaction.atomic(durable=True)
def start_optimize_job(tenant_id: int, job_id: int, event_id: str | None = None) -> StartedJob | None:
    """Claim the job for the delivery of `event_id` (outbox/jobs.py); None if it is done,
    failed, not this tenant's or held by another delivery (nothing to do)."""
    if jobs.claim(queries.OPTIMIZE_JOBS, job_id, tenant_id, event_id, settings.OPTIMIZE_STALE_AFTER_S) is None:
        return None
    [job] = fetch_as(StartedJob, queries.CLAIMED_JOB, {"id": job_id})
    _job_event("optimize.started", job.id, tenant_id, job.date, attempt=job.attempts)
    return job


def record_route_plan(job_id: int, plan: DayPlan) -> RoutePlan | None:
    """Write the plan as the day's next version and mark the job done, in the caller's
    transaction (the task's effects). None, and nothing written, if the job is no longer
    running: a finished job never gets a second plan."""
    with transaction.atomic():
        rows = _fetch(queries.FINISH_JOB, {"id": job_id})
        if not rows:
            return None
        tenant_id, day, reason = rows[0]
        previous = RoutePlan.objects.filter(tenant_id=tenant_id, date=day).order_by("-version").first()
        route_plan = RoutePlan.objects.create(
            tenant_id=tenant_id, date=day, version=(previous.version if previous else 0) + 1, job_id=job_id,
            objective=plan.objective, solve_seconds=plan.solve_seconds, time_limit_seconds=plan.time_limit,
            total_travel_seconds=plan.total_travel, visits_assigned=len(plan.stops),
            visits_unassigned=len(plan.unassigned), solver_status=plan.solver_status, warm_start=plan.warm_start,
            reason=reason,
            preferred_share=plan.preferred_share,
            route_details={str(k): v for k, v in (plan.route_details or {}).items()})
        _write_stops(route_plan, plan)
        before, after = _assignments_of(previous), _assignments_of(route_plan)
        changed = changed_visit_ids(before, after)
        if previous is not None:
            route_plan.changes = plan_changes(before, after, changed)
            route_plan.save(update_fields=["changes"])
        emit("schedule.optimized", aggregate_type="route_plan", aggregate_id=route_plan.pk,
             channel=tenant_channel(tenant_id), tenant_id=tenant_id, payload={
                 "job_id": job_id, "route_plan_id": route_plan.pk, "date": day.isoformat(),
                 "version": route_plan.version, "changed_visit_ids": changed,
                 "solve_seconds": round(plan.solve_seconds, 3), "visits_assigned": len(plan.stops),
                 "visits_unassigned": len(plan.unassigned)})
        return route_plan


def _write_stops(route_plan: RoutePlan, plan: DayPlan) -> None:
    RouteStop.objects.bulk_create([
        RouteStop(plan=route_plan, clinician_id=stop.clinician_id, visit_id=stop.visit_id, sequence=stop.sequence,
                  planned_arrival=time_of(stop.arrival), planned_start=time_of(stop.start),
                  planned_departure=time_of(stop.departure))
        for stop in plan.stops
    ])
    UnassignedVisit.objects.bulk_create([
        UnassignedVisit(plan=route_plan, visit_id=item.visit_id, reason=item.reason, message=item.message)
        for item in plan.unassigned
    ])


# What a visit's place in a plan is: who, and when service starts; None when left out.
Assignment = tuple[int, time] | None


def _assignments_of(route_plan: RoutePlan | None) -> dict[int, Assignment]:
    if route_plan is None:
        return {}
    found: dict[int, Assignment] = {
        visit_id: (clinician_id, start)
        for visit_id, clinician_id, start in route_plan.stops.values_list("visit_id", "clinician_id", "planned_start")
    }
    found.update((visit_id, None) for visit_id in route_plan.unassigned.values_list("visit_id", flat=True))
    return found


def changed_visit_ids(before: Mapping[int, Assignment], after: Mapping[int, Assignment]) -> list[int]:
    """Visits whose clinician or start time differs between two plans, or that are in one only."""
    return sorted(v for v in before.keys() | after.keys() if v not in before or v not in after
                  or before[v] != after[v])


def plan_changes(before: Mapping[int, Assignment], after: Mapping[int, Assignment],
                 changed: list[int]) -> list[dict[str, Any]]:
    """Per changed visit: its clinician and start before and after (None when left out or new)."""
    def part(assignment: Assignment | None, index: int) -> Any:
        if assignment is None:
            return None
        value = assignment[index]
        return value.strftime("%H:%M") if isinstance(value, time) else value

    return [{"visit": v, "from": part(before.get(v), 0), "to": part(after.get(v), 0),
             "from_start": part(before.get(v), 1), "to_start": part(after.get(v), 1)} for v in changed]


@transaction.atomic(durable=True)
def record_optimize_failure(job_id: int, error: str, *, final: bool) -> None:
    """A solve attempt failed: queued again to be retried, or failed for good (`final`)."""
    params = {"id": job_id, "error": error[:2000], "stale_s": settings.OPTIMIZE_STALE_AFTER_S}
    rows = _fetch(queries.FAIL_JOB if final else queries.RETRY_JOB, params)
    if rows:
        tenant_id, day = rows[0]
        _job_event("optimize.failed" if final else "optimize.retrying", job_id, tenant_id, day,
                   error=error[:500], final=final)
