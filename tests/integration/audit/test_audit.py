"""Auditors read their tenant's outbox history: filtered, paginated, detailed, exported."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from core.accounts.models import Tenant, User
from core.platform.tenancy import tenant_context
from outbox.emit import emit
from tests.helpers.outbox import row_of
from tests.helpers.web import sign_in

pytestmark = pytest.mark.usefixtures("outbox_db")


def emit_for(tenant: Tenant, event_type: str, aggregate_id: int, actor_id: int | None = None) -> int:
    with tenant_context(tenant.id), transaction.atomic():
        emitted = emit(event_type, aggregate_type="visit", aggregate_id=aggregate_id,
                       payload={"visit_id": aggregate_id}, channel=f"tenant:{tenant.id}:events", actor_id=actor_id)
    return row_of(emitted).id


@pytest.fixture
def history(harbor: Tenant, northside: Tenant) -> dict[str, list[int]]:
    ours = [emit_for(harbor, "visit.updated" if i % 2 else "visit.created", i, actor_id=7) for i in range(1, 8)]
    theirs = [emit_for(northside, "visit.updated", 99)]
    return {"ours": ours, "theirs": theirs}


def test_an_auditor_sees_only_their_tenants_events_newest_first(
        client: Client, audrey: User, history: dict[str, list[int]]) -> None:
    sign_in(client, audrey)
    body = client.get("/api/audit/events").json()
    assert [e["id"] for e in body["events"]] == sorted(history["ours"], reverse=True)
    assert body["next_before"] is None
    assert body["events"][0]["payload"] == {"visit_id": 7}
    assert body["events"][0]["cursor"].count("-") == 1


def test_filters_narrow_the_history(client: Client, audrey: User, history: dict[str, list[int]]) -> None:
    sign_in(client, audrey)
    created = client.get("/api/audit/events", {"event_type": "visit.created"}).json()["events"]
    assert {e["event_type"] for e in created} == {"visit.created"}
    assert len(created) == 3
    one = client.get("/api/audit/events", {"aggregate_type": "visit", "aggregate_id": "5"}).json()["events"]
    assert [e["aggregate_id"] for e in one] == ["5"]
    assert client.get("/api/audit/events", {"status": "completed"}).json()["events"] == []
    assert len(client.get("/api/audit/events", {"status": "pending", "actor_id": "7"}).json()["events"]) == 7


def test_keyset_pages_cover_the_history_without_gaps_or_repeats(
        client: Client, audrey: User, history: dict[str, list[int]]) -> None:
    sign_in(client, audrey)
    seen: list[int] = []
    before = None
    while True:
        params: dict[str, Any] = {"limit": 3, **({"before": before} if before else {})}
        body = client.get("/api/audit/events", params).json()
        seen += [e["id"] for e in body["events"]]
        before = body["next_before"]
        if before is None:
            break
    assert seen == sorted(history["ours"], reverse=True)


def test_an_events_detail_and_another_tenants_event(
        client: Client, audrey: User, history: dict[str, list[int]]) -> None:
    sign_in(client, audrey)
    detail = client.get(f"/api/audit/events/{history['ours'][0]}").json()
    assert detail["inbox"] is None
    assert detail["delivery_attempts"] == []
    assert detail["dead_letter"] is None
    response = client.get(f"/api/audit/events/{history['theirs'][0]}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_exports_stream_the_filtered_set_as_csv_and_json_lines(
        client: Client, audrey: User, history: dict[str, list[int]]) -> None:
    sign_in(client, audrey)
    response = client.get("/api/audit/export.csv", {"event_type": "visit.updated"})
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.getvalue().decode())))
    assert {r["event_type"] for r in rows} == {"visit.updated"}
    assert len(rows) == 4
    assert json.loads(rows[0]["payload"])["visit_id"] in {1, 3, 5, 7}
    lines = client.get("/api/audit/export.jsonl").getvalue().decode().splitlines()
    assert sorted(json.loads(line)["id"] for line in lines) == sorted(history["ours"])


@pytest.mark.parametrize(("params", "field"), [
    ({"status": "lost"}, "status"),
    ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "query"),
    ({"limit": 0}, "limit"),
    ({"before": "x"}, "before"),
])
def test_bad_filters_are_refused_naming_the_field(
        client: Client, audrey: User, params: dict[str, Any], field: str) -> None:
    sign_in(client, audrey)
    response = client.get("/api/audit/events", params)
    assert response.status_code == 400
    assert response.json()["field"] == field


def test_other_roles_are_refused(client: Client, alice: User) -> None:
    sign_in(client, alice)
    assert client.get("/api/audit/events").status_code == 403
    assert client.get("/audit/").status_code == 403


def test_the_history_page_lists_events_and_shows_filter_errors(
        client: Client, audrey: User, history: dict[str, list[int]]) -> None:
    sign_in(client, audrey)
    page = client.get("/audit/")
    assert page.status_code == 200
    assert b"visit.created" in page.content
    bad = client.get("/audit/", {"since": "2026-11-02T00:00", "until": "2026-11-01T00:00"})
    assert bad.status_code == 200
    assert b"Must be after From." in bad.content
    detail = client.get(f"/audit/events/{history['ours'][0]}/")
    assert detail.status_code == 200
    assert b"visit.created" in detail.content or b"visit.updated" in detail.content


@pytest.mark.parametrize(("filters", "field"), [
    ({"since": "2026-13-01T00:00"}, "since"),             # no such month
    ({"until": "0001-01-01T00:00:00+05:00"}, "until"),   # before year 1 in UTC
    ({"actor_id": str(2**70)}, "actor_id"),              # beyond a bigint
    ({"event_type": "visit\x00created"}, "event_type"),  # a NUL character
])
def test_hostile_history_filters_are_field_errors_never_a_500(
        client: Client, audrey: User, history: dict[str, list[int]], filters: dict[str, str], field: str) -> None:
    sign_in(client, audrey)
    page = client.get("/audit/", filters)
    assert page.status_code == 200
    assert page.context["form"].errors.keys() == {field}


def test_a_time_with_a_large_offset_filters_in_utc(client: Client, audrey: User,
                                                   history: dict[str, list[int]]) -> None:
    sign_in(client, audrey)
    page = client.get("/audit/", {"since": "2000-01-01T00:00:00+23:00"})  # PostgreSQL takes up to ±15:59
    assert page.status_code == 200
    assert page.context["form"].is_valid()
    assert b"visit.created" in page.content


def test_a_page_below_an_event_the_history_does_not_hold_is_refused_naming_before(
        client: Client, audrey: User, history: dict[str, list[int]]) -> None:
    sign_in(client, audrey)
    for unknown in (history["theirs"][0], max(history["ours"]) + 1000):  # another agency's; none at all
        response = client.get("/api/audit/events", {"before": unknown})
        assert response.status_code == 400
        assert response.json()["field"] == "before"
    page = client.get("/audit/", {"before": history["theirs"][0]})
    assert page.status_code == 200
    assert b"to page from" in page.content


def test_the_count_of_matching_events_is_exact_for_a_small_set(
        client: Client, audrey: User, history: dict[str, list[int]]) -> None:
    sign_in(client, audrey)
    assert client.get("/api/audit/events/count").json() == {"events": 7, "exact": True}
    assert client.get("/api/audit/events/count", {"event_type": "visit.created"}).json() == {"events": 3, "exact": True}
    assert client.get("/api/audit/events/count", {"status": "dead"}).json() == {"events": 0, "exact": True}
    assert client.get("/api/audit/events/count", {"status": "lost"}).json()["field"] == "status"
    page = client.get("/audit/", {"event_type": "visit.created"})
    assert b"3 events match." in page.content


def test_actors_are_shown_by_name_and_roles(client: Client, harbor: Tenant, audrey: User, alice: User) -> None:
    alice.first_name, alice.last_name = "Alice", "Ng"
    alice.save()
    acted = emit_for(harbor, "visit.created", 1, actor_id=alice.id)
    emit_for(harbor, "visit.created", 2)  # the system's: no actor
    sign_in(client, audrey)
    events = client.get("/api/audit/events").json()["events"]
    assert [(e["actor_id"], e["actor"], e["actor_roles"]) for e in events] == [
        (None, None, []), (alice.id, "Alice Ng", ["dispatcher"])]
    assert client.get(f"/api/audit/events/{acted}").json()["actor"] == "Alice Ng"
    assert b"Alice Ng (dispatcher)" in client.get("/audit/").content
    assert b"Alice Ng (dispatcher)" in client.get(f"/audit/events/{acted}/").content
