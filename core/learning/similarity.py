"""Similarity checks of graded submissions, and the reviewer's decision on a flagged pair
(adr/0027-similarity-checks.md).

Grading a submission (passed or failed) emits `learning.check_similarity` on the batch queue.
The check, inside the task's effects() transaction:

1. fingerprints the source (core/learning/fingerprints.py: normalised tokens, winnowing);
2. looks its fingerprints up in the problem's index (queries.SIMILAR_SUBMISSIONS): earlier
   submissions of other learners of the same agency sharing telling fingerprints;
3. flags each pair whose shared fingerprints reach SIMILARITY_THRESHOLD of the smaller one's,
   with the matching line ranges of both, for reviewers;
4. adds its own fingerprints to the index and records the check.

Checks of one problem take turns (a transaction-scoped advisory lock): two submissions checked
at once would otherwise miss each other, each looking the other up before it was indexed.
The lock is held for milliseconds; checks of different problems run in parallel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.accounts.access import get_for_tenant
from core.accounts.models import User
from core.learning import fingerprints, queries
from core.learning.channels import reviewers_channel
from core.learning.models import SimilarityCheck, SimilarityFlag, Submission, SubmissionFingerprint
from core.platform.errors import Conflict, Invalid
from outbox.emit import emit

# Pairs one check flags at most: a submission copied by a whole class is flagged with the
# closest 20, which is enough for a reviewer to act.
MAX_FLAGS_PER_CHECK = 20
GRADED = (Submission.Status.PASSED, Submission.Status.FAILED)
# The advisory-lock namespace of similarity checks (pg_advisory_xact_lock(namespace, problem)).
LOCK_NAMESPACE = 27


@dataclass(frozen=True)
class CheckOutcome:
    fingerprints: int  # distinct fingerprints of the submission
    compared: int  # earlier submissions that shared enough to be scored
    flags: list[int] = field(default_factory=list)  # SimilarityFlag ids written


@dataclass(frozen=True)
class Candidate:
    submission_id: int
    shared: frozenset[int]
    fingerprints: int  # the other submission's, all of them
    telling: int  # this submission's fingerprints that are not boilerplate


def score(shared: int, mine: int, theirs: int) -> float:
    """The share of the smaller submission's fingerprints that the pair shares. The check
    counts only this submission's telling fingerprints (`mine`): boilerplate shared with
    everyone would otherwise dilute a copy's score."""
    return shared / max(1, min(mine, theirs))


def _candidates(submission: Submission, hashes: list[int]) -> list[Candidate]:
    with connection.cursor() as cursor:
        cursor.execute(queries.SIMILAR_SUBMISSIONS, {
            "hashes": hashes, "problem_id": submission.problem_id, "tenant_id": submission.tenant_id,
            "submission_id": submission.id, "learner_id": submission.learner_id,
            "common": settings.SIMILARITY_COMMON, "min_shared": settings.SIMILARITY_MIN_SHARED,
            "limit": MAX_FLAGS_PER_CHECK * 5})
        return [Candidate(row[0], frozenset(row[1]), row[2], row[3]) for row in cursor.fetchall()]


def _regions_of(submission_id: int, shared: frozenset[int]) -> list[list[int]]:
    stored = SubmissionFingerprint.objects.filter(submission_id=submission_id, hash__in=shared)
    prints = [fingerprints.Fingerprint(f.hash, f.first_line, f.last_line) for f in stored]
    return [list(span) for span in fingerprints.lines_matching(prints, set(shared))]


def _flag(submission: Submission, prints: list[fingerprints.Fingerprint], candidate: Candidate,
          value: float) -> SimilarityFlag:
    regions = {"submission": [list(span) for span in fingerprints.lines_matching(prints, set(candidate.shared))],
               "other": _regions_of(candidate.submission_id, candidate.shared)}
    return SimilarityFlag(tenant_id=submission.tenant_id, problem_id=submission.problem_id,
                          submission_id=submission.id, other_id=candidate.submission_id, score=round(value, 4),
                          shared=len(candidate.shared), regions=regions)


def check_submission(submission_id: int, tenant_id: int) -> CheckOutcome | None:
    """Check one graded submission against the earlier ones of its problem (see the module's
    docstring). Runs inside the task's effects() transaction. None if there is nothing to do:
    not graded (still pending, or errored), or checked already."""
    if connection.get_autocommit():
        raise RuntimeError("a similarity check runs inside the task's effects() transaction")
    submission = Submission.objects.filter(id=submission_id, tenant_id=tenant_id, status__in=GRADED).first()
    if submission is None:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [LOCK_NAMESPACE, submission.problem_id])
    if SimilarityCheck.objects.filter(submission_id=submission_id).exists():
        return None
    prints = fingerprints.fingerprint(submission.source)
    hashes = sorted({p.hash for p in prints})
    candidates = _candidates(submission, hashes)
    flags = [_flag(submission, prints, c, value) for c in candidates
             if (value := score(len(c.shared), c.telling, c.fingerprints)) >= settings.SIMILARITY_THRESHOLD]
    flags = sorted(flags, key=lambda f: -f.score)[:MAX_FLAGS_PER_CHECK]
    SimilarityFlag.objects.bulk_create(flags)
    SubmissionFingerprint.objects.bulk_create(
        SubmissionFingerprint(tenant_id=tenant_id, problem_id=submission.problem_id, submission_id=submission_id,
                              learner_id=submission.learner_id, hash=p.hash, first_line=p.first_line,
                              last_line=p.last_line) for p in prints)
    SimilarityCheck.objects.create(submission_id=submission_id, tenant_id=tenant_id, problem_id=submission.problem_id,
                                   fingerprints=len(hashes), compared=len(candidates), flagged=len(flags))
    for flag in flags:
        emit("similarity.flagged", aggregate_type="submission", aggregate_id=submission_id,
             channel=reviewers_channel(tenant_id), tenant_id=tenant_id,
             payload={"flag_id": flag.id, "problem_id": submission.problem_id, "submission_id": submission_id,
                      "other_id": flag.other_id, "score": flag.score})
    return CheckOutcome(fingerprints=len(hashes), compared=len(candidates), flags=[f.id for f in flags])


@transaction.atomic(durable=True)
def decide_flag(flag_id: int, actor: User, decision: object) -> SimilarityFlag:
    """A reviewer's decision on a flagged pair: `confirmed` (copied) or `dismissed`. Another
    agency's flag is NotFound; a decided one is a Conflict (decisions are not changed)."""
    if decision not in (SimilarityFlag.Decision.CONFIRMED, SimilarityFlag.Decision.DISMISSED):
        raise Invalid("decision must be 'confirmed' or 'dismissed'", field="decision")
    assert actor.tenant_id is not None
    flag = get_for_tenant(SimilarityFlag.objects.select_for_update(), actor.tenant_id, flag_id, "flag")
    if flag.decision != SimilarityFlag.Decision.OPEN:
        raise Conflict(f"this pair was already {flag.decision}", field="decision")
    flag.decision, flag.decided_by, flag.decided_at = str(decision), actor, timezone.now()
    flag.save(update_fields=["decision", "decided_by", "decided_at"])
    emit("similarity.decided", aggregate_type="submission", aggregate_id=flag.submission_id,
         channel=reviewers_channel(flag.tenant_id), tenant_id=flag.tenant_id, actor_id=actor.id,
         payload={"flag_id": flag.id, "decision": flag.decision, "other_id": flag.other_id})
    return flag
