"""The learning heals find every gap between the truth and what should have followed from
it, repair each through the outbox, and in a dry run only say what they would do."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from core.accounts.models import User
from core.learning import services
from core.learning.heals import heal_pending_gradings, heal_search_index
from core.learning.models import Content, GradingAttempt, Kind, SearchDocument, Submission
from outbox.models import OutboxEvent
from tests.helpers.learning import document_row, next_approved, published
from tests.helpers.outbox import deliver, events_of

pytestmark = pytest.mark.django_db


def drop_pending_index_events() -> None:
    """As if Redis lost them after the relay marked them relayed."""
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM outbox_event WHERE task_name = 'learning.index_content' AND status = 'pending'")


@pytest.fixture
def gaps(bob: User, carol: User) -> dict[str, int]:
    """Harbor: one content indexed correctly, one never indexed, one indexed at an old version,
    one unpublished but still indexed. Northside: one never indexed."""
    fine = published(bob, bob, title="Fine")
    missing = published(bob, bob, title="Missing")
    stale = published(bob, bob, title="Stale v1")
    gone = published(bob, bob, title="Gone")
    deliver()
    SearchDocument.objects.filter(content_id=missing.content_id).delete()
    newer = next_approved(Content.objects.get(id=stale.content_id), bob, bob, "Stale v2", "newer")
    services.publish_version(newer.id, bob)
    services.unpublish_content(gone.content_id, bob)
    northside = published(carol, carol, title="Northside missing")
    drop_pending_index_events()
    return {"fine": fine.content_id, "missing": missing.content_id, "stale": stale.content_id,
            "gone": gone.content_id, "northside": northside.content_id}


def test_the_search_heal_finds_missing_stale_and_not_live_documents(gaps: dict[str, int], bob: User,
                                                                     carol: User) -> None:
    result = heal_search_index()
    found = {(r.target, r.gap, r.tenant_id) for r in result.repairs}
    assert found == {(f"content:{gaps['missing']}", "missing", bob.tenant_id),
                     (f"content:{gaps['stale']}", "stale", bob.tenant_id),
                     (f"content:{gaps['gone']}", "not_live", bob.tenant_id),
                     (f"content:{gaps['northside']}", "missing", carol.tenant_id)}
    assert result.examined_by_tenant == {bob.tenant_id: 4, carol.tenant_id: 1}
    events = events_of("search.repair_requested")
    assert len(events) == 4
    assert {e.queue for e in events} == {"batch"}
    assert {e.task_name for e in events} == {"learning.reindex_content"}


def test_repairs_bring_the_index_back_to_the_truth(gaps: dict[str, int]) -> None:
    heal_search_index()
    assert deliver("learning.reindex_content") == 4
    assert document_row(gaps["missing"])[2] == "Missing"  # type: ignore[index]
    assert document_row(gaps["stale"])[2] == "Stale v2"  # type: ignore[index]
    assert document_row(gaps["gone"]) is None
    assert heal_search_index().repairs == []


def test_a_dry_run_lists_the_gaps_and_changes_nothing(gaps: dict[str, int]) -> None:
    before = OutboxEvent.objects.count()
    result = heal_search_index(dry_run=True)
    assert len(result.repairs) == 4
    assert OutboxEvent.objects.count() == before
    assert document_row(gaps["missing"]) is None


def test_a_tenant_scoped_heal_repairs_only_that_tenant(gaps: dict[str, int], carol: User) -> None:
    result = heal_search_index(tenant_id=carol.tenant_id)
    assert [r.target for r in result.repairs] == [f"content:{gaps['northside']}"]
    assert {e.tenant_id for e in events_of("search.repair_requested")} == {carol.tenant_id}


# --- pending gradings ------------------------------------------------------------------------------------


@pytest.fixture
def problem_id(bob: User) -> int:
    return published(bob, bob, kind=Kind.PROBLEM, title="Add", body="add(a, b)").content_id


def overdue(*submissions: Submission, event_status: str = "dead") -> None:
    """Past their deadline, with their grading events in `event_status` (by default dead: the
    outbox gave up on them)."""
    ids = [s.id for s in submissions]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE learning_submission SET deadline_at = now() - interval '1 second' WHERE id = ANY(%s)",
                       [ids])
        cursor.execute("UPDATE outbox_event SET status = %s WHERE task_name = 'learning.grade_submission' "
                       "AND aggregate_type = 'submission' AND aggregate_id = ANY(%s)",
                       [event_status, [str(i) for i in ids]])


def test_a_submission_stuck_past_its_deadline_is_enqueued_again(problem_id: int, lena: User) -> None:
    stuck = services.submit_solution(problem_id, lena, "def add(a, b): return a + b")
    waiting = services.submit_solution(problem_id, lena, "def add(a, b): return b + a")
    overdue(stuck)
    result = heal_pending_gradings()
    assert [(r.target, r.gap, r.action) for r in result.repairs] == [(f"submission:{stuck.id}", "stuck_queued",
                                                                       "requeue")]
    assert result.examined == 2
    stuck.refresh_from_db()
    assert (stuck.status, stuck.enqueues) == ("queued", 2)
    [regrade] = events_of("submission.regrade_requested")
    assert (regrade.task_name, regrade.queue, regrade.payload) == ("learning.grade_submission", "interactive",
                                                                    {"submission_id": stuck.id})
    waiting.refresh_from_db()
    assert waiting.enqueues == 1


def test_after_the_last_attempt_a_stuck_submission_errors_with_the_reason(problem_id: int, lena: User) -> None:
    from core.learning import grading

    stuck = services.submit_solution(problem_id, lena, "while True: pass")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE learning_submission SET enqueues = %s WHERE id = %s",
                       [settings.GRADING_MAX_ATTEMPTS, stuck.id])
    claim = grading.start_grading(stuck.id, stuck.tenant_id, "33333333-3333-4333-8333-333333333333")
    assert claim is not None
    overdue(stuck)
    [repair] = heal_pending_gradings().repairs
    assert (repair.gap, repair.action) == ("stuck_running", "error")
    stuck.refresh_from_db()
    assert stuck.status == "error"
    assert stuck.error == (f"grading did not finish within {settings.GRADING_DEADLINE_S} s after each of "
                           f"{settings.GRADING_MAX_ATTEMPTS} attempts")
    assert GradingAttempt.objects.get(submission=stuck).status == "lost"
    [told] = [e for e in events_of("submission.graded") if e.aggregate_id == str(stuck.id)]
    assert told.channel == f"tenant:{lena.tenant_id}:user:{lena.id}:events"
    assert events_of("submission.regrade_requested") == []


def test_a_dry_run_of_the_grading_heal_changes_nothing(problem_id: int, lena: User) -> None:
    stuck = services.submit_solution(problem_id, lena, "x = 1")
    overdue(stuck)
    before = OutboxEvent.objects.count()
    [repair] = heal_pending_gradings(dry_run=True).repairs
    assert (repair.target, repair.action) == (f"submission:{stuck.id}", "requeue")
    stuck.refresh_from_db()
    assert (stuck.status, stuck.enqueues) == ("queued", 1)
    assert OutboxEvent.objects.count() == before


def test_the_grading_heal_can_be_scoped_to_a_tenant(problem_id: int, lena: User, carol: User) -> None:
    stuck = services.submit_solution(problem_id, lena, "x = 1")
    overdue(stuck)
    assert heal_pending_gradings(tenant_id=carol.tenant_id).repairs == []
    stuck.refresh_from_db()
    assert stuck.enqueues == 1


def test_a_relay_backlog_is_not_stuck_but_a_relayed_event_past_the_deadline_is_lost(problem_id: int,
                                                                                     lena: User) -> None:
    """Past the deadline with its event still pending, a submission waits for the relay (a
    second event would only grade it twice); relayed and not completed by then, the message
    was lost."""
    waiting = services.submit_solution(problem_id, lena, "x = 1")
    relayed = services.submit_solution(problem_id, lena, "x = 2")
    overdue(waiting, event_status="pending")
    overdue(relayed, event_status="relayed")
    assert [r.target for r in heal_pending_gradings().repairs] == [f"submission:{relayed.id}"]
