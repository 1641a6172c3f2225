"""Open-content export bundles in-process: fan-out, fan-in counted in PostgreSQL, one zip, live
progress, bad requests, redeliveries, retention, and agencies kept apart
(core/learning/exports.py; a worker killed mid-export and a FLUSHALL are end-to-end:
tests/e2e/test_export_bundle.py)."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.storage import default_storage
from django.db import connection
from django.utils import timezone

from core.accounts.models import User
from core.learning import exports, media
from core.learning.models import ExportBundle, ExportItem, Kind
from core.platform.errors import Invalid, NotFound
from outbox.models import OutboxEvent
from tests.helpers import images
from tests.helpers.learning import published
from tests.helpers.outbox import deliver, events_of, execute, pending_tasks
from tests.helpers.web import signed_in

pytestmark = pytest.mark.usefixtures("outbox_db")

TESTS = "import solution\n\ndef test_adds():\n    assert solution.add(1, 2) == 3\n"


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def contents(bob: User) -> list[int]:
    chart = media.upload_image(bob, images.picture("png", 320, 200), "chart.png")
    lesson = published(bob, bob, kind=Kind.LESSON, title="Reading a wound chart",
                       body=f"Look:\n\n{media.markdown_of(chart)}\n")
    problem = published(bob, bob, kind=Kind.PROBLEM, title="Add two doses", body="Write `add(a, b)`.", tests=TESTS)
    return [lesson.content_id, problem.content_id]


def zip_of(bundle: ExportBundle) -> zipfile.ZipFile:
    with default_storage.open(bundle.file_name, "rb") as stored:
        return zipfile.ZipFile(io.BytesIO(stored.read()))


def reopen(event: OutboxEvent) -> OutboxEvent:
    """As if the sweep redelivered the event."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE outbox_event SET status = 'pending' WHERE id = %s", [event.id])
    event.refresh_from_db()
    return event


def test_an_export_fans_out_per_item_and_fans_in_to_one_zip_with_a_manifest(
        bob: User, contents: list[int]) -> None:
    bundle = exports.request_export(bob, contents, "Wound care, spring")
    assert [e.queue for e in pending_tasks("learning.export_item")] == ["batch", "batch"]
    deliver("learning.export_item", "learning.assemble_export")
    bundle.refresh_from_db()
    assert (bundle.status, bundle.items_done, bundle.items_total) == ("ready", 2, 2)
    archive = zip_of(bundle)
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == "ferry-open-content-bundle"
    assert [(i["kind"], i["title"], i["version"]) for i in manifest["items"]] == [
        ("lesson", "Reading a wound chart", 1), ("problem", "Add two doses", 1)]
    names = set(archive.namelist())
    lesson_page = "lessons/1-reading-a-wound-chart/index.html"
    assert {"manifest.json", "index.html", lesson_page, "lessons/1-reading-a-wound-chart/lesson.md",
            "problems/2-add-two-doses/index.html", "problems/2-add-two-doses/statement.md",
            "problems/2-add-two-doses/tests.py"} <= names
    [image_name] = [n for n in names if "/images/" in n]
    assert archive.read(image_name)[:8] == b"\x89PNG\r\n\x1a\n"
    assert f'src="images/{image_name.rsplit("/", 1)[-1]}"' in archive.read(lesson_page).decode()
    assert archive.read("problems/2-add-two-doses/tests.py").decode().strip() == TESTS.strip()
    with default_storage.open(bundle.file_name, "rb") as stored:
        data = stored.read()
    assert (bundle.bytes, bundle.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    progress = [e.payload["items_done"] for e in events_of("export.progress")]
    assert progress[:2] == [1, 2]
    [ready] = events_of("export.ready")
    assert ready.channel == f"tenant:{bob.tenant_id}:user:{bob.id}:events"
    assert bundle.expires_at is not None
    assert bundle.expires_at > timezone.now() + timedelta(days=6)


def test_items_delivered_twice_are_counted_once_and_the_assembly_is_emitted_once(
        bob: User, contents: list[int]) -> None:
    bundle = exports.request_export(bob, contents)
    first, second = pending_tasks("learning.export_item")
    execute(first)
    execute(reopen(first))
    bundle.refresh_from_db()
    assert (bundle.items_done, bundle.status) == (1, "building")
    execute(second)
    execute(reopen(second))
    bundle.refresh_from_db()
    assert (bundle.items_done, bundle.status) == (2, "queued")
    [assembly] = pending_tasks("learning.assemble_export")
    execute(assembly)
    execute(reopen(assembly))
    bundle.refresh_from_db()
    assert bundle.status == "ready"
    assert len(events_of("export.ready")) == 1
    zips = [n for n in default_storage.listdir(f"exports/{bob.tenant_id}/{bundle.key}")[1] if n.endswith(".zip")]
    assert zips == [bundle.file_name.rsplit("/", 1)[-1]]  # one bundle, never two


@pytest.mark.parametrize(("content_ids", "message"), [
    ([], "non-empty list"), ("1,2", "non-empty list"), ([True], "whole positive numbers"),
    ([0], "whole positive numbers"), ([1.5], "whole positive numbers"),
])
def test_a_bad_list_is_refused_naming_content_ids_and_nothing_is_written(
        bob: User, content_ids: Any, message: str) -> None:
    with pytest.raises(Invalid) as refused:
        exports.request_export(bob, content_ids)
    assert refused.value.field == "content_ids"
    assert message in refused.value.message
    assert not ExportBundle.objects.exists()


def test_too_many_items_are_refused(settings: Any, bob: User, contents: list[int]) -> None:
    settings.EXPORT_MAX_ITEMS = 1
    with pytest.raises(Invalid, match="at most 1 items"):
        exports.request_export(bob, contents)


def test_another_agencys_or_an_unpublished_content_is_not_found_and_nothing_is_written(
        bob: User, carol: User, contents: list[int]) -> None:
    with pytest.raises(NotFound) as refused:
        exports.request_export(carol, [contents[0]])
    assert refused.value.field == "content_ids"
    response = signed_in(carol).post("/api/exports", {"content_ids": contents}, content_type="application/json")
    assert (response.status_code, response.json()["field"]) == (404, "content_ids")
    assert not ExportBundle.objects.exists()
    assert not OutboxEvent.objects.filter(event_type="export.item_requested").exists()


def test_the_requesting_agency_alone_sees_and_downloads_the_bundle(bob: User, carol: User, contents: list[int]) -> None:
    api = signed_in(bob)
    accepted = api.post("/api/exports", {"content_ids": contents, "title": "Spring"}, content_type="application/json")
    assert accepted.status_code == 202
    bundle_id = accepted.json()["id"]
    assert accepted.json()["status"] == "building"
    deliver("learning.export_item", "learning.assemble_export")
    shown = api.get(f"/api/exports/{bundle_id}").json()
    assert (shown["status"], shown["items_done"], shown["items_total"]) == ("ready", 2, 2)
    download = api.get(f"/api/exports/{bundle_id}/file")
    assert download.status_code == 200
    assert download["Content-Disposition"].startswith('attachment; filename="spring.zip"')
    stranger = signed_in(carol)
    assert stranger.get(f"/api/exports/{bundle_id}").status_code == 404
    assert stranger.get(f"/api/exports/{bundle_id}/file").status_code == 404
    assert stranger.get(f"/learning/review/exports/{bundle_id}/file").status_code == 404
    assert stranger.get("/api/exports").json() == []


def test_a_ready_bundle_expires_with_its_files_and_an_overdue_one_fails(
        bob: User, contents: list[int], media_root: Any) -> None:
    ready = exports.request_export(bob, contents)
    deliver("learning.export_item", "learning.assemble_export")
    ready.refresh_from_db()
    stuck = exports.request_export(bob, contents[:1])  # its item event never delivered
    ExportBundle.objects.filter(id=ready.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    ExportBundle.objects.filter(id=stuck.id).update(deadline_at=timezone.now() - timedelta(seconds=1))
    assert exports.expire_exports() == {"expired": 1, "failed_overdue": 1}
    ready.refresh_from_db()
    stuck.refresh_from_db()
    assert (ready.status, ready.file_name) == ("expired", "")
    assert [p for p in (media_root / "exports" / str(bob.tenant_id) / ready.key).rglob("*") if p.is_file()] == []
    assert signed_in(bob).get(f"/api/exports/{ready.id}/file").status_code == 404
    assert stuck.status == "failed"
    assert "did not finish" in stuck.error
    execute(pending_tasks("learning.export_item")[0])  # arriving late changes nothing
    stuck.refresh_from_db()
    assert (stuck.status, stuck.items_done) == ("failed", 0)


def test_an_item_failing_through_every_retry_fails_the_bundle_with_the_reason(
        bob: User, contents: list[int], settings: Any) -> None:
    bundle = exports.request_export(bob, contents)
    item = ExportItem.objects.get(bundle=bundle, position=1)
    exports.fail_bundle(bundle.id, f"item {item.id} could not be exported: disk full")
    bundle.refresh_from_db()
    assert bundle.status == "failed"
    [failed] = events_of("export.failed")
    assert "disk full" in failed.payload["error"]


@pytest.mark.parametrize("name", ["../evil.txt", "/etc/passwd", "lessons/../../x", "a\\b", "Upper.txt", "",
                                  "lessons//x", "lessons/.hidden"])
def test_no_member_name_can_escape_the_bundle(name: str) -> None:
    with pytest.raises(ValueError, match="refusing"):
        exports.member_path(name)


def test_the_export_page_starts_a_bundle_or_shows_the_refusal_beside_the_list(
        bob: User, contents: list[int]) -> None:
    page = signed_in(bob)
    refused = page.post("/learning/review/exports/", {"title": "Nothing"})
    assert refused.status_code == 400
    assert 'id="export-error"' in refused.content.decode()
    assert "non-empty list" in refused.content.decode()
    started = page.post("/learning/review/exports/", {"title": "Spring", "content_ids": [str(i) for i in contents]})
    assert started.status_code == 302
    bundle = ExportBundle.objects.get()
    assert (bundle.title, bundle.items_total) == ("Spring", 2)
    listing = page.get("/learning/review/exports/").content.decode()
    assert f'data-bundle-id="{bundle.id}" data-status="building"' in listing
