"""The grading task's plumbing: claim, attempt records, result and live event, fail-closed
refusal, redelivery and stragglers.

The grader is replaced here by a fake (tests/support/graders.py), so these tests pin down only
what the task does around it; grading with the real sandbox is end-to-end
(tests/e2e/test_learning_flow.py), and the sandbox's own hostile tests live with it.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from core.accounts.models import User
from core.learning import grading, services, streaks
from core.learning.models import Content, GradingAttempt, Kind, Submission
from core.learning.sandbox import SandboxUnavailable
from outbox.models import DeadLetter, OutboxEvent
from tests.helpers.learning import published
from tests.helpers.outbox import events_of, execute, pending_tasks
from tests.support.graders import FakeGrader, report

pytestmark = pytest.mark.usefixtures("outbox_db")


@pytest.fixture
def submission(bob: User, lena: User) -> Submission:
    version = published(bob, bob, kind=Kind.PROBLEM, title="Add two doses", body="Write add(a, b).")
    return services.submit_solution(version.content_id, lena, "def add(a, b):\n    return a + b\n")


def grade_event() -> OutboxEvent:
    [event] = pending_tasks("learning.grade_submission")
    return event


def test_a_graded_submission_records_its_attempt_and_tells_the_learner_live(
        grader: FakeGrader, submission: Submission, lena: User) -> None:
    grader.report = report("failed", ("test_adds", "passed", ""), ("test_negative", "failed", "assert -1 == 1"))
    assert execute(grade_event()) == "failed"
    submission.refresh_from_db()
    assert (submission.status, submission.attempts, submission.duration_ms) == ("failed", 1, 12)
    assert submission.summary == {"passed": 1, "total": 2, "tests": [
        {"name": "test_adds", "status": "passed"}, {"name": "test_negative", "status": "failed"}]}
    attempt = GradingAttempt.objects.get(submission=submission)
    assert (attempt.number, attempt.status, attempt.isolation) == (1, "failed", "fake")
    assert attempt.tests[1]["output"] == "assert -1 == 1"
    assert attempt.finished_at is not None
    assert grader.calls == [(submission.source, submission.version.tests)]
    [started] = events_of("submission.grading_started")
    [graded] = events_of("submission.graded")
    channel = f"tenant:{lena.tenant_id}:user:{lena.id}:events"
    assert started.channel == channel
    assert graded.channel == channel
    assert graded.payload["status"] == "failed"
    assert (graded.payload["passed"], graded.payload["total"]) == (1, 2)


def test_no_isolation_means_the_submission_errors_with_the_reason_and_is_not_retried(
        grader: FakeGrader, submission: Submission) -> None:
    grader.raises = SandboxUnavailable("Grading refused: no sandbox is available (no bwrap).", permanent=True)
    event = grade_event()
    assert execute(event) == "error"
    submission.refresh_from_db()
    assert submission.status == "error"
    assert submission.error == "Grading refused: no sandbox is available (no bwrap)."
    assert OutboxEvent.objects.get(id=event.id).status == "completed"  # no retry loop
    assert not DeadLetter.objects.exists()
    assert events_of("submission.graded")[0].payload["status"] == "error"


def test_a_grader_that_cannot_be_loaded_fails_closed(settings: Any, submission: Submission) -> None:
    settings.LEARNING_GRADER = "core.learning.no_such_sandbox.grader"
    assert execute(grade_event()) == "error"
    submission.refresh_from_db()
    assert submission.status == "error"
    assert "the grader cannot be loaded" in submission.error


def test_a_run_that_did_not_start_is_retried_by_its_event_and_then_graded(
        grader: FakeGrader, submission: Submission) -> None:
    grader.raises = SandboxUnavailable("the sandbox did not start: exit status 1", permanent=False)
    event = grade_event()
    execute(event)
    submission.refresh_from_db()
    assert submission.status == "running"  # held by its event, whose retry opens the next attempt
    attempt = GradingAttempt.objects.get(submission=submission)
    assert (attempt.status, attempt.isolation) == ("error", "none")
    assert "the sandbox did not start" in attempt.error
    assert OutboxEvent.objects.get(id=event.id).status == "pending"  # rescheduled with a backoff
    grader.raises = None
    assert execute(OutboxEvent.objects.get(id=event.id)) == "passed"
    assert list(submission.grading_attempts.values_list("number", "status")) == [(1, "error"), (2, "passed")]


def test_an_unexpected_failure_is_retried_by_the_same_event_which_resumes_the_claim(
        grader: FakeGrader, submission: Submission) -> None:
    grader.raises = RuntimeError("worker blew up")
    event = grade_event()
    execute(event)
    submission.refresh_from_db()
    assert (submission.status, str(submission.claimed_event)) == ("running", str(event.event_id))
    assert OutboxEvent.objects.get(id=event.id).status == "pending"  # rescheduled with a backoff
    grader.raises = None
    assert execute(OutboxEvent.objects.get(id=event.id)) == "passed"
    submission.refresh_from_db()
    assert (submission.status, submission.attempts) == ("passed", 2)
    assert list(submission.grading_attempts.values_list("number", "status")) == [(1, "lost"), (2, "passed")]


def test_another_event_for_a_running_submission_does_nothing(grader: FakeGrader, submission: Submission) -> None:
    assert grading.start_grading(submission.id, submission.tenant_id, "11111111-1111-4111-8111-111111111111")
    assert execute(grade_event()) is None
    assert grader.calls == []
    submission.refresh_from_db()
    assert (submission.status, submission.attempts) == ("running", 1)


def test_a_straggling_result_does_not_overwrite_a_newer_attempt(grader: FakeGrader,
                                                                  submission: Submission) -> None:
    from django.db import transaction

    old = grading.start_grading(submission.id, submission.tenant_id, "11111111-1111-4111-8111-111111111111")
    assert old is not None
    with connection.cursor() as cursor:  # the heal re-enqueued it meanwhile, and a new run started
        cursor.execute("UPDATE learning_submission SET status = 'queued', claimed_event = NULL WHERE id = %s",
                       [submission.id])
    new = grading.start_grading(submission.id, submission.tenant_id, "22222222-2222-4222-8222-222222222222")
    assert new is not None
    assert new.attempt == 2
    with transaction.atomic():
        assert grading.record_grade(old, report("failed")) is False
    submission.refresh_from_db()
    assert (submission.status, submission.attempts) == ("running", 2)


def test_the_grading_task_uses_the_interactive_queue_and_limits_below_the_heal_deadline() -> None:
    from django.conf import settings

    from core.learning.tasks import grade_submission
    from core.platform.tasks import queue_of

    assert queue_of("learning.grade_submission") == "interactive"
    assert settings.SANDBOX_WALL_S < grade_submission.soft_time_limit < grade_submission.time_limit
    assert grade_submission.time_limit < settings.GRADING_DEADLINE_S


def test_grading_runs_against_the_version_that_was_live_when_submitted(
        grader: FakeGrader, bob: User, submission: Submission) -> None:
    from tests.helpers.learning import next_approved

    content = Content.objects.get(id=submission.problem_id)
    newer = next_approved(content, bob, bob, "Add two doses", "v2",
                          tests="import solution\n\ndef test_other():\n    assert solution.add(2, 2) == 4\n")
    services.publish_version(newer.id, bob)
    execute(grade_event())
    assert grader.calls[0][1] == submission.version.tests


def test_a_graded_submission_counts_a_streak_day_for_the_day_it_was_submitted(
        grader: FakeGrader, submission: Submission, lena: User) -> None:
    grader.report = report("passed", ("test_adds", "passed", ""))
    assert execute(grade_event()) == "passed"
    view = streaks.current_streak(lena.id)
    assert view.current == 1
    assert view.last_active_day == submission.created_at.astimezone(lena.zone).date()
