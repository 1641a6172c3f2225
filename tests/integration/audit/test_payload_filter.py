"""Auditors narrow the history to the events whose payload holds a value at a path:
`payload.visit_id = 42`, on the page, in the API (list, count, streamed and background exports),
for their own agency alone, wherever the events are (hot table or history).

At Harbor, visit 42 was updated three times (the first two moved to the history since, the last
still in the hot table), once with its id written as the text "42" by a sloppy integration, and
visit 43 once; an address change in Salem. At Northside, Carol's agency also has a visit 42,
which Harbor's auditor Audrey must never see.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection, transaction
from django.http import FileResponse
from django.test import Client

from core.accounts.models import Tenant, User
from core.audit import views
from core.audit.models import HistoryExport
from core.platform.roles import Role
from core.platform.tenancy import tenant_context
from outbox import queries
from outbox.emit import emit
from tests.helpers.outbox import deliver, row_of
from tests.helpers.people import make_user
from tests.helpers.web import signed_in

pytestmark = pytest.mark.usefixtures("outbox_db")

VISIT_42 = "payload.visit_id = 42"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def happened(tenant: Tenant, payload: dict[str, Any], event_type: str = "visit.updated") -> int:
    with tenant_context(tenant.id), transaction.atomic():
        emitted = emit(event_type, aggregate_type="visit", aggregate_id=1, channel=f"tenant:{tenant.id}:events",
                       payload=payload)
    return row_of(emitted).id


def moved_to_history() -> int:
    """Complete every event of the hot table and move them to the history, as the relay would."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE outbox_event SET status = 'completed', completed_at = now(), redeliver_at = NULL")
        cursor.execute(queries.MOVE_COMPLETED, {"limit": 1000})
        return cursor.rowcount


@pytest.fixture
def visits(harbor: Tenant, northside: Tenant) -> dict[str, list[int]]:
    """Harbor's and Northside's events by what their payload says, oldest first."""
    story: dict[str, list[int]] = {"visit 42": [], "text 42": [], "others": [], "theirs": []}
    story["visit 42"].append(happened(harbor, {"visit_id": 42, "note": "window moved"}))
    story["text 42"].append(happened(harbor, {"visit_id": "42"}))
    story["others"].append(happened(harbor, {"visit_id": 43}))
    story["others"].append(happened(harbor, {"visit": {"address": {"city": "Salem"}}}, "visit.address_changed"))
    story["visit 42"].append(happened(harbor, {"visit_id": 42.0, "cancelled": False}))
    story["theirs"].append(happened(northside, {"visit_id": 42}))
    assert moved_to_history() == 6
    story["visit 42"].append(happened(harbor, {"visit_id": 42, "cancelled": True}))  # still in the hot table
    story["theirs"].append(happened(northside, {"visit_id": 42}))
    return story


def _ids(client: Client, payload: str, **filters: Any) -> list[int]:
    response = client.get("/api/audit/events", {"payload": payload, **filters})
    assert response.status_code == 200, response.content
    return [event["id"] for event in response.json()["events"]]


def test_the_filter_finds_exactly_the_agencys_events_with_that_value_at_that_path(
        audrey: User, visits: dict[str, list[int]]) -> None:
    client = signed_in(audrey)
    assert _ids(client, VISIT_42) == visits["visit 42"][::-1]  # hot table and history, newest first; 42.0 too
    assert client.get("/api/audit/events/count", {"payload": VISIT_42}).json() == {"events": 3, "exact": True}
    assert _ids(client, VISIT_42, event_type="visit.created") == []
    assert _ids(client, "payload.cancelled = true") == visits["visit 42"][2:]
    assert _ids(client, "payload.cancelled = false") == visits["visit 42"][1:2]


def test_a_number_does_not_match_the_same_digits_as_text_nor_text_a_number(
        audrey: User, visits: dict[str, list[int]]) -> None:
    client = signed_in(audrey)
    assert not set(_ids(client, VISIT_42)) & set(visits["text 42"])
    assert _ids(client, 'payload.visit_id = "42"') == visits["text 42"]


def test_a_dotted_path_finds_a_nested_value_and_a_bare_word_is_text(
        audrey: User, visits: dict[str, list[int]]) -> None:
    client = signed_in(audrey)
    salem = visits["others"][1:]
    assert _ids(client, "payload.visit.address.city = Salem") == salem
    assert _ids(client, 'payload.visit.address.city = "Salem"') == salem
    assert _ids(client, "payload.visit.address = Salem") == []  # the address is an object, not the text
    assert _ids(client, "payload.city = Salem") == []  # paths start at the payload's top


def test_text_with_quotes_percent_signs_and_accents_is_matched_exactly(harbor: Tenant, audrey: User) -> None:
    note = 'Mme Lefèvre: 50% "off", \\ and \'%s\''
    noted = happened(harbor, {"note": note})
    happened(harbor, {"note": note.upper()})
    client = signed_in(audrey)
    assert _ids(client, f"payload.note = {json.dumps(note)}") == [noted]
    assert _ids(client, f"payload.note = {json.dumps(note, ensure_ascii=False)}") == [noted]


def test_another_agencys_auditor_sees_only_their_own_events_with_the_same_payload(
        northside: Tenant, visits: dict[str, list[int]]) -> None:
    nina = make_user("nina", northside, Role.AUDITOR)
    assert _ids(signed_in(nina), VISIT_42) == visits["theirs"][::-1]


BAD = [
    "visit_id 42",                 # no '='
    "= 42",                        # no path
    "payload. = 42",               # no key after payload.
    "visit_id = 42",               # not from payload.
    "payload.visit-id = 42",       # not a key
    "payload.a.b.c.d.e.f.g.h.i = 1",  # 9 keys
    "payload.name = Alice Smith",  # neither JSON nor one word
    "payload.code = 007",          # starts like a number
    "payload.n = 1e999999",        # beyond numeric
    'payload.s = "\\u0000"',       # NUL, which jsonb cannot hold
    "payload.s = a\x00b",
    "",
]


@pytest.mark.parametrize("written", BAD)
def test_a_filter_the_api_cannot_read_is_a_400_naming_payload(audrey: User, written: str,
                                                                visits: dict[str, list[int]]) -> None:
    client = signed_in(audrey)
    for address in ("/api/audit/events", "/api/audit/events/count", "/api/audit/export.csv",
                    "/api/audit/export.jsonl"):
        response = client.get(address, {"payload": written})
        assert response.status_code == 400, (address, response.content)
        assert response.json()["field"] == "payload"
    asked = client.post("/api/audit/exports", {"payload": written}, content_type="application/json")
    assert (asked.status_code, asked.json()["field"]) == (400, "payload")
    assert HistoryExport.objects.count() == 0


@pytest.mark.parametrize("written", [bad for bad in BAD if bad])
def test_a_filter_the_page_cannot_read_is_an_error_beside_the_field(audrey: User, written: str,
                                                                    visits: dict[str, list[int]]) -> None:
    page = signed_in(audrey).get("/audit/", {"payload": written})
    assert page.status_code == 200
    assert page.context["form"].errors.keys() == {"payload"}
    assert b'id="error-payload"' in page.content
    assert page.context["events"] == []


def test_the_page_filters_and_keeps_the_filter_in_its_links(audrey: User, visits: dict[str, list[int]],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    client = signed_in(audrey)
    page = client.get("/audit/", {"payload": "  payload.visit_id=42 ", "event_type": "visit.updated"})
    assert page.status_code == 200
    assert [event.id for event, _ in page.context["events"]] == visits["visit 42"][:0:-1]
    assert b"3 events match." in page.content
    assert page.context["form"]["payload"].value() == "  payload.visit_id=42 "  # shown as written

    older = page.context["filter_query"]
    assert parse_qs(older)["payload"] == ["  payload.visit_id=42 "]  # the page as asked, but its position
    assert f"before={page.context['next_before']}".encode() in page.content
    second = client.get(f"/audit/?{older}&before={page.context['next_before']}")
    assert [event.id for event, _ in second.context["events"]] == visits["visit 42"][:1]

    content = page.content.decode()
    exports = [urlsplit(href) for href in _hrefs(content) if href.startswith("/api/audit/export.")]
    assert {parse_qs(link.query)["payload"][0] for link in exports} == {VISIT_42}  # written canonically
    assert f'name="payload" value="{VISIT_42}"' in content  # the background export's hidden field
    streamed = client.get(exports[0].path + "?" + exports[0].query)
    assert streamed.status_code == 200


def _hrefs(content: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]+)"', content)]


def _csv_ids(text: str) -> list[int]:
    return [int(row["id"]) for row in csv.DictReader(io.StringIO(text))]


def test_the_streamed_exports_hold_exactly_the_filtered_events(audrey: User, visits: dict[str, list[int]]) -> None:
    client = signed_in(audrey)
    exported = client.get("/api/audit/export.csv", {"payload": VISIT_42}).getvalue().decode()
    assert _csv_ids(exported) == visits["visit 42"]  # oldest first
    lines = client.get("/api/audit/export.jsonl", {"payload": 'payload.visit_id = "42"'}).getvalue().decode()
    assert [json.loads(line)["id"] for line in lines.splitlines()] == visits["text 42"]


def test_a_background_export_stores_the_filter_and_holds_exactly_its_events(
        audrey: User, visits: dict[str, list[int]]) -> None:
    client = signed_in(audrey)
    asked = client.post("/api/audit/exports", {"payload": "payload.visit_id=42", "format": "csv"},
                        content_type="application/json")
    assert asked.status_code == 202, asked.content
    made = asked.json()
    assert (made["filters"], made["rows_estimate"]) == ({"payload": VISIT_42}, 3)
    assert deliver("audit.run_export") == 1
    done = client.get(f"/api/audit/exports/{made['id']}").json()
    assert (done["status"], done["rows_done"]) == ("done", 3)
    response = client.get(done["download"])
    assert isinstance(response, FileResponse)
    assert _csv_ids(b"".join(response.streaming_content).decode()) == visits["visit 42"]


def test_the_page_asks_for_a_background_export_of_the_payload_filter_it_shows(
        audrey: User, visits: dict[str, list[int]]) -> None:
    client = signed_in(audrey)
    asked = client.post("/audit/exports/new/", {"payload": VISIT_42, "format": "jsonl"})
    assert asked.status_code == 302
    made = HistoryExport.objects.get()
    assert (made.filters, made.rows_estimate) == ({"payload": VISIT_42}, 3)
    deliver("audit.run_export")
    made.refresh_from_db()
    assert made.rows_done == 3
    refused = client.post("/audit/exports/new/", {"payload": "visit_id = 42", "format": "csv"})
    assert refused.status_code == 400
    assert b"payload" in refused.content
    assert HistoryExport.objects.count() == 1
