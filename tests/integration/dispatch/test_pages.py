"""The dispatcher's pages: the day view with its plan, and forms that name the bad field."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from core.accounts.models import Tenant, User
from core.dispatch.models import Clinician, OptimizeJob, Visit
from outbox.reader import Cursor
from tests.helpers.dispatch import DAY, add_clinician, add_visit, optimize_now
from tests.helpers.web import signed_in

pytestmark = pytest.mark.django_db

DAY_URL = f"/dispatch/day/{DAY.isoformat()}/"
VISIT_FORM = {"patient_ref": "HB-0200", "date": "2026-03-10", "window_start": "09:00", "window_end": "10:00",
              "duration_minutes": "30", "required_skill": "nursing", "priority": "1", "status": "scheduled",
              "lat": "42.35", "lon": "-71.08"}


def test_the_day_page_shows_the_plan_per_clinician_and_the_left_out_visits(as_alice: Client, harbor: Tenant) -> None:
    add_clinician(harbor, "Nora Whitfield")
    add_visit(harbor, "HB-0001")
    add_visit(harbor, "HB-0002", skill="pediatrics")
    optimize_now(harbor, DAY)
    response = as_alice.get(DAY_URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Plan version 1: 1 visits routed" in html
    assert "<h3>Nora Whitfield</h3>" in html
    assert "no active clinician has pediatrics" in html
    assert 'id="optimize-button"' in html


def test_the_page_hands_its_stream_the_position_read_before_its_data(as_alice: Client) -> None:
    html = as_alice.get(DAY_URL).content.decode()
    match = re.search(r'data-stream-url="/live/stream\?last_event_id=([^"]+)"', html)
    assert match is not None
    Cursor.parse(match.group(1).replace("%2D", "-"))


def test_the_board_is_rendered_in_a_fixed_number_of_queries(as_alice: Client, harbor: Tenant,
                                                            harbor_day: list[Visit]) -> None:
    optimize_now(harbor, DAY)
    as_alice.get(f"{DAY_URL}board")  # warm the session and the user's roles
    with CaptureQueriesContext(connection) as few:
        as_alice.get(f"{DAY_URL}board")
    for n in range(6, 30):
        add_visit(harbor, f"HB-{n:04d}")
    optimize_now(harbor, DAY)
    with CaptureQueriesContext(connection) as many:
        response = as_alice.get(f"{DAY_URL}board")
    assert response.status_code == 200
    assert len(many) == len(few)


def test_the_dispatch_page_opens_on_today(as_alice: Client) -> None:
    response = as_alice.get("/dispatch/")
    assert response.status_code == 302
    assert re.match(r"^/dispatch/day/\d{4}-\d{2}-\d{2}/$", response["Location"])


def test_a_day_that_is_not_a_date_is_404(as_alice: Client) -> None:
    assert as_alice.get("/dispatch/day/2026-02-30/").status_code == 404


def test_auditors_see_the_day_without_buttons_and_learners_not_at_all(audrey: User, lena: User) -> None:
    page = signed_in(audrey).get(DAY_URL)
    assert page.status_code == 200
    assert b"optimize-button" not in page.content
    assert signed_in(lena).get(DAY_URL).status_code == 403
    assert signed_in(audrey).get("/dispatch/visits/new").status_code == 403


def test_strangers_are_sent_to_sign_in(client: Client) -> None:
    response = client.get(DAY_URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_visit_added_through_the_form_lands_on_its_day(as_alice: Client, harbor: Tenant) -> None:
    response = as_alice.post("/dispatch/visits/new", VISIT_FORM)
    assert response.status_code == 302
    assert response["Location"] == DAY_URL
    assert Visit.objects.get(tenant=harbor).patient_ref == "HB-0200"


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"window_end": "08:00"}, "window_end", "the time window ends before it starts"),
    ({"duration_minutes": "0"}, "duration_minutes", "duration_minutes must be between 1 and 720"),
    ({"lat": "200"}, "lat", "lat must be a number between -90 and 90, not 200.0"),
    ({"required_skill": "juggling"}, "required_skill", "Select a valid choice."),
])
def test_the_visit_form_shows_the_error_next_to_its_field(as_alice: Client, change: dict[str, str], field: str,
                                                          message: str) -> None:
    response = as_alice.post("/dispatch/visits/new", {**VISIT_FORM, **change})
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(rf'<p class="error" id="error-{field}">{re.escape(message)}', html), html
    assert not Visit.objects.exists()


def test_editing_a_visit_keeps_the_other_fields(as_alice: Client, harbor: Tenant) -> None:
    visit = add_visit(harbor)
    form = as_alice.get(f"/dispatch/visits/{visit.pk}/edit")
    assert b'value="HB-0001"' in form.content
    response = as_alice.post(f"/dispatch/visits/{visit.pk}/edit", {**VISIT_FORM, "patient_ref": "HB-0001",
                                                                  "duration_minutes": "50"})
    assert response.status_code == 302
    visit.refresh_from_db()
    assert (visit.patient_ref, visit.duration_minutes) == ("HB-0001", 50)


def test_another_tenants_visit_and_clinician_are_404_on_the_forms(as_carol: Client, harbor: Tenant) -> None:
    visit = add_visit(harbor)
    clinician = add_clinician(harbor)
    assert as_carol.get(f"/dispatch/visits/{visit.pk}/edit").status_code == 404
    assert as_carol.post(f"/dispatch/visits/{visit.pk}/edit", VISIT_FORM).status_code == 404
    assert as_carol.get(f"/dispatch/clinicians/{clinician.pk}/edit").status_code == 404
    visit.refresh_from_db()
    assert visit.patient_ref == "HB-0001"


def test_a_clinician_added_through_the_form_has_the_skills_ticked(as_alice: Client, harbor: Tenant) -> None:
    data: dict[str, Any] = {"name": "Priya Raman", "skills": ["physiotherapy", "nursing"], "shift_start": "08:30",
                            "shift_end": "17:00", "start_lat": "42.38", "start_lon": "-71.1", "active": "on"}
    assert as_alice.post("/dispatch/clinicians/new", data).status_code == 302
    assert Clinician.objects.get(tenant=harbor).skills == ["nursing", "physiotherapy"]
    response = as_alice.post("/dispatch/clinicians/new", {**data, "shift_end": "07:00"})
    assert b'id="error-shift_end">the shift ends before it starts' in response.content


def test_the_optimize_button_works_without_javascript(as_alice: Client, harbor: Tenant) -> None:
    response = as_alice.post(f"/dispatch/day/{DAY.isoformat()}/optimize")
    assert response.status_code == 302
    assert OptimizeJob.objects.get(tenant=harbor).status == "queued"
