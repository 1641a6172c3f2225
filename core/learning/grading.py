"""Grading a submission, as the learning.grade_submission task does it (grade_submission()).

    start_grading   (own transaction)  claim the submission, open an attempt, tell the learner
    run_sandbox     (no transaction)   the submission's code against the problem's tests, in
                                       the sandbox (core/learning/sandbox, fail closed)
    record_grade    (task's effects()) the result, the attempt, the live event to the learner

The sandbox run holds no transaction and no lock: it takes seconds. A delivery that dies
in the middle leaves the submission `running` with its attempt open; a redelivery of the
same event resumes it (the claim accepts the event that holds it), and otherwise
heal_pending_gradings re-enqueues it after its deadline.

The grader is a port (Grader, below): the sandbox (core/learning/sandbox) in every process,
a fake in tests of this plumbing, chosen by the LEARNING_GRADER setting. The sandbox
refusing to run is one of two things (its SandboxUnavailable says which, by `permanent`):
this machine offers no isolation at all (permanent: the submission errors with the reason,
and nothing is retried: fail closed), or one run failed to start (not permanent: the
delivery fails and the outbox retries it with a backoff; if every retry fails the event is
dead-lettered, and heal_pending_gradings takes the submission over after its deadline).
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from core.learning import queries, reputation, streaks
from core.learning.models import GradingAttempt, Submission
from core.learning.sandbox import GradeReport, Sandbox, SandboxHost, SandboxLimits, SandboxUnavailable
from core.platform.channels import user_channel
from outbox import jobs
from outbox.emit import emit

log = structlog.get_logger(__name__)

# Stored per test and per attempt; the sandbox already bounds what it captures (SANDBOX_OUTPUT_KB).
TEST_OUTPUT_MAX = 4_000
ATTEMPT_OUTPUT_MAX = 16_000


class Grader(Protocol):
    """Grades one submission: a GradeReport for anything the code does; SandboxUnavailable
    (permanent or not) when nothing ran."""

    def grade(self, source: str, tests: str) -> GradeReport: ...


def sandbox_host() -> SandboxHost:
    """This machine's sandbox as the SANDBOX_* settings describe it; the project checkout and
    the virtualenv running this process must be invisible inside."""
    hidden = [Path(settings.BASE_DIR).resolve()]
    if sys.prefix != sys.base_prefix:
        hidden.append(Path(sys.prefix).resolve())
    return SandboxHost(bwrap=settings.SANDBOX_BWRAP, python=settings.SANDBOX_PYTHON, user=settings.SANDBOX_USER,
                       hidden=tuple(hidden))


def sandbox_limits() -> SandboxLimits:
    """The limits of one grading run, from the SANDBOX_* settings."""
    return SandboxLimits(cpu_s=settings.SANDBOX_CPU_S, wall_s=settings.SANDBOX_WALL_S,
                         memory_mb=settings.SANDBOX_MEMORY_MB, processes=settings.SANDBOX_PROCESSES,
                         file_size_mb=settings.SANDBOX_FILE_SIZE_MB, output_kb=settings.SANDBOX_OUTPUT_KB,
                         tmp_mb=settings.SANDBOX_TMP_MB)


def sandbox_grader() -> Grader:
    """The grader every Ferry process uses (LEARNING_GRADER's default)."""
    return Sandbox(sandbox_host(), sandbox_limits())


def configured_grader() -> Grader:
    """The grader LEARNING_GRADER names (a dotted path to a function returning one). One that
    cannot be loaded refuses grading, like a machine without isolation (fail closed)."""
    try:
        factory = import_string(settings.LEARNING_GRADER)
    except ImportError as exc:
        raise GradingRefused(f"Grading refused: the grader cannot be loaded ({exc}).") from None
    grader: Grader = factory()
    return grader


class GradingRefused(Exception):
    """No isolation is available: grading must not run the code (fail closed), now or on a retry."""


class GradingUnavailable(Exception):
    """The sandbox could not start this run (a transient failure): the delivery is retried."""


@dataclass(frozen=True)
class GradingClaim:
    """A submission this delivery now grades, as attempt number `attempt`."""

    submission_id: int
    tenant_id: int
    learner_id: int
    problem_id: int
    attempt: int
    source: str
    tests: str


def _truncate(text: str, limit: int) -> str:
    text = text or ""
    return text if len(text) <= limit else text[:limit] + f"\n… [{len(text) - limit} more characters]"


@transaction.atomic(durable=True)
def start_grading(submission_id: int, tenant_id: int, event_id: uuid.UUID | str | None,
                  worker: str = "") -> GradingClaim | None:
    """Claim a queued submission (or the running one this event already holds) and open its
    attempt; None if there is nothing to grade (finished, or held by another delivery)."""
    attempt = jobs.claim(queries.SUBMISSIONS, submission_id, tenant_id, str(event_id) if event_id else None,
                         settings.GRADING_DEADLINE_S)
    if attempt is None:
        return None
    now = timezone.now()
    # A previous attempt of the same delivery that never reported (its worker died) is lost.
    GradingAttempt.objects.filter(submission_id=submission_id, status=GradingAttempt.Status.RUNNING).update(
        status=GradingAttempt.Status.LOST, finished_at=now, error=f"superseded by attempt {attempt}")
    GradingAttempt.objects.create(submission_id=submission_id, number=attempt, started_at=now, worker=worker[:200])
    submission = Submission.objects.select_related("version").get(id=submission_id)
    emit("submission.grading_started", aggregate_type="submission", aggregate_id=submission_id,
         channel=user_channel(tenant_id, submission.learner_id), tenant_id=tenant_id,
         payload={"submission_id": submission_id, "problem_id": submission.problem_id, "attempt": attempt,
                  "status": Submission.Status.RUNNING})
    return GradingClaim(submission_id=submission_id, tenant_id=tenant_id, learner_id=submission.learner_id,
                        problem_id=submission.problem_id, attempt=attempt, source=submission.source,
                        tests=submission.version.tests)


def run_sandbox(claim: GradingClaim, grader: Grader) -> GradeReport:
    """Run the claimed submission against its tests with `grader`. Raises GradingRefused when
    no isolation is possible: never runs code unconfined. Raises GradingUnavailable when this
    run could not start (worth a retry).
    Must not be called inside a transaction: it takes up to SANDBOX_WALL_S seconds."""
    if connection.in_atomic_block:
        raise RuntimeError("the sandbox run must not hold a transaction open")
    try:
        return grader.grade(claim.source, claim.tests)
    except SandboxUnavailable as exc:
        if exc.permanent:
            raise GradingRefused(str(exc) or "Grading refused: no isolation is available.") from None
        raise GradingUnavailable(str(exc) or "the sandbox did not start") from exc


def _test_rows(report: GradeReport) -> list[dict[str, Any]]:
    return [{"name": str(t.name), "status": str(t.status), "duration_ms": int(t.duration_ms or 0),
             "reason": str(getattr(t, "reason", "") or ""), "output": _truncate(str(t.output or ""), TEST_OUTPUT_MAX)}
            for t in report.tests]


def _status_of(report: GradeReport) -> str:
    status = str(report.status)
    return status if status in Submission.Status.values and status not in Submission.PENDING else "error"


def record_grade(claim: GradingClaim, report: GradeReport) -> bool:
    """Record the sandbox's report on the attempt, and on the submission if this attempt is
    still its current one (a heal may have moved on meanwhile); then tell the learner.
    Runs inside the task's effects() transaction. Returns True if the submission took it."""
    tests = _test_rows(report)
    status = _status_of(report)
    summary = {"passed": sum(t["status"] == "passed" for t in tests), "total": len(tests),
               "tests": [{"name": t["name"], "status": t["status"]} for t in tests]}
    error = _truncate(str(report.output or ""), 2_000) if status == "error" else ""
    return _finish(claim, status, int(report.duration_ms or 0), summary, error, tests,
                   output=str(report.output or ""), isolation=str(report.isolation or ""))


def record_refusal(claim: GradingClaim, reason: str) -> bool:
    """Grading refused to run (no isolation): the submission errors with the reason, no retry."""
    return _finish(claim, Submission.Status.ERROR, 0, {"passed": 0, "total": 0, "tests": []},
                   reason, [], output="", isolation="none")


def _finish(claim: GradingClaim, status: str, duration_ms: int, summary: dict[str, Any], error: str,
            tests: list[dict[str, Any]], *, output: str, isolation: str) -> bool:
    if connection.get_autocommit():
        raise RuntimeError("grading results are recorded inside the task's effects() transaction")
    now = timezone.now()
    GradingAttempt.objects.filter(submission_id=claim.submission_id, number=claim.attempt).update(
        status=status, finished_at=now, duration_ms=duration_ms, tests=tests,
        output=_truncate(output, ATTEMPT_OUTPUT_MAX), isolation=isolation[:100], error=error)
    taken = Submission.objects.filter(
        id=claim.submission_id, status=Submission.Status.RUNNING, attempts=claim.attempt,
    ).update(status=status, finished_at=now, duration_ms=duration_ms, summary=summary, error=error,
             claimed_event=None)
    if taken:
        emit("submission.graded", aggregate_type="submission", aggregate_id=claim.submission_id,
             channel=user_channel(claim.tenant_id, claim.learner_id), tenant_id=claim.tenant_id,
             payload={"submission_id": claim.submission_id, "problem_id": claim.problem_id, "status": status,
                      "attempt": claim.attempt, "duration_ms": duration_ms, "passed": summary["passed"],
                      "total": summary["total"], "error": error[:300]})
        if status in (Submission.Status.PASSED, Submission.Status.FAILED):  # graded: a day of practice
            submitted_at = Submission.objects.values_list("created_at", flat=True).get(id=claim.submission_id)
            streaks.record_activity(claim.tenant_id, claim.learner_id, submitted_at)
            emit("similarity.check_requested", aggregate_type="submission", aggregate_id=claim.submission_id,
                 task="learning.check_similarity", tenant_id=claim.tenant_id,
                 payload={"submission_id": claim.submission_id})
        if status == Submission.Status.PASSED:
            reputation.solution_accepted(claim.tenant_id, claim.learner_id, claim.problem_id)
    return bool(taken)


@transaction.atomic(durable=True)
def record_unavailable(claim: GradingClaim, reason: str) -> None:
    """The sandbox could not start this attempt: the attempt errors with the reason (the
    submission stays running, held by its event, whose retry opens the next attempt)."""
    GradingAttempt.objects.filter(submission_id=claim.submission_id, number=claim.attempt,
                                  status=GradingAttempt.Status.RUNNING).update(
        status=GradingAttempt.Status.ERROR, finished_at=timezone.now(), isolation="none",
        error=_truncate(f"the sandbox did not start; retrying: {reason}", 2_000))


@dataclass(frozen=True)
class GradeSubmission:
    """Grading one submission as a long-running consumer (outbox/jobs.py): claim it, run the
    grader outside any transaction, record the result with the event's completion.

    No isolation on this machine is a result, not a failure: the submission errors with the
    reason (recorded like a grade) and nothing is retried. A run that did not start
    (GradingUnavailable) is noted on its attempt and the delivery retried; any other failure
    is retried too, and the retry resumes the claim.
    """

    submission_id: int
    tenant_id: int
    worker: str = ""

    def claim(self, event_id: str | None) -> GradingClaim | None:
        claim = start_grading(self.submission_id, self.tenant_id, event_id, worker=self.worker)
        if claim is None:
            log.info("learning.grading_skipped", submission_id=self.submission_id, reason="not queued for this event")
        return claim

    def work(self, claim: GradingClaim) -> GradeReport | GradingRefused:
        try:
            return run_sandbox(claim, configured_grader())
        except GradingRefused as refusal:
            log.error("learning.grading_refused", submission_id=self.submission_id, reason=str(refusal))
            return refusal

    def record(self, claim: GradingClaim, result: GradeReport | GradingRefused) -> str:
        if isinstance(result, GradingRefused):
            record_refusal(claim, str(result))
            return Submission.Status.ERROR.value
        record_grade(claim, result)
        log.info("learning.graded", submission_id=self.submission_id, status=result.status, attempt=claim.attempt)
        return str(result.status)

    def failed(self, claim: GradingClaim, error: BaseException, final: bool) -> None:
        if isinstance(error, GradingUnavailable):
            log.warning("learning.sandbox_did_not_start", submission_id=self.submission_id, reason=str(error))
            record_unavailable(claim, str(error))
