"""The dispatch API: clinicians and visits, Optimize Day requests, jobs and plans."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from core.accounts.models import Tenant, User
from core.dispatch.models import Clinician, OptimizeJob, Visit
from outbox.models import OutboxEvent
from tests.helpers.dispatch import DAY, add_clinician, add_visit, optimize_now
from tests.helpers.web import signed_in

pytestmark = pytest.mark.django_db

VISIT = {"patient_ref": "HB-0100", "lat": 42.35, "lon": -71.08, "date": "2026-03-10", "window_start": "09:00",
         "window_end": "11:30", "duration_minutes": 45, "required_skill": "wound_care", "priority": 2}
CLINICIAN = {"name": "Grace Kim", "skills": ["nursing", "iv_therapy"], "shift_start": "07:00",
             "shift_end": "15:00", "start_lat": 42.338, "start_lon": -71.047}


def post(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json")


def patch(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.patch(path, json.dumps(body), content_type="application/json")


# --- Optimize Day ---------------------------------------------------------------------------


def test_optimize_day_answers_202_with_a_queued_job_and_its_task_event(as_alice: Client, harbor: Tenant,
                                                                       alice: User) -> None:
    response = post(as_alice, "/api/dispatch/optimize-day", {"date": "2026-03-10"})
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "queued"
    job = OptimizeJob.objects.get(pk=body["job_id"])
    assert (job.tenant_id, job.date, job.requested_by_id, job.status) == (harbor.pk, DAY, alice.pk, "queued")
    task_event = OutboxEvent.objects.get(task_name="dispatch.optimize_day")
    assert (task_event.queue, task_event.payload, task_event.tenant_id) == ("interactive", {"job_id": job.pk},
                                                                           harbor.pk)
    assert OutboxEvent.objects.filter(event_type="optimize.queued", channel=f"tenant:{harbor.pk}:events").exists()


def test_a_second_request_for_the_same_day_returns_the_job_already_queued(as_alice: Client) -> None:
    first = post(as_alice, "/api/dispatch/optimize-day", {"date": "2026-03-10"}).json()
    second = post(as_alice, "/api/dispatch/optimize-day", {"date": "2026-03-10"})
    assert second.status_code == 202
    assert second.json() == first
    assert OptimizeJob.objects.count() == 1
    assert OutboxEvent.objects.filter(task_name="dispatch.optimize_day").count() == 1


def test_a_running_job_is_returned_too_but_a_finished_one_is_not(as_alice: Client) -> None:
    first = post(as_alice, "/api/dispatch/optimize-day", {"date": "2026-03-10"}).json()
    OptimizeJob.objects.filter(pk=first["job_id"]).update(status="running")
    assert post(as_alice, "/api/dispatch/optimize-day", {"date": "2026-03-10"}).json() == {
        "job_id": first["job_id"], "status": "running"}
    OptimizeJob.objects.filter(pk=first["job_id"]).update(status="done")
    again = post(as_alice, "/api/dispatch/optimize-day", {"date": "2026-03-10"}).json()
    assert again["job_id"] != first["job_id"]
    assert again["status"] == "queued"


def test_another_day_gets_its_own_job(as_alice: Client) -> None:
    one = post(as_alice, "/api/dispatch/optimize-day", {"date": "2026-03-10"}).json()
    other = post(as_alice, "/api/dispatch/optimize-day", {"date": "2026-03-11"}).json()
    assert one["job_id"] != other["job_id"]


@pytest.mark.parametrize("body", [{"date": "2026-02-30"}, {"date": "tomorrow"}, {}, {"date": None}])
def test_optimize_day_with_a_bad_date_is_a_400_naming_the_date(as_alice: Client, body: dict[str, Any]) -> None:
    response = post(as_alice, "/api/dispatch/optimize-day", body)
    assert response.status_code == 400
    assert response.json()["field"] == "date"
    assert not OptimizeJob.objects.exists()


def test_only_dispatchers_may_optimize(audrey: User) -> None:
    response = post(signed_in(audrey), "/api/dispatch/optimize-day", {"date": "2026-03-10"})
    assert response.status_code == 403
    assert not OptimizeJob.objects.exists()


def test_strangers_get_401(client: Client) -> None:
    assert post(client, "/api/dispatch/optimize-day", {"date": "2026-03-10"}).status_code == 401
    assert client.get("/api/dispatch/jobs/1").status_code == 401


def test_a_job_reads_back_with_its_status(as_alice: Client) -> None:
    job_id = post(as_alice, "/api/dispatch/optimize-day", {"date": "2026-03-10"}).json()["job_id"]
    response = as_alice.get(f"/api/dispatch/jobs/{job_id}")
    assert response.status_code == 200
    body = response.json()
    assert (body["job_id"], body["status"], body["date"], body["route_plan_id"]) == (job_id, "queued",
                                                                                      "2026-03-10", None)


def test_another_tenants_job_is_404_like_a_missing_one(as_alice: Client, as_carol: Client) -> None:
    job_id = post(as_alice, "/api/dispatch/optimize-day", {"date": "2026-03-10"}).json()["job_id"]
    theirs = as_carol.get(f"/api/dispatch/jobs/{job_id}")
    missing = as_carol.get(f"/api/dispatch/jobs/{job_id + 1000}")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"] == "not_found"
    assert as_carol.get("/api/dispatch/jobs/99999999999999999999").status_code in (400, 404)


def test_route_plans_of_a_day_never_optimized_are_empty(as_alice: Client) -> None:
    response = as_alice.get("/api/dispatch/route-plans?date=2026-03-10")
    assert response.status_code == 200
    assert response.json() == {"date": "2026-03-10", "latest": None, "versions": []}


def test_route_plans_need_a_valid_date(as_alice: Client) -> None:
    for query in ("", "?date=2026-13-01"):
        response = as_alice.get(f"/api/dispatch/route-plans{query}")
        assert response.status_code == 400
        assert response.json()["field"] == "date"


# --- visits -----------------------------------------------------------------------------------


def test_a_dispatcher_creates_reads_updates_and_deletes_a_visit(as_alice: Client, harbor: Tenant) -> None:
    created = post(as_alice, "/api/dispatch/visits", VISIT)
    assert created.status_code == 201
    visit_id = created.json()["id"]
    assert created.json()["window_end"] == "11:30:00"
    assert as_alice.get(f"/api/dispatch/visits/{visit_id}").json()["patient_ref"] == "HB-0100"
    updated = patch(as_alice, f"/api/dispatch/visits/{visit_id}", {"window_end": "12:00", "status": "cancelled"})
    assert updated.status_code == 200
    assert (updated.json()["window_end"], updated.json()["status"]) == ("12:00:00", "cancelled")
    assert [v["id"] for v in as_alice.get("/api/dispatch/visits?date=2026-03-10").json()] == [visit_id]
    assert as_alice.delete(f"/api/dispatch/visits/{visit_id}").status_code == 204
    assert not Visit.objects.exists()
    kinds = list(OutboxEvent.objects.filter(aggregate_type="visit").order_by("id").values_list("event_type",
                                                                                                 flat=True))
    assert kinds == ["visit.created", "visit.updated", "visit.deleted"]


@pytest.mark.parametrize(("change", "field"), [
    ({"window_start": "14:00", "window_end": "13:00"}, "window_end"),
    ({"duration_minutes": 0}, "duration_minutes"),
    ({"duration_minutes": -15}, "duration_minutes"),
    ({"lat": 200}, "lat"),
    ({"lon": -181}, "lon"),
    ({"required_skill": "juggling"}, "required_skill"),
    ({"priority": 7}, "priority"),
    ({"status": "lost"}, "status"),
    ({"patient_ref": "  "}, "patient_ref"),
    ({"window_start": "25:00"}, "window_start"),
    ({"date": "2026-02-30"}, "date"),
    ({"lat": "north"}, "lat"),
])
def test_a_bad_visit_is_a_400_naming_the_field_and_writes_nothing(as_alice: Client, change: dict[str, Any],
                                                                  field: str) -> None:
    response = post(as_alice, "/api/dispatch/visits", {**VISIT, **change})
    assert response.status_code == 400, response.content
    assert response.json()["field"] == field
    assert response.json()["error"] == "invalid"
    assert not Visit.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_a_patch_is_checked_against_the_stored_fields(as_alice: Client, harbor: Tenant) -> None:
    visit = add_visit(harbor)  # window 09:00-12:00
    response = patch(as_alice, f"/api/dispatch/visits/{visit.pk}", {"window_end": "08:30"})
    assert response.status_code == 400
    assert response.json()["field"] == "window_end"
    visit.refresh_from_db()
    assert visit.window_end.hour == 12


def test_a_patch_may_not_null_a_field(as_alice: Client, harbor: Tenant) -> None:
    visit = add_visit(harbor)
    response = patch(as_alice, f"/api/dispatch/visits/{visit.pk}", {"lat": None})
    assert (response.status_code, response.json()["field"]) == (400, "lat")


def test_another_tenants_visit_is_404_for_every_verb(as_carol: Client, harbor: Tenant) -> None:
    visit = add_visit(harbor)
    path = f"/api/dispatch/visits/{visit.pk}"
    assert as_carol.get(path).status_code == 404
    assert patch(as_carol, path, {"duration_minutes": 10}).status_code == 404
    assert as_carol.delete(path).status_code == 404
    assert as_carol.get("/api/dispatch/visits").json() == []
    visit.refresh_from_db()
    assert visit.duration_minutes == 30


def test_a_planned_visit_cannot_be_deleted_only_cancelled(as_alice: Client, harbor: Tenant) -> None:
    add_clinician(harbor)
    visit = add_visit(harbor)
    optimize_now(harbor, DAY)
    response = as_alice.delete(f"/api/dispatch/visits/{visit.pk}")
    assert response.status_code == 409
    assert "cancelled" in response.json()["message"]
    assert Visit.objects.filter(pk=visit.pk).exists()


def test_auditors_read_but_do_not_write(audrey: User, harbor: Tenant) -> None:
    add_visit(harbor)
    as_audrey = signed_in(audrey)
    assert as_audrey.get("/api/dispatch/visits").status_code == 200
    assert post(as_audrey, "/api/dispatch/visits", VISIT).status_code == 403


def test_learners_see_nothing_of_dispatch(lena: User) -> None:
    assert signed_in(lena).get("/api/dispatch/visits").status_code == 403


# --- clinicians ---------------------------------------------------------------------------------


def test_a_dispatcher_manages_clinicians(as_alice: Client) -> None:
    created = post(as_alice, "/api/dispatch/clinicians", CLINICIAN)
    assert created.status_code == 201
    clinician_id = created.json()["id"]
    assert created.json()["skills"] == ["iv_therapy", "nursing"]
    updated = patch(as_alice, f"/api/dispatch/clinicians/{clinician_id}", {"active": False})
    assert updated.json()["active"] is False
    assert [c["name"] for c in as_alice.get("/api/dispatch/clinicians").json()] == ["Grace Kim"]
    assert as_alice.delete(f"/api/dispatch/clinicians/{clinician_id}").status_code == 204
    assert not Clinician.objects.exists()


@pytest.mark.parametrize(("change", "field"), [
    ({"skills": ["nursing", "astrology"]}, "skills"),
    ({"shift_end": "06:00"}, "shift_end"),
    ({"start_lat": 200}, "start_lat"),
    ({"start_lon": 500}, "start_lon"),
    ({"name": ""}, "name"),
])
def test_a_bad_clinician_is_a_400_naming_the_field(as_alice: Client, change: dict[str, Any], field: str) -> None:
    response = post(as_alice, "/api/dispatch/clinicians", {**CLINICIAN, **change})
    assert response.status_code == 400
    assert response.json()["field"] == field
    assert not Clinician.objects.exists()


def test_another_tenants_clinician_is_404(as_carol: Client, harbor: Tenant) -> None:
    clinician = add_clinician(harbor)
    assert as_carol.get(f"/api/dispatch/clinicians/{clinician.pk}").status_code == 404
    assert patch(as_carol, f"/api/dispatch/clinicians/{clinician.pk}", {"active": False}).status_code == 404
    clinician.refresh_from_db()
    assert clinician.active
