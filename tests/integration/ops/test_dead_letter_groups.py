"""Dead letters grouped by cause, redriven by group, and the operators' action log: Oscar runs
ops at Harbor; Carol's Northside letters share a cause but never a group with Harbor's."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from core.accounts.models import Tenant, User
from core.ops.models import OpsAction
from outbox import delivery
from outbox.emit import emit
from outbox.models import DeadLetter, OutboxEvent
from outbox.selectors import dead_letter_groups
from tests.helpers.outbox import events_of, row_of
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


def dead(tenant: Tenant, key: str, error: str, task: str = "tests.record_effect") -> DeadLetter:
    with transaction.atomic():
        event = emit("test.effect_requested", aggregate_type="test", aggregate_id=key, payload={"key": key},
                     task=task, tenant_id=tenant.pk)
    outbox_id = row_of(event).id
    delivery.kill(outbox_id, error, "Traceback (most recent call last):\n  File \"x.py\", line 3\n" + error)
    return DeadLetter.objects.get(outbox_id=outbox_id)


@pytest.fixture
def letters(oscar: User, carol: User) -> dict[str, list[DeadLetter]]:
    assert oscar.tenant is not None
    assert carol.tenant is not None
    timeouts = [dead(oscar.tenant, f"t{i}", f"TimeoutError: visit {1000 + i} took {30 + i} s for 'HB-{i:04d}'")
                for i in range(3)]
    other = [dead(oscar.tenant, "v1", "ValueError: no such clinician 7")]
    theirs = [dead(carol.tenant, "n1", "TimeoutError: visit 99 took 31 s for 'NS-0001'")]
    return {"timeouts": timeouts, "other": other, "theirs": theirs}


def test_letters_of_one_cause_are_one_group_whatever_their_ids_and_values(
        oscar: User, letters: dict[str, list[DeadLetter]]) -> None:
    groups = dead_letter_groups(oscar.tenant_id)
    assert [(g.exception, g.letters) for g in groups] == [("TimeoutError", 3), ("ValueError", 1)]
    timeout = groups[0]
    assert timeout.message == "visit N took N s for <value>"
    assert timeout.sample.id == letters["timeouts"][-1].id  # the newest
    assert timeout.traceback_tail.startswith("TimeoutError: visit 1002")
    assert timeout.first_seen <= timeout.last_seen


def test_redriving_a_group_sends_that_group_of_this_agency_once_and_records_it(
        client: Client, oscar: User, letters: dict[str, list[DeadLetter]]) -> None:
    sign_in(client, oscar)
    fingerprint = dead_letter_groups(oscar.tenant_id)[0].fingerprint
    page = client.get("/ops/")
    assert f'data-fingerprint="{fingerprint}"' in page.content.decode()
    assert client.post("/ops/dead-letters/redrive/", {"fingerprint": fingerprint}).status_code == 302
    assert client.post("/ops/dead-letters/redrive/", {"fingerprint": fingerprint}).status_code == 302  # again
    assert all(DeadLetter.objects.get(id=d.id).redriven_at for d in letters["timeouts"])
    assert DeadLetter.objects.get(id=letters["other"][0].id).redriven_at is None
    assert DeadLetter.objects.get(id=letters["theirs"][0].id).redriven_at is None  # same cause, other agency
    assert {OutboxEvent.objects.get(id=d.outbox_id).status for d in letters["timeouts"]} == {"pending"}
    (action,) = OpsAction.objects.all()  # the second post found nothing to send: no second record
    assert (action.actor_id, action.action, action.count, action.target) == (
        oscar.id, "redrive", 3, {"fingerprint": fingerprint})
    assert events_of("ops.redriven")[0].payload["requeued"] == 3
    assert "redrove 3 dead letters of one cause" in client.get("/ops/").content.decode()


def test_a_malformed_fingerprint_is_refused_and_an_auditor_cannot_redrive(
        client: Client, oscar: User, audrey: User, letters: dict[str, list[DeadLetter]]) -> None:
    sign_in(client, oscar)
    response = client.post("/ops/dead-letters/redrive/", {"fingerprint": "'; DROP TABLE x; --"}, follow=True)
    assert "does not exist" in response.content.decode()
    auditor = Client()
    sign_in(auditor, audrey)
    fingerprint = dead_letter_groups(oscar.tenant_id)[0].fingerprint
    assert auditor.post("/ops/dead-letters/redrive/", {"fingerprint": fingerprint}).status_code == 403
    assert not OpsAction.objects.exists()
    assert "Operator actions" in auditor.get("/ops/").content.decode()  # she sees the log


def test_a_heal_requested_from_the_page_is_in_the_action_log(client: Client, oscar: User) -> None:
    sign_in(client, oscar)
    client.post("/ops/heal/search_index/", {"dry_run": "1"})
    (action,) = OpsAction.objects.all()
    assert (action.action, action.target["heal"], action.target["dry_run"]) == ("heal", "search_index", True)
