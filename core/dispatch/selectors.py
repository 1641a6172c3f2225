"""Dispatch reads that matter, by name: what the solver needs, and a day's latest plan.

Every selector takes the tenant explicitly and filters by it; none reads another tenant's rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time

from core.dispatch.models import (
    Clinician,
    ClinicianAbsence,
    OptimizeJob,
    RoutePlan,
    RouteStop,
    UnassignedVisit,
    Visit,
)
from core.dispatch.optimize import ClinicianInput, DayInputs, VisitInput, seconds_of, time_of


def optimize_inputs(tenant_id: int, day: date) -> DayInputs:
    """The active clinicians (with their absence that day, if any) and the day's scheduled
    visits, with only the columns the solver needs (three queries), in id order so the same
    day always builds the same problem."""
    out_from = dict(ClinicianAbsence.objects.filter(tenant_id=tenant_id, date=day).values_list(
        "clinician_id", "from_time"))
    clinicians = Clinician.objects.filter(tenant_id=tenant_id, active=True).order_by("id").values_list(
        "id", "skills", "shift_start", "shift_end", "start_lat", "start_lon", "break_start", "break_end",
        "break_minutes", "max_overtime_minutes")
    visits = Visit.objects.filter(tenant_id=tenant_id, date=day, status=Visit.Status.SCHEDULED).order_by(
        "id").values_list("id", "lat", "lon", "window_start", "window_end", "duration_minutes",
                          "required_skill", "priority", "preferred_clinicians", "running_until")
    return DayInputs(
        clinicians=tuple(
            ClinicianInput(id=cid, skills=frozenset(skills), shift_start=seconds_of(start),
                           shift_end=seconds_of(end), lat=lat, lon=lon,
                           break_window=(seconds_of(opens), seconds_of(closes))
                           if minutes and opens is not None and closes is not None else None,
                           break_minutes=minutes, max_overtime_minutes=overtime,
                           out_from=seconds_of(out_from[cid]) if cid in out_from else None)
            for cid, skills, start, end, lat, lon, opens, closes, minutes, overtime in clinicians),
        visits=tuple(VisitInput(id=vid, lat=lat, lon=lon, window_start=seconds_of(opens),
                                window_end=seconds_of(closes), duration=minutes * 60, required_skill=skill,
                                priority=priority, preferred=tuple(preferred),
                                running_until=seconds_of(until) if until is not None else None)
                     for vid, lat, lon, opens, closes, minutes, skill, priority, preferred, until in visits),
    )


@dataclass
class ClinicianRoute:
    clinician: Clinician
    stops: list[RouteStop] = field(default_factory=list)
    break_taken: tuple[time, time] | None = None  # when the lunch break is taken
    overtime_minutes: int = 0


@dataclass(frozen=True)
class PlanChange:
    """A visit whose clinician or start changed since the previous version ("" / None: none)."""

    patient_ref: str
    before: str
    after: str
    before_start: str | None
    after_start: str | None


@dataclass
class PlanView:
    """A route plan with its stops grouped by clinician (in sequence) and its left-out visits."""

    plan: RoutePlan
    routes: list[ClinicianRoute]
    unassigned: list[UnassignedVisit]

    def visit_ids(self) -> set[int]:
        """The visits the plan shows (for the read audit)."""
        return {stop.visit_id for route in self.routes for stop in route.stops} | {
            item.visit_id for item in self.unassigned}


def latest_plan(tenant_id: int, day: date) -> PlanView | None:
    """The day's newest plan version, or None if the day was never optimized (three queries)."""
    plan = RoutePlan.objects.filter(tenant_id=tenant_id, date=day).order_by("-version").first()
    return plan_view(plan) if plan is not None else None


def previous_routes(tenant_id: int, day: date) -> dict[int, list[tuple[int, int]]]:
    """Each clinician's (visit id, planned start in seconds) in order in the day's newest plan
    ({} if none): where a re-plan starts from (one query)."""
    plan_id = RoutePlan.objects.filter(tenant_id=tenant_id, date=day).order_by("-version").values_list(
        "id", flat=True).first()
    routes: dict[int, list[tuple[int, int]]] = {}
    if plan_id is None:
        return routes
    for clinician_id, visit_id, start in (
            RouteStop.objects.filter(plan_id=plan_id).order_by("clinician_id", "sequence")
            .values_list("clinician_id", "visit_id", "planned_start")):
        routes.setdefault(clinician_id, []).append((visit_id, seconds_of(start)))
    return routes


def plan_view(plan: RoutePlan) -> PlanView:
    routes: dict[int, ClinicianRoute] = {}
    for stop in plan.stops.select_related("clinician", "visit").order_by("clinician__name", "clinician_id",
                                                                          "sequence"):
        routes.setdefault(stop.clinician_id, ClinicianRoute(stop.clinician)).stops.append(stop)
    for clinician_id, route in routes.items():
        details = plan.route_details.get(str(clinician_id), {})
        if "break" in details:
            route.break_taken = (time_of(details["break"][0]), time_of(details["break"][1]))
        route.overtime_minutes = round(details.get("overtime", 0) / 60)
    unassigned = list(plan.unassigned.select_related("visit").order_by("visit__window_start", "visit_id"))
    return PlanView(plan=plan, routes=list(routes.values()), unassigned=unassigned)


def plan_versions(tenant_id: int, day: date) -> list[RoutePlan]:
    return list(RoutePlan.objects.filter(tenant_id=tenant_id, date=day).order_by("-version"))


def latest_job(tenant_id: int, day: date) -> OptimizeJob | None:
    return OptimizeJob.objects.filter(tenant_id=tenant_id, date=day).order_by("-id").first()


@dataclass
class DayBoard:
    """Everything the dispatcher's day page shows."""

    day: date
    clinicians: list[Clinician]
    visits: list[tuple[Visit, str]]  # with the clinician the latest plan gives it ("" if none)
    plan: PlanView | None
    job: OptimizeJob | None
    out_from: dict[int, time] = field(default_factory=dict)  # clinicians out sick that day, from when

    @property
    def changes(self) -> list[PlanChange]:
        """What the current plan changed since the previous version, with the names the board
        already holds (no query)."""
        if self.plan is None:
            return []
        names = {c.pk: c.name for c in self.clinicians}
        refs = {visit.pk: visit.patient_ref for visit, _ in self.visits}
        return [PlanChange(refs.get(c["visit"], str(c["visit"])), names.get(c["from"], "") if c["from"] else "",
                           names.get(c["to"], "") if c["to"] else "", c["from_start"], c["to_start"])
                for c in self.plan.plan.changes]

    @property
    def clinician_rows(self) -> list[tuple[Clinician, time | None]]:
        """Each clinician with the time they are out sick from that day (None if they are not)."""
        return [(clinician, self.out_from.get(clinician.pk)) for clinician in self.clinicians]

    def visit_ids(self) -> set[int]:
        """The visits the board shows, listed or in the plan (for the read audit)."""
        return {visit.pk for visit, _ in self.visits} | (self.plan.visit_ids() if self.plan else set())


def day_board(tenant_id: int, day: date) -> DayBoard:
    """The page's data in seven queries, whatever the number of visits."""
    plan = latest_plan(tenant_id, day)
    assignment = {stop.visit_id: route.clinician.name for route in (plan.routes if plan else [])
                  for stop in route.stops}
    visits = Visit.objects.filter(tenant_id=tenant_id, date=day).order_by("window_start", "id")
    return DayBoard(
        day=day,
        clinicians=list(Clinician.objects.filter(tenant_id=tenant_id).order_by("-active", "name", "id")),
        visits=[(visit, assignment.get(visit.pk, "")) for visit in visits],
        plan=plan,
        job=latest_job(tenant_id, day),
        out_from=dict(ClinicianAbsence.objects.filter(tenant_id=tenant_id, date=day).values_list(
            "clinician_id", "from_time")),
    )
