"""Exports of the history made in the background (adr/0021): asked for, made by the task with
its progress, downloaded by the agency alone, started again after a lost delivery, expired."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import transaction
from django.http import FileResponse
from django.test import Client
from django.utils import timezone

from core.accounts.models import Tenant, User
from core.audit.exports import expire_exports
from core.audit.models import HistoryExport
from core.platform.roles import Role
from core.platform.tenancy import tenant_context
from outbox.emit import emit
from tests.helpers.outbox import deliver, events_of, pending_tasks, row_of
from tests.helpers.people import make_user
from tests.helpers.web import signed_in

pytestmark = pytest.mark.usefixtures("outbox_db")


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def happened(tenant: Tenant, count: int, event_type: str = "visit.updated") -> list[int]:
    ids = []
    for n in range(count):
        with tenant_context(tenant.id), transaction.atomic():
            emitted = emit(event_type, aggregate_type="visit", aggregate_id=n, channel=f"tenant:{tenant.id}:events",
                           payload={"visit_id": n, "note": "a,\"b\""})
        ids.append(row_of(emitted).id)
    return ids


def _file(client: Client, address: str) -> str:
    response = client.get(address)
    assert response.status_code == 200
    assert isinstance(response, FileResponse)
    assert response["Content-Disposition"].startswith("attachment")
    return b"".join(response.streaming_content).decode()


def _file_rows(client: Client, made: dict[str, Any]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(_file(client, made["download"]))))


def test_an_auditor_has_the_filtered_history_made_into_a_file_and_downloads_it(
        harbor: Tenant, northside: Tenant, audrey: User) -> None:
    ours = happened(harbor, 7)
    happened(harbor, 3, "visit.created")
    happened(northside, 4)
    client = signed_in(audrey)
    asked = client.post("/api/audit/exports", {"event_type": "visit.updated", "format": "csv"},
                        content_type="application/json")
    assert asked.status_code == 202
    made = asked.json()
    assert (made["status"], made["rows_estimate"], made["download"]) == ("queued", 7, None)
    assert [e.payload["export_id"] for e in events_of("audit.export_requested")] == [made["id"]]

    assert deliver("audit.run_export") == 1
    done = client.get(f"/api/audit/exports/{made['id']}").json()
    assert (done["status"], done["rows_done"]) == ("done", 7)
    assert done["size_bytes"] > 0
    rows = _file_rows(client, done)
    assert [int(row["id"]) for row in rows] == ours  # oldest first, only the filter's, only ours
    assert json.loads(rows[0]["payload"]) == {"visit_id": 0, "note": "a,\"b\""}
    assert [e.aggregate_id for e in events_of("audit.export_finished")] == [str(made["id"])]


def test_another_agency_sees_nothing_of_an_export(harbor: Tenant, northside: Tenant, audrey: User) -> None:
    happened(harbor, 2)
    made = signed_in(audrey).post("/api/audit/exports", {}, content_type="application/json").json()
    deliver("audit.run_export")
    theirs = signed_in(make_user("nina", northside, Role.AUDITOR))
    assert theirs.get(f"/api/audit/exports/{made['id']}").status_code == 404
    assert theirs.get(f"/api/audit/exports/{made['id']}/file").status_code == 404
    assert theirs.get(f"/audit/exports/{made['id']}/file").status_code == 404
    assert theirs.get("/api/audit/exports").json() == []


def test_bad_requests_are_refused_naming_the_field_and_nothing_is_queued(
        harbor: Tenant, audrey: User, settings: Any) -> None:
    happened(harbor, 5)
    client = signed_in(audrey)

    def ask(body: dict[str, Any]) -> Any:
        return client.post("/api/audit/exports", body, content_type="application/json")

    assert ask({"format": "xlsx"}).json()["field"] == "format"
    for not_an_object in ("true", "[]", "3"):
        assert client.post("/api/audit/exports", not_an_object, content_type="application/json").status_code == 400
    assert ask({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}).status_code == 400
    settings.AUDIT_EXPORT_MAX_ROWS = 4
    too_many = ask({})
    assert (too_many.status_code, too_many.json()["field"]) == (422, "until")
    assert HistoryExport.objects.count() == 0
    settings.AUDIT_EXPORT_MAX_ROWS = 100
    assert ask({}).status_code == 202
    assert ask({}).status_code == 202
    busy = ask({})  # AUDIT_EXPORTS_AT_ONCE (2) are still being made
    assert busy.status_code == 409
    assert HistoryExport.objects.count() == 2
    assert len(pending_tasks("audit.run_export")) == 2


def test_the_read_only_ops_role_sees_exports_but_asks_for_none(harbor: Tenant, audrey: User) -> None:
    happened(harbor, 1)
    signed_in(audrey).post("/api/audit/exports", {}, content_type="application/json")
    viewer = signed_in(make_user("vera", harbor, Role.OPS_VIEWER))
    assert viewer.post("/api/audit/exports", {}, content_type="application/json").status_code == 403
    assert viewer.post("/audit/exports/new/", {"format": "csv"}).status_code == 403
    assert len(viewer.get("/api/audit/exports").json()) == 1
    assert b"Make the file" not in viewer.get("/audit/").content


def test_a_delivery_that_died_mid_export_is_followed_by_one_that_makes_the_whole_file_once(
        harbor: Tenant, audrey: User, media: Path) -> None:
    ours = happened(harbor, 6)
    client = signed_in(audrey)
    made = client.post("/api/audit/exports", {"format": "jsonl"}, content_type="application/json").json()
    event = pending_tasks("audit.run_export")[0]
    # The first delivery claimed the export and wrote part of a file before its worker was killed.
    HistoryExport.objects.filter(id=made["id"]).update(status="running", claimed_event=event.event_id,
                                                       attempts=1, rows_done=3,
                                                       deadline_at=timezone.now() + timedelta(minutes=5))
    stale = media / "audit-exports" / str(harbor.id) / f"outbox-history-{made['id']}.jsonl"
    stale.parent.mkdir(parents=True)
    stale.write_text('{"id": "half a line')
    deliver("audit.run_export")  # the redelivery of the same event resumes the claim
    done = HistoryExport.objects.get(id=made["id"])
    everything = [*ours, event.id]  # the export's own request is in the history it exports
    assert (done.status, done.rows_done, done.attempts) == ("done", len(everything), 2)
    lines = _file(client, f"/api/audit/exports/{made['id']}/file").splitlines()
    assert [json.loads(line)["id"] for line in lines] == everything
    assert sorted(path.name for path in stale.parent.iterdir()) == [stale.name]  # replaced, not a second file


def test_files_expire_and_lost_runs_fail(harbor: Tenant, audrey: User) -> None:
    happened(harbor, 2)
    client = signed_in(audrey)
    made = client.post("/api/audit/exports", {}, content_type="application/json").json()
    deliver("audit.run_export")
    done = HistoryExport.objects.get(id=made["id"])
    assert done.expires_at is not None
    assert default_storage.exists(done.file_name)
    lost = HistoryExport.objects.create(tenant=harbor, format="csv", status="running", attempts=1,
                                        deadline_at=timezone.now() - timedelta(seconds=1))

    assert expire_exports(now=timezone.now()) == {"expired": 0, "lost": 1}
    assert expire_exports(now=done.expires_at + timedelta(seconds=1)) == {"expired": 1, "lost": 0}
    assert not default_storage.exists(done.file_name)
    assert HistoryExport.objects.get(id=done.id).status == "expired"
    assert HistoryExport.objects.get(id=lost.id).status == "failed"
    assert client.get(f"/api/audit/exports/{done.id}/file").status_code == 404
    assert {e.event_type for e in events_of("audit.export_expired")} | {
        e.event_type for e in events_of("audit.export_failed")} == {"audit.export_expired", "audit.export_failed"}


def test_the_pages_ask_for_an_export_of_the_filter_shown_and_list_it(harbor: Tenant, audrey: User) -> None:
    happened(harbor, 3)
    happened(harbor, 2, "visit.created")
    client = signed_in(audrey)
    history = client.get("/audit/", {"event_type": "visit.created"})
    assert b"Make the file" in history.content
    assert b'name="event_type" value="visit.created"' in history.content
    asked = client.post("/audit/exports/new/", {"event_type": "visit.created", "format": "jsonl"})
    assert asked.status_code == 302
    made = HistoryExport.objects.get()
    assert (made.filters, made.format, made.rows_estimate) == ({"event_type": "visit.created"}, "jsonl", 2)
    deliver("audit.run_export")
    page = client.get("/audit/exports/")
    assert page.status_code == 200
    assert f'/audit/exports/{made.id}/file'.encode() in page.content
    refused = client.post("/audit/exports/new/", {"format": "pdf"})
    assert refused.status_code == 400
    assert b"is not an export format" in refused.content
