"""Learning tasks: thin adapters from outbox events to the task-side write functions.

Each receives ids (the event's payload) plus tenant_id (added by the relay), runs in that
tenant's context (core.platform.tenancy), and commits its effects with the inbox row inside
`self.effects()` (outbox.consumers.OutboxTask), so a duplicate delivery does nothing.
"""

from __future__ import annotations

import structlog
from django.conf import settings

from core.learning import (
    cache,
    digests,
    exports,
    grading,
    media,
    quality,
    reminders,
    reputation,
    review,
    similarity,
    streaks,
)
from core.learning.indexing import sync_search_document
from core.learning.notifications import CAUSES, fan_out
from core.platform.tasks import ferry_task
from outbox.consumers import OutboxTask, PermanentFailure

log = structlog.get_logger(__name__)


def _tenant(tenant_id: int | None) -> int:
    if tenant_id is None:
        raise PermanentFailure("learning events belong to a tenant; this one has none")
    return tenant_id


def _index(task: OutboxTask, tenant_id: int | None, content_id: int) -> str:
    with task.effects():
        outcome = sync_search_document(int(content_id), _tenant(tenant_id))
    cache.evict_not_live(int(content_id))  # after the commit: freshness never depends on it
    log.info("learning.indexed", content_id=content_id, action=outcome.action, version_id=outcome.version_id)
    return str(outcome.action)


@ferry_task(name="learning.index_content", queue="default", soft_time_limit=30, time_limit=45,
            base=OutboxTask, bind=True)
def index_content(self: OutboxTask, tenant_id: int | None, content_id: int, version_id: int | None = None,
                  live_seq: int | None = None) -> str:
    """A content's live version changed (published, unpublished, rolled back): bring its search
    document up to date. version_id/live_seq say what the event saw; the task writes the
    current truth, which is never older (core/learning/indexing.py)."""
    return _index(self, tenant_id, content_id)


@ferry_task(name="learning.reindex_content", queue="batch", soft_time_limit=30, time_limit=45,
            base=OutboxTask, bind=True)
def reindex_content(self: OutboxTask, tenant_id: int | None, content_id: int, gap: str = "",
                    heal_run_id: int | None = None) -> str:
    """heal_search_index found this content's document missing, stale or not live: the same
    work as index_content, on the batch queue so a large repair never delays routine indexing."""
    return _index(self, tenant_id, content_id)


@ferry_task(name="learning.notify", queue="default", soft_time_limit=30, time_limit=45,
            base=OutboxTask, bind=True)
def notify(self: OutboxTask, tenant_id: int | None, source: str, source_id: int) -> int:
    """Fan a review event out as notifications (rows and live events); returns rows written."""
    if source not in CAUSES:
        raise PermanentFailure(f"unknown notification source {source!r}")
    with self.effects():
        rows = fan_out(source, int(source_id), _tenant(tenant_id))
    return len(rows)


# Two retries: someone is waiting, and an error that survives them is a bug, not a blip; the
# heal re-enqueues the submission later anyway (bounded by GRADING_MAX_ATTEMPTS).
@ferry_task(name="learning.grade_submission", queue="interactive",
            soft_time_limit=settings.GRADING_SOFT_TIME_LIMIT_S, time_limit=settings.GRADING_TIME_LIMIT_S,
            base=OutboxTask, bind=True, max_retries=2)
def grade_submission(self: OutboxTask, tenant_id: int | None, submission_id: int) -> str | None:
    """Grade a submission in the sandbox and record the result (core/learning/grading.py).
    Returns the status recorded, or None if there was nothing to grade; a failure is retried
    through the outbox, and the retry resumes the claim."""
    job = grading.GradeSubmission(int(submission_id), _tenant(tenant_id), str(self.request.hostname or ""))
    return self.run_job(job)


@ferry_task(name="learning.check_similarity", queue="batch", soft_time_limit=60, time_limit=90,
            base=OutboxTask, bind=True)
def check_similarity(self: OutboxTask, tenant_id: int | None, submission_id: int) -> int | None:
    """A submission was graded: compare it with the earlier ones of its problem and flag likely
    copies for reviewers (core/learning/similarity.py). Returns the pairs flagged, or None if
    there was nothing to check."""
    with self.effects():
        outcome = similarity.check_submission(int(submission_id), _tenant(tenant_id))
    if outcome is None:
        return None
    log.info("learning.similarity_checked", submission_id=submission_id, fingerprints=outcome.fingerprints,
             compared=outcome.compared, flagged=len(outcome.flags))
    return len(outcome.flags)


# Time for the sandbox's decode and encode of a large image (ImagingLimits.wall_s is 40 s).
@ferry_task(name="learning.make_image_variants", queue="batch", soft_time_limit=90, time_limit=120,
            base=OutboxTask, bind=True)
def make_image_variants(self: OutboxTask, tenant_id: int | None, image_id: int) -> str | None:
    """An author uploaded an image: make its low-bandwidth variants (core/learning/media.py).
    Returns the image's status, or None if there was nothing to do."""
    return self.run_job(media.MakeVariants(int(image_id), _tenant(tenant_id)))


# --- open-content export bundles (core/learning/exports.py, adr/0029) -------------------------------


@ferry_task(name="learning.export_item", queue="batch", soft_time_limit=60, time_limit=90,
            base=OutboxTask, bind=True)
def export_item(self: OutboxTask, tenant_id: int | None, item_id: int) -> bool | None:
    """One lesson or problem of an export bundle: its files, then the item counted (the last
    one queues the assembly). None if there was nothing to do."""
    return self.run_job(exports.MakeItem(int(item_id), _tenant(tenant_id)))


# The hard limit stays under EXPORT_ASSEMBLY_LEASE_S: a delivery past it is dead, and only then
# may another take the bundle over.
@ferry_task(name="learning.assemble_export", queue="batch", soft_time_limit=540, time_limit=600,
            base=OutboxTask, bind=True)
def assemble_export(self: OutboxTask, tenant_id: int | None, bundle_id: int) -> bool | None:
    """Every item of the bundle is made: zip them into the bundle, once."""
    return self.run_job(exports.AssembleBundle(int(bundle_id), _tenant(tenant_id)))


@ferry_task(name="learning.expire_exports", queue="batch", soft_time_limit=240, time_limit=300)
def expire_exports(tenant_id: int | None = None) -> dict[str, int]:
    """Beat, hourly: delete the files of bundles past EXPORT_RETENTION_DAYS; fail the unfinished
    ones past their deadline."""
    return exports.expire_exports()


# --- the nightly search quality score (core/learning/quality.py) ---------------------------------------


@ferry_task(name="learning.plan_quality_scores", queue="batch", soft_time_limit=60, time_limit=90)
def plan_quality_scores(tenant_id: int | None = None) -> int:
    """Beat, nightly: a scoring event per agency with published content; how many agencies."""
    return quality.plan_quality_scores()


@ferry_task(name="learning.score_content_quality", queue="batch", soft_time_limit=240, time_limit=300,
            base=OutboxTask, bind=True)
def score_content_quality(self: OutboxTask, tenant_id: int | None) -> int:
    """Score every published content of one agency; how many."""
    with self.effects():
        return quality.score_agency(_tenant(tenant_id))


# --- digests and reminders (core/learning/digests.py, reminders.py; adr/0019-digests.md) --------


@ferry_task(name="learning.plan_digests", queue="batch", soft_time_limit=240, time_limit=300)
def plan_digests(tenant_id: int | None = None) -> dict[str, int]:
    """Beat, every 15 minutes: a digest and its send event for everyone whose local morning of
    the period has come; re-emit lost send events; settle dead claims."""
    return digests.plan_digests().as_dict()


@ferry_task(name="learning.send_digest", queue="batch", soft_time_limit=60, time_limit=90,
            base=OutboxTask, bind=True)
def send_digest(self: OutboxTask, tenant_id: int | None, digest_id: int) -> str | None:
    """Mail one digest at most once: claim, hand to SMTP, record (core/learning/digests.py).
    Returns the digest's final status, or None if there was nothing to do. The claim's lease is
    this task's hard time limit: past it, its holder is dead."""
    job = digests.SendDigest(int(digest_id), _tenant(tenant_id), lease_s=float(self.time_limit or 90))
    return self.run_job(job)


@ferry_task(name="learning.remind_stale_drafts", queue="batch", soft_time_limit=240, time_limit=300)
def remind_stale_drafts(tenant_id: int | None = None) -> int:
    """Beat, hourly: remind the authors of drafts untouched for STALE_DRAFT_DAYS, once each."""
    return reminders.remind_stale_drafts()


@ferry_task(name="learning.roll_over_streaks", queue="batch", soft_time_limit=240, time_limit=300)
def roll_over_streaks(tenant_id: int | None = None) -> int:
    """Beat, every 15 minutes: reset the streaks that lapsed at their learners' local midnight
    (core/learning/streaks.py); how many."""
    return streaks.roll_over()


@ferry_task(name="learning.recount_reputation", queue="batch", soft_time_limit=60, time_limit=90,
            base=OutboxTask, bind=True)
def recount_reputation(self: OutboxTask, tenant_id: int | None, user_id: int, heal_run_id: int | None = None) -> int:
    """The reputation heal found this person's points off the truth: make them equal and record
    the change (core/learning/reputation.py). Returns the points now."""
    with self.effects():
        done = reputation.recount_and_record(_tenant(tenant_id), int(user_id), heal_run_id)
    return done.after


# --- spaced review (core/learning/review.py, adr/0020-spaced-review.md) -----------------------------


@ferry_task(name="learning.plan_review_queues", queue="batch", soft_time_limit=240, time_limit=300)
def plan_review_queues(tenant_id: int | None = None) -> int:
    """Beat, every 15 minutes: a build event for each agency with learners whose local day has
    begun and whose due queue for it is not built; how many agencies."""
    return review.plan_review_queues()


@ferry_task(name="learning.build_review_queues", queue="batch", soft_time_limit=240, time_limit=300,
            base=OutboxTask, bind=True)
def build_review_queues(self: OutboxTask, tenant_id: int | None) -> int:
    """One batch of an agency's due queues (and the next batch's event while any remain);
    how many learners' queues were built."""
    with self.effects():
        return len(review.build_agency_queues(_tenant(tenant_id)))
