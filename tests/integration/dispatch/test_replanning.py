"""Sick calls re-plan the rest of the day; breaks, overtime and preferred clinicians reach the plan.

Story: Harbor Home Health's day (conftest.harbor_day): Nora and Omar, five routine visits
around Back Bay. Nora calls in sick at 10:00; the visits she had started stay hers, the rest
go to Omar, and the dispatcher sees what changed and why.
"""

from __future__ import annotations

from datetime import time

import pytest

from core.accounts.models import Tenant
from core.dispatch import services
from core.dispatch.models import Clinician, ClinicianAbsence, OptimizeJob, RoutePlan, RouteStop, Visit
from core.platform.errors import Conflict, Invalid, NotFound
from outbox.models import OutboxEvent
from tests.helpers.dispatch import DAY, add_clinician, add_visit, optimize_now, task_event
from tests.helpers.outbox import execute as deliver

pytestmark = pytest.mark.django_db


def run(job: OptimizeJob) -> RoutePlan:
    deliver(task_event(job))
    return RoutePlan.objects.get(job=job)


def stops_of(plan: RoutePlan) -> dict[int, tuple[int, time]]:
    return {s.visit_id: (s.clinician_id, s.planned_start) for s in RouteStop.objects.filter(plan=plan)}


def test_a_sick_call_pins_what_was_started_and_moves_the_rest(harbor: Tenant, harbor_day: list[Visit]) -> None:
    before = RoutePlan.objects.get(job=optimize_now(harbor, DAY))
    planned = stops_of(before)
    nora = max(Clinician.objects.filter(tenant=harbor), key=lambda c: sum(1 for v, _ in planned.values() if v == c.pk))
    hers = sorted((start, visit) for visit, (clinician, start) in planned.items() if clinician == nora.pk)
    assert len(hers) >= 2, "the day must give the sick clinician a visit before and after the call"
    call_at = time(hers[0][0].hour, hers[0][0].minute + 1) if hers[0][0].minute < 59 else time(hers[0][0].hour + 1)
    started, later = hers[0][1], [visit for start, visit in hers if start >= call_at]

    call = services.report_sick(harbor.pk, nora.pk, DAY, call_at, actor_id=None)
    assert call.replan is not None
    job = call.replan.job
    assert (job.as_of, job.reason) == (call_at, f"{nora.name} is out sick from {call_at:%H:%M}")
    after = run(job)
    now = stops_of(after)
    assert now[started] == planned[started]  # under way: same clinician, same start
    for visit in later:
        assert now[visit][0] != nora.pk  # moved to a colleague...
        assert now[visit][1] >= call_at  # ...and not into the past
    moved = {c["visit"] for c in after.changes if c["from"] != c["to"]}
    assert moved == set(later)  # nobody else's visits changed hands
    assert after.warm_start
    assert after.reason == job.reason
    event = OutboxEvent.objects.filter(event_type="schedule.optimized").latest("id")
    assert set(later) <= set(event.payload["changed_visit_ids"])
    assert OutboxEvent.objects.filter(event_type="clinician.out_sick", aggregate_id=nora.pk).count() == 1


def test_a_sick_call_before_any_plan_only_records_the_absence(harbor: Tenant, harbor_day: list[Visit]) -> None:
    nora = Clinician.objects.filter(tenant=harbor).first()
    assert nora is not None
    call = services.report_sick(harbor.pk, nora.pk, DAY, time(7), actor_id=None)
    assert call.replan is None
    plan = RoutePlan.objects.get(job=optimize_now(harbor, DAY))
    assert not RouteStop.objects.filter(plan=plan, clinician=nora).exists()  # out before the shift


def test_a_second_sick_call_for_the_same_day_is_refused(harbor: Tenant, harbor_day: list[Visit]) -> None:
    nora = Clinician.objects.filter(tenant=harbor).first()
    assert nora is not None
    services.report_sick(harbor.pk, nora.pk, DAY, time(11), actor_id=None)
    with pytest.raises(Conflict) as refused:
        services.report_sick(harbor.pk, nora.pk, DAY, time(12), actor_id=None)
    assert refused.value.field == "clinician_id"
    assert ClinicianAbsence.objects.filter(clinician=nora).count() == 1


def test_another_agencys_clinician_cannot_be_reported_sick(harbor: Tenant, northside: Tenant) -> None:
    theirs = add_clinician(northside, "Bea Ortiz")
    with pytest.raises(NotFound):
        services.report_sick(harbor.pk, theirs.pk, DAY, time(11), actor_id=None)
    assert not ClinicianAbsence.objects.exists()


def test_breaks_and_overtime_reach_the_plan(harbor: Tenant) -> None:
    nora = add_clinician(harbor, "Nora Whitfield", shift=(time(8), time(12)))
    services.update_clinician(harbor.pk, nora.pk, {"break_start": time(10), "break_end": time(12),
                                                   "break_minutes": 30, "max_overtime_minutes": 60}, actor_id=None)
    # Three visits of 75 minutes and a lunch do not fit in four hours without overtime.
    for n, hour in enumerate((8, 9, 10), start=1):
        add_visit(harbor, f"HB-{n:04d}", window=(time(hour), time(hour + 2)), minutes=75)
    plan = RoutePlan.objects.get(job=optimize_now(harbor, DAY))
    assert plan.visits_unassigned == 0
    details = plan.route_details[str(nora.pk)]
    start, end = details["break"]
    assert 10 * 3600 <= start <= 12 * 3600
    assert end - start == 1800
    assert 0 < details["overtime"] <= 3600


def test_preferred_clinicians_get_their_patients_and_the_plan_says_how_many(harbor: Tenant,
                                                                             harbor_day: list[Visit]) -> None:
    omar = Clinician.objects.get(tenant=harbor, name="Omar Haddad")
    for visit in harbor_day[:2]:
        services.update_visit(harbor.pk, visit.pk, {"preferred_clinicians": (omar.pk,)}, actor_id=None)
    plan = RoutePlan.objects.get(job=optimize_now(harbor, DAY))
    assert plan.preferred_share == 1.0
    assert {s.clinician_id for s in RouteStop.objects.filter(plan=plan, visit__in=harbor_day[:2])} == {omar.pk}


@pytest.mark.parametrize(("changes", "field"), [
    ({"break_minutes": 30}, "break_start"),
    ({"break_minutes": 30, "break_start": time(12)}, "break_end"),
    ({"break_minutes": 30, "break_start": time(6), "break_end": time(7)}, "break_start"),
    ({"break_minutes": 30, "break_start": time(12), "break_end": time(11)}, "break_end"),
    ({"break_minutes": 30, "break_start": time(15), "break_end": time(15, 45)}, "break_end"),
    ({"break_minutes": -5}, "break_minutes"),
    ({"max_overtime_minutes": 10_000}, "max_overtime_minutes"),
])
def test_a_break_outside_the_shift_or_half_given_is_refused_naming_the_field(harbor: Tenant, changes: dict,
                                                                              field: str) -> None:
    nora = add_clinician(harbor, "Nora Whitfield", shift=(time(8), time(16)))
    with pytest.raises(Invalid) as refused:
        services.update_clinician(harbor.pk, nora.pk, changes, actor_id=None)
    assert refused.value.field == field
    nora.refresh_from_db()
    assert nora.break_minutes == 0


def test_a_preferred_clinician_of_another_agency_is_refused(harbor: Tenant, northside: Tenant,
                                                            harbor_day: list[Visit]) -> None:
    theirs = add_clinician(northside, "Bea Ortiz")
    with pytest.raises(Invalid) as refused:
        services.update_visit(harbor.pk, harbor_day[0].pk, {"preferred_clinicians": (theirs.pk,)}, actor_id=None)
    assert refused.value.field == "preferred_clinicians"
    harbor_day[0].refresh_from_db()
    assert harbor_day[0].preferred_clinicians == []


def test_a_visit_running_over_stays_pinned_longer_and_what_follows_moves(harbor: Tenant,
                                                                          harbor_day: list[Visit]) -> None:
    before = RoutePlan.objects.get(job=optimize_now(harbor, DAY))
    first = RouteStop.objects.filter(plan=before).order_by("planned_start").first()
    assert first is not None
    until = time(first.planned_departure.hour + 1, first.planned_departure.minute)
    job = services.report_running_over(harbor.pk, first.visit_id, until, actor_id=None).job
    assert job.reason == f"{first.visit.patient_ref} runs over until {until:%H:%M}"
    after = run(job)
    stop = RouteStop.objects.get(plan=after, visit_id=first.visit_id)
    assert (stop.clinician_id, stop.planned_start, stop.planned_departure) == (
        first.clinician_id, first.planned_start, until)
    for later in RouteStop.objects.filter(plan=after, clinician_id=first.clinician_id, sequence__gt=stop.sequence):
        assert later.planned_arrival >= until  # nobody is planned to leave before it ends
    assert OutboxEvent.objects.filter(event_type="visit.running_over", aggregate_id=first.visit_id).exists()


def test_running_over_is_refused_for_a_visit_not_planned_or_an_end_not_later(harbor: Tenant,
                                                                            harbor_day: list[Visit]) -> None:
    with pytest.raises(Conflict) as unplanned:
        services.report_running_over(harbor.pk, harbor_day[0].pk, time(12), actor_id=None)
    assert unplanned.value.field == "visit_id"
    plan = RoutePlan.objects.get(job=optimize_now(harbor, DAY))
    stop = RouteStop.objects.filter(plan=plan).first()
    assert stop is not None
    with pytest.raises(Invalid) as early:
        services.report_running_over(harbor.pk, stop.visit_id, stop.planned_departure, actor_id=None)
    assert early.value.field == "until"
    assert Visit.objects.get(pk=stop.visit_id).running_until is None
    assert not OptimizeJob.objects.filter(tenant=harbor, status="queued").exists()
