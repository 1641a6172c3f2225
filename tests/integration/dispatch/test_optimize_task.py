"""The Optimize Day task, driven in-process exactly as a worker runs a relayed event."""

from __future__ import annotations

from datetime import time
from typing import Any

import pytest
from django.db import connection
from django.db.models import Q

from core.accounts.models import Tenant
from core.dispatch import optimize, selectors, services
from core.dispatch.models import RoutePlan, RouteStop, UnassignedVisit, Visit
from outbox.models import DeadLetter, DeliveryAttempt, InboxEntry, OutboxEvent
from solver import ProblemError
from tests.helpers.dispatch import DAY, add_clinician, add_visit, optimize_now, task_event
from tests.helpers.outbox import execute as deliver

pytestmark = pytest.mark.django_db


def announced(event_type: str) -> list[dict[str, Any]]:
    return [event.payload for event in OutboxEvent.objects.filter(event_type=event_type).order_by("id")]


def test_the_task_writes_a_plan_marks_the_job_done_and_announces_it(harbor: Tenant, harbor_day: list[Visit]) -> None:
    job = optimize_now(harbor, DAY)
    assert (job.status, job.attempts, job.error) == ("done", 1, "")
    assert job.started_at is not None
    assert job.finished_at is not None
    plan = RoutePlan.objects.get(job=job)
    assert (plan.tenant_id, plan.date, plan.version) == (harbor.pk, DAY, 1)
    assert (plan.visits_assigned, plan.visits_unassigned) == (5, 0)
    assert 0 < plan.solve_seconds <= 1
    assert RouteStop.objects.filter(plan=plan).count() == 5
    (message,) = announced("schedule.optimized")
    assert message["job_id"] == job.pk
    assert message["route_plan_id"] == plan.pk
    assert message["changed_visit_ids"] == sorted(v.pk for v in harbor_day)
    assert message["solve_seconds"] == round(plan.solve_seconds, 3)
    event = OutboxEvent.objects.get(event_type="schedule.optimized")
    assert event.channel == f"tenant:{harbor.pk}:events"
    assert task_event(job).status == "completed"


def test_stops_respect_windows_and_follow_each_other(harbor: Tenant, harbor_day: list[Visit]) -> None:
    plan = RoutePlan.objects.get(job=optimize_now(harbor, DAY))
    previous: dict[int, time] = {}
    for stop in RouteStop.objects.filter(plan=plan).select_related("visit").order_by("clinician", "sequence"):
        assert stop.visit.window_start <= stop.planned_start <= stop.visit.window_end
        assert stop.planned_arrival <= stop.planned_start < stop.planned_departure
        if stop.clinician_id in previous:
            assert previous[stop.clinician_id] <= stop.planned_arrival
        previous[stop.clinician_id] = stop.planned_departure


def test_a_redelivered_event_is_absorbed_by_the_inbox(harbor: Tenant, harbor_day: list[Visit]) -> None:
    job = optimize_now(harbor, DAY)
    event = task_event(job)
    with connection.cursor() as cursor:  # Redis handed the same message out again
        cursor.execute("UPDATE outbox_event SET status = 'relayed' WHERE id = %s", [event.id])
    deliver(event)
    assert RoutePlan.objects.count() == 1
    assert len(announced("schedule.optimized")) == 1
    assert InboxEntry.objects.filter(event_id=event.event_id).count() == 1


def test_a_finished_job_writes_nothing_new_even_when_the_inbox_forgot_it(harbor: Tenant,
                                                                        harbor_day: list[Visit]) -> None:
    job = optimize_now(harbor, DAY)
    event = task_event(job)
    InboxEntry.objects.filter(event_id=event.event_id).delete()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE outbox_event SET status = 'relayed' WHERE id = %s", [event.id])
    deliver(event)
    job.refresh_from_db()
    assert job.status == "done"
    assert job.attempts == 1  # never started again
    assert RoutePlan.objects.count() == 1
    assert len(announced("schedule.optimized")) == 1
    assert task_event(job).status == "completed"


def test_a_job_that_finished_while_a_second_delivery_solved_gets_no_second_plan(
        harbor: Tenant, harbor_day: list[Visit]) -> None:
    job = services.request_optimize(harbor.pk, DAY, actor_id=None).job
    started = services.start_optimize_job(harbor.pk, job.pk)
    assert started is not None
    plan = optimize.DayPlan(stops=(), unassigned=(), objective=0, solve_seconds=0.1, time_limit=0.3,
                            total_travel=0, solver_status="solved")
    assert services.record_route_plan(job.pk, plan) is not None
    assert services.record_route_plan(job.pk, plan) is None  # the slower delivery's write
    assert RoutePlan.objects.count() == 1


def test_the_task_ignores_a_job_of_another_tenant(harbor: Tenant, northside: Tenant,
                                                  harbor_day: list[Visit]) -> None:
    job = services.request_optimize(harbor.pk, DAY, actor_id=None).job
    deliver(task_event(job), tenant_id=northside.pk)
    job.refresh_from_db()
    assert job.status == "queued"
    assert not RoutePlan.objects.exists()


def test_an_infeasible_day_still_yields_a_plan_with_a_reason_for_each_left_out_visit(harbor: Tenant) -> None:
    add_clinician(harbor, "Nora Whitfield", skills=("nursing",), shift=(time(8), time(12)))
    fits = add_visit(harbor, "HB-0001", window=(time(8, 30), time(9)), minutes=60)
    no_skill = add_visit(harbor, "HB-0002", skill="pediatrics")
    too_early = add_visit(harbor, "HB-0003", window=(time(6), time(6, 30)))
    crowded = add_visit(harbor, "HB-0004", window=(time(8, 30), time(9)), minutes=60)
    job = optimize_now(harbor, DAY)
    assert job.status == "done"
    plan = RoutePlan.objects.get(job=job)
    assert (plan.visits_assigned, plan.visits_unassigned) == (1, 3)
    reasons = {item.visit_id: (item.reason, item.message) for item in UnassignedVisit.objects.filter(plan=plan)}
    assert reasons[no_skill.pk] == ("no_skill", "no active clinician has pediatrics")
    assert reasons[too_early.pk][0] == "window_unreachable"
    assert "06:00-06:30" in reasons[too_early.pk][1]
    # Two hour-long visits cannot both start between 08:30 and 09:00: one is dropped.
    (routed,) = RouteStop.objects.filter(plan=plan).values_list("visit_id", flat=True)
    assert {routed} | reasons.keys() == {fits.pk, crowded.pk, no_skill.pk, too_early.pk}
    dropped = ({fits.pk, crowded.pk} - {routed}).pop()
    assert reasons[dropped][0] == "dropped"
    assert reasons[dropped][1] == "the day is full: no clinician with nursing had room for it in 08:30-09:00"


def test_cancelled_visits_and_inactive_clinicians_are_not_routed(harbor: Tenant) -> None:
    add_clinician(harbor, "Away", active=False)
    visit = add_visit(harbor)
    services.update_visit(harbor.pk, visit.pk, {"status": "cancelled"}, actor_id=None)
    add_visit(harbor, "HB-0002")
    plan = RoutePlan.objects.get(job=optimize_now(harbor, DAY))
    assert (plan.visits_assigned, plan.visits_unassigned) == (0, 1)
    assert UnassignedVisit.objects.get(plan=plan).message == "no clinician is active"


def test_a_second_optimize_adds_a_version_and_names_the_visits_that_moved(harbor: Tenant,
                                                                          harbor_day: list[Visit]) -> None:
    optimize_now(harbor, DAY)
    moved = harbor_day[0]
    services.update_visit(harbor.pk, moved.pk, {"window_start": time(14), "window_end": time(15)}, actor_id=None)
    second = optimize_now(harbor, DAY)
    assert RoutePlan.objects.get(job=second).version == 2
    changed = announced("schedule.optimized")[-1]["changed_visit_ids"]
    assert moved.pk in changed


def test_a_re_plan_starts_from_the_days_current_plan(harbor: Tenant, harbor_day: list[Visit]) -> None:
    first = RoutePlan.objects.get(job=optimize_now(harbor, DAY))
    routes = selectors.previous_routes(harbor.pk, DAY)
    assert sorted(v for stops in routes.values() for v, _ in stops) == sorted(
        s.visit_id for s in first.stops.all())
    added = add_visit(harbor, "HB-0099")
    second = RoutePlan.objects.get(job=optimize_now(harbor, DAY))
    assert (first.warm_start, second.warm_start) == (False, True)
    assert added.pk in {s.visit_id for s in second.stops.all()} | {u.visit_id for u in second.unassigned.all()}
    assert second.visits_assigned + second.visits_unassigned == first.visits_assigned + first.visits_unassigned + 1


def test_changed_visits_compare_clinician_and_start_time() -> None:
    before = {1: (10, time(9)), 2: (10, time(10)), 3: None, 4: (11, time(9))}
    after = {1: (10, time(9)), 2: (11, time(10)), 3: (10, time(12)), 5: None}
    assert services.changed_visit_ids(before, after) == [2, 3, 4, 5]


def test_a_failing_solve_is_retried_then_fails_the_job_with_a_dead_letter(
        harbor: Tenant, harbor_day: list[Visit], monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the travel-time source is unreachable")

    monkeypatch.setattr(optimize, "solve_day", broken)
    job = services.request_optimize(harbor.pk, DAY, actor_id=None).job
    event = task_event(job)
    deliver(event)
    job.refresh_from_db()
    assert (job.status, job.error) == ("queued", "RuntimeError: the travel-time source is unreachable")
    assert OutboxEvent.objects.get(pk=event.pk).status == "pending"  # rescheduled with a backoff
    for _ in range(3):  # max_retries = 3
        deliver(event)
    job.refresh_from_db()
    assert (job.status, job.attempts) == ("failed", 4)
    assert job.error == "RuntimeError: the travel-time source is unreachable"
    assert job.finished_at is not None
    letter = DeadLetter.objects.get(event_id=event.event_id)
    assert "unreachable" in letter.error
    assert not RoutePlan.objects.exists()
    assert [m["final"] for m in announced("optimize.retrying") + announced("optimize.failed")] == [
        False, False, False, True]
    assert DeliveryAttempt.objects.filter(Q(event_id=event.event_id) & Q(outcome="dead")).count() == 1


def test_a_malformed_day_fails_at_once_without_retries(harbor: Tenant, harbor_day: list[Visit],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    def malformed(*args: object, **kwargs: object) -> None:
        raise ProblemError("jobs[3].window_end", "window closes before it opens")

    monkeypatch.setattr(optimize, "solve_day", malformed)
    job = services.request_optimize(harbor.pk, DAY, actor_id=None).job
    deliver(task_event(job))
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.error.startswith("the day cannot be routed: jobs[3].window_end")
    assert DeadLetter.objects.filter(event_id=task_event(job).event_id).exists()
