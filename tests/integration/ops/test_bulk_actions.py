"""Redrive and discard of dead letters by filter, in the background: Oscar runs ops at Harbor
and previews before he confirms; Vera watches with the read-only ops role; Carol's Northside
letters share a cause with Harbor's and are never touched by Harbor's actions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from core.accounts.models import Tenant, User
from core.ops import services
from core.ops.models import BulkAction, OpsAction
from core.platform.roles import Role
from outbox.models import DeadLetter, OutboxEvent
from outbox.selectors import DeadLetterFilter, count_dead_letters, dead_letter_groups
from tests.helpers.outbox import execute, pending_tasks
from tests.helpers.people import make_user
from tests.helpers.web import sign_in
from tests.integration.ops.test_dead_letter_groups import dead

pytestmark = pytest.mark.django_db


@pytest.fixture
def letters(oscar: User, carol: User) -> dict[str, list[DeadLetter]]:
    assert oscar.tenant is not None
    assert carol.tenant is not None
    return {
        "timeouts": [dead(oscar.tenant, f"t{i}", f"TimeoutError: visit {i} took {30 + i} s") for i in range(7)],
        "other": [dead(oscar.tenant, "v1", "ValueError: no such clinician 7", task="tests.record_tenant")],
        "theirs": [dead(carol.tenant, "n1", "TimeoutError: visit 99 took 31 s")],
    }


def is_open(letter: DeadLetter) -> bool:
    letter.refresh_from_db()
    return letter.redriven_at is None and letter.discarded_at is None


def event_status(letter: DeadLetter) -> str:
    return OutboxEvent.objects.get(id=letter.outbox_id).status


def api_bulk(client: Client, body: Mapping[str, object]) -> tuple[int, dict[str, Any]]:
    answer = client.post("/api/ops/dead-letters/bulk", body, content_type="application/json")
    return answer.status_code, answer.json()


def run_pending_bulk() -> list[object]:
    return [execute(event) for event in pending_tasks("ops.run_bulk_action")]


def test_the_preview_counts_what_the_filter_chooses_in_the_agency_only(
        client: Client, oscar: User, letters: dict[str, list[DeadLetter]]) -> None:
    sign_in(client, oscar)
    assert client.get("/api/ops/dead-letters/preview").json()["matched"] == 8
    assert client.get("/api/ops/dead-letters/preview?task_name=tests.record_tenant").json()["matched"] == 1
    fingerprint = dead_letter_groups(oscar.tenant_id)[0].fingerprint
    assert client.get(f"/api/ops/dead-letters/preview?fingerprint={fingerprint}").json()["matched"] == 7
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert client.get("/api/ops/dead-letters/preview", {"since": later}).json()["matched"] == 0


def test_a_bulk_redrive_runs_in_chunks_in_the_background_and_records_who_did_it(
        client: Client, oscar: User, letters: dict[str, list[DeadLetter]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "BULK_CHUNK", 3)
    sign_in(client, oscar)
    fingerprint = dead_letter_groups(oscar.tenant_id)[0].fingerprint
    status, job = api_bulk(client, {"action": "redrive", "fingerprint": fingerprint})
    assert status == 202
    assert job["status"] == "queued"
    assert job["matched"] == 7
    assert all(is_open(letter) for letter in letters["timeouts"])  # nothing before the worker runs it
    assert run_pending_bulk() == ["succeeded"]
    done = client.get(f"/api/ops/bulk-actions/{job['id']}").json()
    assert (done["status"], done["examined"], done["acted"], done["percent"]) == ("succeeded", 7, 7, 100)
    assert all(event_status(letter) == "pending" for letter in letters["timeouts"])
    assert is_open(letters["other"][0])
    assert is_open(letters["theirs"][0])
    progress = OutboxEvent.objects.filter(event_type="ops.bulk_progress", aggregate_id=str(job["id"]))
    assert progress.count() == 1 + 3  # queued, then one per chunk of 3 (3 + 3 + 1)
    [action] = OpsAction.objects.filter(tenant=oscar.tenant, action="redrive")
    assert (action.actor_id, action.count, action.target["bulk_id"], action.target["fingerprint"]) == (
        oscar.id, 7, job["id"], fingerprint)


def test_a_bulk_redrive_run_twice_redrives_once(client: Client, oscar: User,
                                                letters: dict[str, list[DeadLetter]]) -> None:
    sign_in(client, oscar)
    status, job = api_bulk(client, {"action": "redrive", "task_name": "tests.record_effect"})
    assert status == 202
    [event] = pending_tasks("ops.run_bulk_action")
    assert execute(event) == "succeeded"
    assert execute(event) is None  # the same delivery again: the job is finished
    assert BulkAction.objects.get(id=job["id"]).acted == 7
    assert OutboxEvent.objects.filter(event_type="test.effect_requested", status="pending").count() == 7
    # Asking again finds nothing open: a conflict naming the filter, and no second job.
    status, refused = api_bulk(client, {"action": "redrive", "task_name": "tests.record_effect"})
    assert status == 409
    assert "filter" in str(refused)
    assert BulkAction.objects.count() == 1


def test_a_redelivery_after_a_killed_worker_goes_on_after_the_last_chunk(
        oscar: User, letters: dict[str, list[DeadLetter]]) -> None:
    job = services.request_bulk_action("redrive", DeadLetterFilter(oscar.tenant_id), oscar)
    [event] = pending_tasks("ops.run_bulk_action")
    claimed = services.claim_bulk_action(job.id, oscar.tenant_id, event.event_id)
    assert claimed is not None
    assert services.run_bulk_chunk(job.id, chunk=5) is True  # the worker dies after one chunk
    assert execute(event) == "succeeded"  # the same event delivered again resumes the job
    job.refresh_from_db()
    assert (job.examined, job.acted, job.attempts) == (8, 8, 2)


def test_discard_closes_letters_without_sending_their_events(client: Client, oscar: User,
                                                             letters: dict[str, list[DeadLetter]]) -> None:
    sign_in(client, oscar)
    status, _job = api_bulk(client, {"action": "discard", "task_name": "tests.record_tenant"})
    assert status == 202
    assert run_pending_bulk() == ["succeeded"]
    [letter] = letters["other"]
    letter.refresh_from_db()
    assert letter.discarded_at is not None
    assert letter.discarded_by_id == oscar.id
    assert letter.redriven_at is None
    assert event_status(letter) == "dead"
    assert count_dead_letters(DeadLetterFilter(oscar.tenant_id)) == 7


def test_letters_that_die_after_the_preview_are_left_for_another_look(
        client: Client, oscar: User, letters: dict[str, list[DeadLetter]]) -> None:
    sign_in(client, oscar)
    as_of = client.get("/api/ops/dead-letters/preview").json()["as_of"]
    assert oscar.tenant is not None
    late = dead(oscar.tenant, "late", "TimeoutError: visit 1 took 40 s")
    # The test runs in one transaction, whose now() is its start: date the death after the preview.
    DeadLetter.objects.filter(id=late.id).update(created_at=timezone.now() + timedelta(seconds=1))
    status, job = api_bulk(client, {"action": "redrive", "as_of": as_of})
    assert status == 202
    assert job["matched"] == 8
    run_pending_bulk()
    assert is_open(late)


def test_bad_filters_are_refused_naming_the_field(client: Client, oscar: User,
                                                  letters: dict[str, list[DeadLetter]]) -> None:
    sign_in(client, oscar)
    for body, field in (({"action": "resend"}, "action"), ({"action": "redrive", "fingerprint": "zz"}, "fingerprint"),
                        ({"action": "redrive", "since": "yesterday"}, "since"), ({}, "action")):
        status, answer = api_bulk(client, body)
        assert status in (400, 422), (body, answer)
        assert field in str(answer), (body, answer)
    assert client.get("/api/ops/dead-letters/preview?until=2026-01-01T00:00:00Z&since=2026-02-01T00:00:00Z"
                      ).status_code in (400, 422)
    assert BulkAction.objects.count() == 0
    assert all(is_open(d) for d in letters["timeouts"])


def test_the_read_only_role_previews_but_cannot_act(client: Client, harbor: Tenant,
                                                    letters: dict[str, list[DeadLetter]]) -> None:
    sign_in(client, make_user("vera", harbor, Role.OPS_VIEWER))
    assert client.get("/api/ops/dead-letters/preview").json()["matched"] == 8
    assert api_bulk(client, {"action": "redrive"})[0] == 403
    page = client.get("/ops/dead-letters/bulk/?action=redrive")
    assert page.status_code == 200
    assert b"changes nothing" in page.content
    assert client.post("/ops/dead-letters/bulk/confirm/", {"action": "redrive", "as_of": timezone.now().isoformat()}
                       ).status_code == 403
    assert BulkAction.objects.count() == 0


def test_another_agency_neither_sees_nor_touches_harbors_bulk_actions(
        client: Client, oscar: User, carol: User, letters: dict[str, list[DeadLetter]]) -> None:
    job = services.request_bulk_action("redrive", DeadLetterFilter(oscar.tenant_id), oscar)
    sign_in(client, carol)
    assert client.get(f"/api/ops/bulk-actions/{job.id}").status_code in (403, 404)
    assert client.get(f"/ops/bulk/{job.id}/").status_code in (403, 404)
    # The tenant of the job is the caller's, whatever the event says.
    [event] = pending_tasks("ops.run_bulk_action")
    assert execute(event, tenant_id=carol.tenant_id) == "skipped"
    assert is_open(letters["timeouts"][0])


def test_the_page_previews_then_confirms_then_shows_progress(
        client: Client, oscar: User, letters: dict[str, list[DeadLetter]]) -> None:
    sign_in(client, oscar)
    fingerprint = dead_letter_groups(oscar.tenant_id)[0].fingerprint
    assert f"/ops/dead-letters/bulk/?fingerprint={fingerprint}" in client.get("/ops/").content.decode()
    preview = client.get("/ops/dead-letters/bulk/", {"fingerprint": fingerprint, "action": "redrive"})
    text = preview.content.decode()
    assert 'data-matched="7"' in text
    assert "Redrive 7 dead letters" in text
    as_of = text.split('name="as_of" value="')[1].split('"')[0]
    answer = client.post("/ops/dead-letters/bulk/confirm/",
                         {"fingerprint": fingerprint, "action": "redrive", "as_of": as_of})
    job = BulkAction.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == f"/ops/bulk/{job.id}/"
    assert b"0</span> of <span data-field=\"matched\">7" in client.get(answer["Location"]).content
    run_pending_bulk()
    assert b"succeeded" in client.get(f"/ops/bulk/{job.id}/").content
    assert f"bulk action #{job.id}" in client.get("/ops/").content.decode()


def test_the_page_refuses_a_stale_or_missing_preview(client: Client, oscar: User,
                                                     letters: dict[str, list[DeadLetter]]) -> None:
    sign_in(client, oscar)
    for as_of in ("", (timezone.now() - timedelta(hours=2)).isoformat(), "soon"):
        answer = client.post("/ops/dead-letters/bulk/confirm/", {"action": "redrive", "as_of": as_of})
        assert answer.status_code == 200
    assert BulkAction.objects.count() == 0


def test_platform_staff_act_on_every_tenant_or_one_with_the_command(
        oscar: User, carol: User, letters: dict[str, list[DeadLetter]], capsys: pytest.CaptureFixture[str]) -> None:
    call_command("dead_letters", "count")
    assert "9 open dead letters match" in capsys.readouterr().out
    assert carol.tenant is not None
    call_command("dead_letters", "discard", "--tenant", carol.tenant.slug)
    assert "succeeded: 1 of 1 discarded" in capsys.readouterr().out
    assert not is_open(letters["theirs"][0])
    assert is_open(letters["timeouts"][0])
    call_command("dead_letters", "redrive")
    assert "succeeded: 8 of 8 pending again" in capsys.readouterr().out
    with pytest.raises(CommandError, match="no open dead letter"):
        call_command("dead_letters", "redrive")
    with pytest.raises(CommandError, match="ISO 8601"):
        call_command("dead_letters", "count", "--since", "yesterday")
    assert OpsAction.objects.filter(tenant__isnull=True, action="redrive", count=8).exists()
