"""The read audit of patient data (core/privacy, adr/0017): every page and API call that shows
visits leaves one record of who saw which visits, when, from where; Harbor's auditor Audrey
queries and exports Harbor's records, and nothing of Northside's; old records go with retention.

The story: Alice dispatches Harbor's 10 March (three visits, one plan), Audrey audits, Oscar
runs ops (and is not shown who saw whom), Carol dispatches Northside and looks at her own day.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time, timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from core.accounts.models import Tenant, User
from core.dispatch import services as dispatch
from core.dispatch.models import RoutePlan, Visit
from core.dispatch.optimize import DayPlan, PlannedStop
from core.platform.retention import POLICIES, prune
from core.privacy.models import PatientRead, ReadKind
from tests.helpers.dispatch import DAY, add_clinician, add_visit
from tests.helpers.web import signed_in


@dataclass
class HarborDay:
    visits: list[Visit]
    plan: RoutePlan

    @property
    def ids(self) -> list[int]:
        return sorted(visit.pk for visit in self.visits)


def planned(tenant: Tenant, visits: list[Visit]) -> RoutePlan:
    """The plan a worker would write for the day (all visits on one route; no solver run)."""
    clinician = add_clinician(tenant)
    job = dispatch.request_optimize(tenant.pk, DAY, actor_id=None).job
    assert dispatch.start_optimize_job(tenant.pk, job.pk) is not None
    stops = tuple(PlannedStop(visit_id=visit.pk, clinician_id=clinician.pk, sequence=n, arrival=9 * 3600 + n * 3600,
                              start=9 * 3600 + n * 3600, departure=9 * 3600 + n * 3600 + 1800)
                  for n, visit in enumerate(visits, start=1))
    plan = dispatch.record_route_plan(job.pk, DayPlan(stops=stops, unassigned=(), objective=900, solve_seconds=0.01,
                                                      time_limit=1.0, total_travel=900, solver_status="optimal"))
    assert plan is not None
    return plan


@pytest.fixture
def harbor_day(harbor: Tenant) -> HarborDay:
    visits = [add_visit(harbor, f"HB-{n:04d}", window=(time(8 + n), time(12 + n))) for n in range(1, 4)]
    return HarborDay(visits, planned(harbor, visits))


@pytest.fixture
def as_alice(alice: User) -> Client:
    return signed_in(alice)


@pytest.fixture
def as_audrey(audrey: User) -> Client:
    return signed_in(audrey)


def records() -> list[PatientRead]:
    return list(PatientRead.objects.order_by("id"))


# --- every read of patient data is recorded, once -------------------------------------------------

# (what Alice opens, the kind, the subject, which of the day's visits it shows: all or the first)
READS: list[tuple[Callable[[HarborDay], str], ReadKind, Callable[[HarborDay], str], str]] = [
    (lambda d: f"/dispatch/day/{DAY}/", ReadKind.DAY, lambda d: str(DAY), "all"),
    (lambda d: f"/dispatch/day/{DAY}/board", ReadKind.DAY_BOARD, lambda d: str(DAY), "all"),
    (lambda d: f"/dispatch/visits/{d.ids[0]}/edit", ReadKind.VISIT, lambda d: str(d.ids[0]), "first"),
    (lambda d: f"/api/dispatch/visits?date={DAY}", ReadKind.API_VISITS, lambda d: str(DAY), "all"),
    (lambda d: "/api/dispatch/visits", ReadKind.API_VISITS, lambda d: "", "all"),
    (lambda d: f"/api/dispatch/visits/{d.ids[0]}", ReadKind.API_VISIT, lambda d: str(d.ids[0]), "first"),
    (lambda d: f"/api/dispatch/route-plans?date={DAY}", ReadKind.API_ROUTE_PLANS, lambda d: str(DAY), "all"),
    (lambda d: f"/api/dispatch/route-plans/{d.plan.pk}", ReadKind.API_ROUTE_PLAN, lambda d: str(d.plan.pk), "all"),
]


@pytest.mark.parametrize(("url", "kind", "subject", "shown"), READS, ids=[f"{r[1]}-{n}" for n, r in enumerate(READS)])
def test_each_read_of_patient_data_records_one_row_of_who_what_and_which_visits(
        as_alice: Client, alice: User, harbor_day: HarborDay, url: Callable[[HarborDay], str], kind: ReadKind,
        subject: Callable[[HarborDay], str], shown: str) -> None:
    response = as_alice.get(url(harbor_day), HTTP_X_REQUEST_ID="alice-req-1")
    assert response.status_code == 200
    (record,) = records()
    assert (record.tenant_id, record.user_id, record.kind, record.subject) == (
        alice.tenant_id, alice.pk, kind, subject(harbor_day))
    assert record.visit_ids == (harbor_day.ids if shown == "all" else harbor_day.ids[:1])
    assert record.visit_count == len(record.visit_ids)
    assert (record.request_id, record.client_address, record.repeats) == ("alice-req-1", "127.0.0.1", 1)
    assert record.at <= timezone.now()


def test_the_live_boards_refetches_within_a_window_share_one_row_that_gathers_every_visit_shown(
        as_alice: Client, harbor: Tenant, harbor_day: HarborDay) -> None:
    as_alice.get(f"/dispatch/day/{DAY}/board")
    late = add_visit(harbor, "HB-0099")  # a visit added meanwhile: the next re-fetch shows it too
    as_alice.get(f"/dispatch/day/{DAY}/board")
    as_alice.get(f"/dispatch/day/{DAY}/board")
    (record,) = records()
    assert record.kind == ReadKind.DAY_BOARD
    assert record.repeats == 3
    assert record.visit_ids == sorted([*harbor_day.ids, late.pk])
    assert record.visit_count == 4
    assert record.last_at >= record.at


def test_full_page_views_are_never_folded_together(as_alice: Client, harbor_day: HarborDay) -> None:
    as_alice.get(f"/dispatch/day/{DAY}/")
    as_alice.get(f"/dispatch/day/{DAY}/")
    assert [r.kind for r in records()] == [ReadKind.DAY, ReadKind.DAY]


def test_refused_reads_and_writes_record_nothing(carol: User, lena: User, alice: User, harbor_day: HarborDay) -> None:
    as_carol = signed_in(carol)
    assert as_carol.get(f"/api/dispatch/visits/{harbor_day.ids[0]}").status_code == 404
    assert as_carol.get(f"/dispatch/visits/{harbor_day.ids[0]}/edit").status_code == 404
    assert signed_in(lena).get(f"/dispatch/day/{DAY}/").status_code == 403
    assert signed_in(alice).patch(f"/api/dispatch/visits/{harbor_day.ids[0]}", {"priority": 2},
                                  content_type="application/json").status_code == 200
    assert records() == []


# --- auditors query their agency's records ---------------------------------------------------------


@pytest.fixture
def reads_of_the_day(as_alice: Client, carol: User, northside: Tenant, harbor_day: HarborDay) -> dict[str, int]:
    """Alice opens the day, one visit through the API, and the plan; Carol opens Northside's day."""
    as_alice.get(f"/dispatch/day/{DAY}/")
    as_alice.get(f"/api/dispatch/visits/{harbor_day.ids[1]}")
    as_alice.get(f"/api/dispatch/route-plans/{harbor_day.plan.pk}")
    add_visit(northside, "NS-0001")
    signed_in(carol).get(f"/dispatch/day/{DAY}/")
    day, visit, plan, theirs = (r.pk for r in records())
    return {"day": day, "visit": visit, "plan": plan, "theirs": theirs}


def test_an_auditor_lists_her_agencys_reads_newest_first_with_names(
        as_audrey: Client, reads_of_the_day: dict[str, int]) -> None:
    body = as_audrey.get("/api/audit/reads").json()
    assert [r["id"] for r in body["reads"]] == [reads_of_the_day[k] for k in ("plan", "visit", "day")]
    assert {r["user"] for r in body["reads"]} == {"alice"}
    assert [r["visit_count"] for r in body["reads"]] == [3, 1, 3]
    assert "visit_ids" not in body["reads"][0]
    assert body["next_before"] is None


@pytest.mark.parametrize(("params", "expected"), [
    ({"kind": "api_visit"}, ["visit"]),
    ({"subject": str(DAY)}, ["day"]),
    ({"visit_id": "<second visit>"}, ["plan", "visit", "day"]),
    ({"visit_id": "<first visit>"}, ["plan", "day"]),
    ({"user_id": "<carol>"}, []),  # Carol's read is Northside's: not in Harbor's audit
    ({"since": "2000-01-01T00:00:00Z", "until": "2001-01-01T00:00:00Z"}, []),
])
def test_filters_narrow_the_reads(as_audrey: Client, alice: User, carol: User, harbor_day: HarborDay,
                                  reads_of_the_day: dict[str, int], params: dict[str, str],
                                  expected: list[str]) -> None:
    stand_ins = {"<first visit>": harbor_day.ids[0], "<second visit>": harbor_day.ids[1], "<carol>": carol.pk}
    query = {name: stand_ins.get(value, value) for name, value in params.items()}
    body = as_audrey.get("/api/audit/reads", query).json()
    assert [r["id"] for r in body["reads"]] == [reads_of_the_day[name] for name in expected]


def test_keyset_pages_cover_the_reads_without_gaps_or_repeats(
        as_audrey: Client, reads_of_the_day: dict[str, int]) -> None:
    seen: list[int] = []
    before = None
    while True:
        body = as_audrey.get("/api/audit/reads", {"limit": 2, **({"before": before} if before else {})}).json()
        seen += [r["id"] for r in body["reads"]]
        if (before := body["next_before"]) is None:
            break
    assert seen == [reads_of_the_day[k] for k in ("plan", "visit", "day")]


def test_a_records_detail_lists_its_visits_and_another_agencys_is_not_found(
        as_audrey: Client, harbor_day: HarborDay, reads_of_the_day: dict[str, int]) -> None:
    detail = as_audrey.get(f"/api/audit/reads/{reads_of_the_day['day']}").json()
    assert detail["visit_ids"] == harbor_day.ids
    assert detail["kind"] == "day"
    response = as_audrey.get(f"/api/audit/reads/{reads_of_the_day['theirs']}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert as_audrey.get(f"/audit/reads/{reads_of_the_day['theirs']}/").status_code == 404


def test_exports_stream_the_filtered_reads_as_csv_and_json_lines(
        as_audrey: Client, harbor_day: HarborDay, reads_of_the_day: dict[str, int]) -> None:
    response = as_audrey.get("/api/audit/reads/export.csv", {"visit_id": harbor_day.ids[0]})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="patient-data-reads.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.getvalue().decode())))
    assert [int(r["id"]) for r in rows] == [reads_of_the_day["day"], reads_of_the_day["plan"]]  # oldest first
    assert json.loads(rows[0]["visit_ids"]) == harbor_day.ids
    assert rows[0]["user"] == "alice"
    assert rows[0]["kind"] == "day"
    lines = as_audrey.get("/api/audit/reads/export.jsonl").getvalue().decode().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [reads_of_the_day[k] for k in ("day", "visit", "plan")]


@pytest.mark.parametrize(("params", "field"), [
    ({"kind": "peek"}, "kind"),
    ({"visit_id": "0"}, "visit_id"),
    ({"visit_id": "x"}, "visit_id"),
    ({"user_id": str(2**70)}, "user_id"),
    ({"subject": "d" * 65}, "subject"),
    ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "query"),
    ({"limit": 0}, "limit"),
])
def test_bad_filters_are_refused_naming_the_field(as_audrey: Client, params: dict[str, Any], field: str) -> None:
    response = as_audrey.get("/api/audit/reads", params)
    assert response.status_code == 400
    assert response.json()["field"] == field
    if field != "limit":  # the export takes no page size
        assert as_audrey.get("/api/audit/reads/export.csv", params).status_code == 400


def test_only_auditors_see_who_saw_whom(alice: User, oscar: User) -> None:
    for someone in (alice, oscar):
        client = signed_in(someone)
        assert client.get("/api/audit/reads").status_code == 403
        assert client.get("/api/audit/reads/export.csv").status_code == 403
        assert client.get("/audit/reads/").status_code == 403
    assert Client().get("/api/audit/reads").status_code == 401


# --- the auditor's pages ------------------------------------------------------------------------------


def test_the_reads_page_lists_filters_and_links_each_record(
        as_audrey: Client, harbor_day: HarborDay, reads_of_the_day: dict[str, int]) -> None:
    page = as_audrey.get("/audit/reads/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="/audit/reads/{reads_of_the_day["day"]}/"' in html
    assert f'/audit/reads/{reads_of_the_day["theirs"]}/' not in html
    assert "day page" in html
    assert "alice" in html
    assert "<script>" not in html  # the site's CSP allows no inline script
    assert " style=" not in html  # nor inline style
    narrowed = as_audrey.get("/audit/reads/", {"kind": "api_visit"})
    assert [r.pk for r, _ in narrowed.context["reads"]] == [reads_of_the_day["visit"]]
    assert 'href="/api/audit/reads/export.csv?kind=api_visit"' in narrowed.content.decode()
    detail = as_audrey.get(f"/audit/reads/{reads_of_the_day['day']}/")
    assert detail.status_code == 200
    assert f"?visit_id={harbor_day.ids[0]}" in detail.content.decode()


def test_the_history_page_links_the_reads_page_for_auditors(as_audrey: Client, oscar: User) -> None:
    assert 'href="/audit/reads/"' in as_audrey.get("/audit/").content.decode()
    assert 'href="/audit/reads/"' not in signed_in(oscar).get("/audit/").content.decode()


@pytest.mark.parametrize(("filters", "field"), [
    ({"since": "2026-11-02T00:00", "until": "2026-11-01T00:00"}, "until"),
    ({"visit_id": str(2**70)}, "visit_id"),
    ({"user_id": "999999"}, "user_id"),  # nobody of Harbor's
    ({"kind": "peek"}, "kind"),
    ({"subject": "2026\x0003-10"}, "subject"),
])
def test_bad_page_filters_are_field_errors_never_a_500(as_audrey: Client, filters: dict[str, str],
                                                       field: str) -> None:
    page = as_audrey.get("/audit/reads/", filters)
    assert page.status_code == 200
    assert page.context["form"].errors.keys() == {field}


# --- retention -------------------------------------------------------------------------------------------


def test_retention_deletes_records_older_than_the_window(settings: Any, as_alice: Client,
                                                         harbor_day: HarborDay) -> None:
    settings.READ_AUDIT_RETENTION_DAYS = 30
    as_alice.get(f"/dispatch/day/{DAY}/")
    as_alice.get(f"/api/dispatch/visits/{harbor_day.ids[0]}")
    old, young = records()
    PatientRead.objects.filter(pk=old.pk).update(at=timezone.now() - timedelta(days=31))
    assert prune(POLICIES["patient_reads"], batch=100, max_batches=2) == 1
    assert [r.pk for r in records()] == [young.pk]
