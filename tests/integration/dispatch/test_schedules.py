"""Schedules Alice sets for Harbor: "optimize tomorrow every weekday at 17:00" in the agency's
time zone, across a change of daylight saving time; paused, edited, deleted; runs missed
while the system was down run once; Carol at Northside sees none of them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from core.accounts.models import Tenant, User
from core.dispatch import schedules
from core.dispatch.models import OptimizeJob, Schedule, ScheduleRun
from outbox.models import OutboxEvent
from tests.helpers.outbox import execute, pending_tasks
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS_17 = "0 17 * * 1-5"


def local(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK)


@pytest.fixture
def harbor_ny(harbor: Tenant) -> Tenant:
    harbor.time_zone = "America/New_York"
    harbor.save(update_fields=["time_zone"])
    return harbor


def due_events(schedule_id: int) -> list[OutboxEvent]:
    return [e for e in pending_tasks(schedules.RUN_TASK) if e.payload["schedule_id"] == schedule_id]


def make_due(event: OutboxEvent) -> None:
    """The relay would deliver it at its due time: bring that time to now."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE outbox_event SET available_at = now() WHERE id = %s", [event.id])


# --- when runs are due ---------------------------------------------------------------------------


def test_a_weekday_schedule_keeps_its_local_hour_across_the_spring_change() -> None:
    # DST starts on Sunday 8 March 2026 in New York: 17:00 is 22:00 UTC before, 21:00 UTC after.
    friday = schedules.next_due(WEEKDAYS_17, None, local(2026, 3, 6, 12), NEW_YORK)
    monday = schedules.next_due(WEEKDAYS_17, None, friday, NEW_YORK)  # type: ignore[arg-type]
    assert friday == local(2026, 3, 6, 17)
    assert friday is not None
    assert friday.astimezone(UTC).hour == 22
    assert monday == local(2026, 3, 9, 17)
    assert monday is not None
    assert monday.astimezone(UTC).hour == 21


def test_a_time_skipped_by_the_spring_change_runs_right_after_it_and_a_repeated_one_runs_once() -> None:
    skipped = schedules.next_due("30 2 * * *", None, local(2026, 3, 7, 12), NEW_YORK)
    assert skipped == local(2026, 3, 8, 3, 0)  # 02:30 does not exist that night
    runs, at = [], local(2026, 10, 31, 12)
    for _ in range(2):
        at = schedules.next_due("30 1 * * *", None, at, NEW_YORK)  # type: ignore[assignment]
        runs.append(at)
    assert [r.astimezone(NEW_YORK).day for r in runs] == [1, 2]  # 01:30 happens twice on 1 November: one run


def test_an_interval_schedule_keeps_its_rhythm_from_its_last_due_time() -> None:
    anchor = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
    after = anchor + timedelta(minutes=40)
    assert schedules.next_due("", 15, after, ZoneInfo("UTC"), anchor=anchor) == anchor + timedelta(minutes=45)


# --- what a dispatcher can set -------------------------------------------------------------------


def test_alice_creates_a_schedule_whose_next_run_waits_in_the_outbox(client: Client, alice: User,
                                                                       harbor_ny: Tenant) -> None:
    sign_in(client, alice)
    answer = client.post("/api/dispatch/schedules", {"name": "Tomorrow's routes", "cron": WEEKDAYS_17},
                         content_type="application/json")
    assert answer.status_code == 201
    body = answer.json()
    assert (body["time_zone"], body["days_ahead"], body["enabled"]) == ("America/New_York", 1, True)
    next_run = datetime.fromisoformat(body["next_run_at"])
    assert next_run.astimezone(NEW_YORK).hour == 17
    assert next_run.astimezone(NEW_YORK).weekday() < 5
    [event] = due_events(body["id"])
    assert abs((event.available_at - next_run).total_seconds()) < 1
    assert (event.priority, event.payload["version"]) == (5, 1)


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "x", "cron": "61 * * * *"}, "cron"),
    ({"name": "x", "cron": "every day"}, "cron"),
    ({"name": "x"}, "every_minutes"),
    ({"name": "x", "cron": WEEKDAYS_17, "every_minutes": 30}, "cron"),
    ({"name": "x", "every_minutes": 1}, "every_minutes"),
    ({"name": "x", "cron": WEEKDAYS_17, "days_ahead": 40}, "days_ahead"),
    ({"name": "x", "cron": WEEKDAYS_17, "priority": 12}, "priority"),
    ({"name": " ", "cron": WEEKDAYS_17}, "name"),
])
def test_bad_schedules_are_refused_naming_the_field_and_nothing_is_written(
        client: Client, alice: User, body: dict[str, Any], field: str) -> None:
    sign_in(client, alice)
    answer = client.post("/api/dispatch/schedules", body, content_type="application/json")
    assert answer.status_code in (400, 422)
    assert field in str(answer.json())
    assert not Schedule.objects.exists()
    assert not pending_tasks(schedules.RUN_TASK)


def test_a_due_run_requests_optimize_day_for_tomorrow_records_itself_and_plans_the_next(
        alice: User, harbor_ny: Tenant) -> None:
    schedule = schedules.create_schedule(harbor_ny.id, schedules.ScheduleFields("Nightly", every_minutes=60),
                                         actor_id=alice.id)
    [event] = due_events(schedule.id)
    make_due(event)
    assert execute(event) == "requested"
    assert execute(event) is None  # the same delivery again does nothing
    run = ScheduleRun.objects.get()
    due = datetime.fromisoformat(event.payload["due_at"])
    assert run.day == due.astimezone(NEW_YORK).date() + timedelta(days=1)
    assert run.job is not None
    assert run.job.date == run.day
    assert run.missed == 0
    [following] = due_events(schedule.id)
    assert datetime.fromisoformat(following.payload["due_at"]) == due + timedelta(minutes=60)


def test_runs_missed_while_the_system_was_down_run_once(alice: User, harbor_ny: Tenant) -> None:
    schedule = schedules.create_schedule(harbor_ny.id, schedules.ScheduleFields("Hourly", every_minutes=60),
                                         actor_id=alice.id)
    [event] = due_events(schedule.id)
    # The system was down three and a half hours past the due time: the one event waits.
    three_hours_ago = timezone.now() - timedelta(hours=3, minutes=30)
    with connection.cursor() as cursor:
        cursor.execute("UPDATE outbox_event SET available_at = now(), payload = jsonb_set(payload, '{due_at}', %s) "
                       "WHERE id = %s", [f'"{three_hours_ago.isoformat()}"', event.id])
    event.refresh_from_db()
    assert execute(event) == "requested"
    run = ScheduleRun.objects.get()
    assert run.missed == 3
    [following] = due_events(schedule.id)
    assert datetime.fromisoformat(following.payload["due_at"]) > timezone.now()  # not the missed ones


def test_a_paused_schedule_does_not_run_and_resumes_from_now(client: Client, alice: User,
                                                             harbor_ny: Tenant) -> None:
    schedule = schedules.create_schedule(harbor_ny.id, schedules.ScheduleFields("Hourly", every_minutes=60),
                                         actor_id=alice.id)
    [before] = due_events(schedule.id)
    sign_in(client, alice)
    paused = client.post(f"/api/dispatch/schedules/{schedule.id}/pause").json()
    assert (paused["enabled"], paused["next_run_at"]) == (False, None)
    make_due(before)
    assert execute(before) == "stale"  # the paused schedule's waiting event does nothing
    assert not ScheduleRun.objects.exists()
    assert not OptimizeJob.objects.exists()
    resumed = client.post(f"/api/dispatch/schedules/{schedule.id}/resume").json()
    assert resumed["enabled"] is True
    [after] = due_events(schedule.id)
    assert after.payload["version"] == 3


def test_an_edit_replaces_the_waiting_run_and_a_deleted_schedule_runs_no_more(
        client: Client, alice: User, harbor_ny: Tenant) -> None:
    schedule = schedules.create_schedule(harbor_ny.id, schedules.ScheduleFields("Weekdays", cron=WEEKDAYS_17),
                                         actor_id=alice.id)
    [old] = due_events(schedule.id)
    sign_in(client, alice)
    edited = client.patch(f"/api/dispatch/schedules/{schedule.id}", {"every_minutes": 30, "priority": 1},
                          content_type="application/json").json()
    assert (edited["cron"], edited["every_minutes"], edited["priority"]) == ("", 30, 1)
    make_due(old)
    assert execute(old) == "stale"
    new = next(e for e in due_events(schedule.id) if e.payload["version"] == 2)
    assert new.priority == 1
    assert client.delete(f"/api/dispatch/schedules/{schedule.id}").status_code == 204
    make_due(new)
    assert execute(new) == "stale"
    assert not ScheduleRun.objects.exists()


def test_another_agency_neither_sees_nor_edits_nor_runs_harbors_schedules(
        client: Client, alice: User, carol: User, harbor_ny: Tenant) -> None:
    schedule = schedules.create_schedule(harbor_ny.id, schedules.ScheduleFields("Nightly", every_minutes=60),
                                         actor_id=alice.id)
    sign_in(client, carol)
    assert client.get("/api/dispatch/schedules").json() == []
    assert client.get(f"/api/dispatch/schedules/{schedule.id}").status_code == 404
    assert client.patch(f"/api/dispatch/schedules/{schedule.id}", {"priority": 0},
                        content_type="application/json").status_code == 404
    assert client.post(f"/api/dispatch/schedules/{schedule.id}/pause").status_code == 404
    assert client.delete(f"/api/dispatch/schedules/{schedule.id}").status_code == 404
    [event] = due_events(schedule.id)
    make_due(event)
    assert execute(event, tenant_id=carol.tenant_id) == "stale"
    assert Schedule.objects.get(id=schedule.id).enabled


# --- the pages ---------------------------------------------------------------------------------


def test_alice_sets_pauses_and_deletes_a_schedule_from_the_pages(client: Client, alice: User,
                                                                 harbor_ny: Tenant) -> None:
    sign_in(client, alice)
    page = client.get("/dispatch/schedules/").content.decode()
    assert "America/New_York" in page
    bad = client.post("/dispatch/schedules/new", {"name": "Weekdays", "cron": "0 25 * * *", "days_ahead": "1",
                                                  "priority": "5", "enabled": "on"})
    assert bad.status_code == 200
    assert 'id="error-cron"' in bad.content.decode()
    assert not Schedule.objects.exists()
    made = client.post("/dispatch/schedules/new", {"name": "Weekdays", "cron": WEEKDAYS_17, "days_ahead": "1",
                                                   "priority": "5", "enabled": "on"})
    assert made.status_code == 302
    schedule = Schedule.objects.get()
    detail = client.get(f"/dispatch/schedules/{schedule.id}/").content.decode()
    assert "Pause" in detail
    assert "No runs yet." in detail
    client.post(f"/dispatch/schedules/{schedule.id}/pause")
    assert not Schedule.objects.get().enabled
    assert "Resume" in client.get(f"/dispatch/schedules/{schedule.id}/").content.decode()
    edited = client.post(f"/dispatch/schedules/{schedule.id}/edit", {"name": "Evenings", "every_minutes": "60",
                                                                      "days_ahead": "0", "priority": "2"})
    assert edited.status_code == 302
    assert (Schedule.objects.get().name, Schedule.objects.get().every_minutes) == ("Evenings", 60)
    assert client.post(f"/dispatch/schedules/{schedule.id}/delete").status_code == 302
    assert not Schedule.objects.exists()


def test_an_auditor_reads_the_schedules_and_changes_nothing(client: Client, harbor_ny: Tenant, alice: User,
                                                            audrey: User) -> None:
    schedule = schedules.create_schedule(harbor_ny.id, schedules.ScheduleFields("Nightly", every_minutes=60),
                                         actor_id=alice.id)
    sign_in(client, audrey)
    page = client.get(f"/dispatch/schedules/{schedule.id}/").content.decode()
    assert "Nightly" in page
    assert "Pause" not in page
    assert client.post(f"/dispatch/schedules/{schedule.id}/pause").status_code == 403
