"""Verified heals: a run records the repairs it emitted and, once they ran, the repairs that
took effect (the derived state now matches); final when all did or the verify window passed.
The command's --json, the API and a tenant's share show both."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from core.accounts.models import User
from core.learning.models import SearchDocument, Submission
from core.ops import services
from core.ops.models import HealRun
from core.platform.heals import CONFIRMS
from tests.helpers.learning import published
from tests.helpers.outbox import deliver, events_of, execute
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def missing_documents(bob: User) -> list[int]:
    """Two published Harbor lessons whose documents never reached the index."""
    contents = [published(bob, bob, title=title).content_id for title in ("Hand hygiene", "Wound care")]
    deliver()
    SearchDocument.objects.filter(content_id__in=contents).delete()
    return contents


def heal_json(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("heal", *args, "--json", stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.usefixtures("beat_schedules")
def test_every_heal_can_confirm_its_repairs_and_beat_verifies_every_minute() -> None:
    assert set(CONFIRMS) == {"search_index", "pending_gradings", "reputation"}
    task = PeriodicTask.objects.get(task="ops.verify_heal_runs")
    assert (task.enabled, task.interval.every, task.interval.period, task.queue) == (True, 60, "seconds", "batch")


def test_repairs_are_confirmed_once_they_took_effect(missing_documents: list[int], client: Client,
                                                     oscar: User) -> None:
    run = heal_json("search_index", "--tenant", "harbor")
    assert (run["repaired"], run["confirmed"], run["verified_at"]) == (2, 0, None)  # emitted, not yet run

    [checked] = services.verify_heal_runs()
    assert (checked.confirmed, checked.verified_at) == (0, None)  # the repair events are still pending

    deliver("learning.reindex_content")
    [verified] = services.verify_heal_runs()
    assert (verified.confirmed, verified.by_tenant[str(oscar.tenant_id)]["confirmed"]) == (2, 2)
    assert verified.verified_at is not None
    assert services.verify_heal_runs() == []  # final: not looked at again
    [announced] = events_of("heal.verified")
    assert (announced.payload["repaired"], announced.payload["confirmed"]) == (2, 2)

    sign_in(client, oscar)
    shown = client.get(f"/api/ops/heal-runs/{run['id']}").json()
    assert (shown["repaired"], shown["confirmed"]) == (2, 2)
    assert shown["verified_at"] is not None
    page = client.get("/ops/heal/").content.decode()
    assert '<th class="num" title="Repairs that took effect">Confirmed</th>' in page


def test_a_repair_that_never_took_effect_stays_unconfirmed_when_the_window_ends(
        missing_documents: list[int], settings: object) -> None:
    run = heal_json("search_index")
    first, _lost = events_of("search.repair_requested")
    execute(first)  # one repair runs; the other's message was lost and nothing redelivered it yet
    [checked] = services.verify_heal_runs()
    assert (checked.confirmed, checked.verified_at) == (1, None)

    HealRun.objects.filter(id=run["id"]).update(finished_at=timezone.now() - timedelta(hours=2))
    [final] = services.verify_heal_runs()
    assert (final.repaired, final.confirmed) == (2, 1)
    assert final.verified_at is not None
    assert SearchDocument.objects.filter(content_id__in=missing_documents).count() == 1


def test_the_command_waits_for_the_repairs_when_asked(missing_documents: list[int]) -> None:
    # No worker runs in this test: the wait ends at its limit with nothing confirmed, and says so.
    run = heal_json("search_index", "--confirm", "1")
    assert (run["repaired"], run["confirmed"], run["verified_at"]) == (2, 0, None)
    out = io.StringIO()
    deliver("learning.reindex_content")
    call_command("heal", "search_index", "--confirm", "5", stdout=out)  # nothing left to repair
    assert "repaired 0" in out.getvalue()


def test_a_regrade_is_confirmed_only_when_the_submission_is_graded(bob: User, lena: User) -> None:
    from core.learning import services as learning
    from core.learning.models import Kind

    problem = published(bob, bob, kind=Kind.PROBLEM, title="Add two doses", body="Write add(a, b).")
    submission = learning.submit_solution(problem.content_id, lena, "def add(a, b):\n    return a + b\n")
    Submission.objects.filter(id=submission.id).update(deadline_at=timezone.now() - timedelta(seconds=1))
    with connection.cursor() as cursor:  # every delivery of its grading was lost: the outbox gave up
        cursor.execute("UPDATE outbox_event SET status = 'dead' WHERE task_name = 'learning.grade_submission'")
    run = heal_json("pending_gradings")
    assert (run["repaired"], run["confirmed"]) == (1, 0)
    [checked] = services.verify_heal_runs()
    assert checked.confirmed == 0  # queued again, not graded yet
    Submission.objects.filter(id=submission.id).update(status=Submission.Status.PASSED)  # as the grader records
    [verified] = services.verify_heal_runs()
    assert (verified.confirmed, verified.verified_at is not None) == (1, True)
