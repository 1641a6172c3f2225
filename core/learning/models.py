"""Learning: lessons and problems with immutable versions, reviews, notifications,
graded submissions, and the search index (derived data that only tasks write, ADR 0010).

Rows change only through the write functions in core/learning/services.py (request side)
and core/learning/indexing.py / grading.py / notifications.py (task side).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex, GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.accounts.models import Tenant


class Kind(models.TextChoices):
    LESSON = "lesson"
    PROBLEM = "problem"


class Content(models.Model):
    """A lesson or a problem: the stable identity its versions share.

    `live_version` is what learners see (NULL: not published). `live_seq` counts the
    changes of the live version (publish, unpublish, rollback); it orders index events,
    because after a rollback "newer" no longer means "higher version number" (ADR 0010).
    """

    # Indexed by learning_content_tenant_kind (tenant first), not by an index of its own.
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    # The composite FK (id, live_version_id) -> version (content_id, id) added by migration 0001
    # makes "the live version belongs to this content" a database fact.
    live_version = models.ForeignKey("Version", null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    live_seq = models.IntegerField(default=0)
    live_changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "kind"], name="learning_content_tenant_kind")]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"


class Version(models.Model):
    """One immutable version of a content: its title, Markdown body and (problems) tests.

    Only the review fields change after creation (a trigger of migration 0001 refuses any
    update of the content fields); a correction is a new version. The body is rendered once,
    when the version is written (core/learning/rendering.py): `body_html` (sanitised, for
    pages and the API) and `body_text` (for the search index) are derived from `body`, and
    change only when a data migration re-renders every version for a new RENDER_REVISION.
    """

    class Status(models.TextChoices):
        DRAFT = "draft"
        IN_REVIEW = "in_review"
        CHANGES_REQUESTED = "changes_requested"
        APPROVED = "approved"
        REJECTED = "rejected"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    # Indexed by the unique constraints below (content first), not by an index of its own.
    content = models.ForeignKey(Content, on_delete=models.PROTECT, related_name="versions", db_index=False)
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField()
    body_html = models.TextField(blank=True, default="")
    body_text = models.TextField(blank=True, default="")
    render_revision = models.PositiveSmallIntegerField(default=0)
    tests = models.TextField(blank=True, help_text="Python test_* functions; the learner's code is module `solution`")
    # Lessons' spaced-review questions, part of the version (immutable like the body: migration
    # 0009 extends the trigger to this column; adr/0020). A JSON list (core/learning/review_items.py).
    review_items = models.JSONField(default=list, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    first_published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["content", "number"], name="learning_version_number"),
            # Target of the composite FK from learning_content (id, live_version_id).
            models.UniqueConstraint(fields=["content", "id"], name="learning_version_content_id"),
        ]
        indexes = [models.Index(fields=["tenant", "status"], name="learning_version_tenant_status"),
                   # The stale-draft reminders' scan (core/learning/reminders.py): drafts by age.
                   models.Index(fields=["created_at"], condition=Q(status="draft"), name="learning_version_drafts")]
        ordering = ["content_id", "-number"]

    def __str__(self) -> str:
        return f"{self.title} (v{self.number})"


class Review(models.Model):
    """A reviewer's decision on a version in review, with its comment."""

    class Decision(models.TextChoices):
        APPROVE = "approve"
        REJECT = "reject"
        REQUEST_CHANGES = "request_changes"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=20, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.decision} on version {self.version_id}"


class Reply(models.Model):
    """A reply in the discussion under a review decision."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "replies"

    def __str__(self) -> str:
        return f"reply {self.pk} to review {self.review_id}"


class Notification(models.Model):
    """One notice for one recipient, written by the learning.notify task.

    `source` names what caused it ("review:12", "reply:7", "version:3"); one row per
    (recipient, source), so a replayed fan-out writes nothing twice.
    """

    class Reason(models.TextChoices):
        SUBMITTED = "submitted"
        DECISION = "decision"
        REPLY = "reply"
        MENTION = "mention"
        STALE_DRAFT = "stale_draft"  # the author's own draft, untouched for STALE_DRAFT_DAYS

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    # Indexed by learning_notification_inbox and learning_notification_once (recipient first).
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                  db_index=False)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    source = models.CharField(max_length=40)
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="+")
    message = models.CharField(max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["recipient", "source"], name="learning_notification_once")]
        indexes = [models.Index(fields=["recipient", "-created_at"], name="learning_notification_inbox"),
                   BrinIndex(fields=["created_at"], name="learning_notification_created")]  # retention
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.message


class Submission(models.Model):
    """A learner's code for a problem, graded against the version that was live when it came in.

    `enqueues` counts grading requests (the first, plus each heal re-enqueue; bounded by
    GRADING_MAX_ATTEMPTS); `attempts` counts grading runs that started. `deadline_at` is
    when heal_pending_gradings may consider it stuck. `claimed_event` is the outbox event
    whose delivery holds the running grade, so a redelivery of that same event may resume.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        PASSED = "passed"
        FAILED = "failed"
        ERROR = "error"
        TIMED_OUT = "timed_out"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    problem = models.ForeignKey(Content, on_delete=models.PROTECT, related_name="submissions")
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="+")
    # Indexed by learning_submission_learner (learner first).
    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                db_index=False)
    source = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(default=timezone.now)
    deadline_at = models.DateTimeField()
    enqueues = models.IntegerField(default=1)
    attempts = models.IntegerField(default=0)
    claimed_event = models.UUIDField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.IntegerField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    PENDING = (Status.QUEUED, Status.RUNNING)

    class Meta:
        indexes = [
            models.Index(fields=["learner", "problem", "-created_at"], name="learning_submission_learner"),
            # The heal's scan: only unfinished submissions, by deadline.
            models.Index(fields=["deadline_at"], condition=Q(status__in=["queued", "running"]),
                         name="learning_submission_pending"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"submission {self.pk} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status not in self.PENDING


class GradingAttempt(models.Model):
    """One run of the grader for a submission: outcome, per-test output, duration."""

    class Status(models.TextChoices):
        RUNNING = "running"
        PASSED = "passed"
        FAILED = "failed"
        ERROR = "error"
        TIMED_OUT = "timed_out"
        LOST = "lost"  # the run never reported (worker killed, deadline passed)

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="grading_attempts")
    number = models.IntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.IntegerField(null=True, blank=True)
    tests = models.JSONField(default=list, blank=True)
    output = models.TextField(blank=True)
    isolation = models.CharField(max_length=100, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["submission", "number"], name="learning_attempt_number")]
        ordering = ["submission_id", "number"]

    def __str__(self) -> str:
        return f"attempt {self.number} of submission {self.submission_id}: {self.status}"


class SearchDocument(models.Model):
    """The search index: one row per live content, at its live version (ADR 0010).

    Derived data written only by tasks (core/learning/indexing.py). Plain columns rather
    than foreign keys: the index never blocks a change of the truth, and heal_search_index
    finds rows that no longer match it. `document` is computed by PostgreSQL.
    """

    content_id = models.BigIntegerField(primary_key=True)
    tenant_id = models.BigIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    version_id = models.BigIntegerField()
    version_number = models.IntegerField()
    live_seq = models.IntegerField()
    title = models.CharField(max_length=200)
    body_text = models.TextField()
    # The RENDER_REVISION of body_text (core/learning/rendering.py): a document of an older
    # rendering is stale, and heal_search_index rewrites it.
    render_revision = models.PositiveSmallIntegerField(default=0)
    document = models.GeneratedField(
        expression=SearchVector("title", weight="A", config="english")
        + SearchVector("body_text", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )
    indexed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            GinIndex(fields=["document"], name="learning_searchdoc_document"),
            models.Index(fields=["tenant_id"], name="learning_searchdoc_tenant"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.content_id} at version {self.version_id}"


# --- digests and reminders (core/learning/digests.py, reminders.py; adr/0019-digests.md) ----------


class DigestFrequency(models.TextChoices):
    NONE = "none"
    DAILY = "daily"
    WEEKLY = "weekly"


class DigestPreference(models.Model):
    """How often a person wants their unread notifications mailed. No row means `none`:
    mail is opt-in (adr/0019). Written only by core.learning.digests.set_digest_frequency."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE,
                                related_name="+")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    frequency = models.CharField(max_length=10, choices=DigestFrequency.choices, default=DigestFrequency.NONE)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        # The planner's scan: only people who want mail.
        indexes = [models.Index(fields=["user"], condition=~Q(frequency="none"), name="learning_digestpref_on")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.frequency}"


class Digest(models.Model):
    """One person's digest for one period: claimed here before it is mailed, at most once.

    `period_key` is the local day ("2025-03-09") or ISO week ("2025-W10") in the person's zone;
    one row per (user, period_key) is what makes a second planner run a no-op. Status moves
    pending -> sending (claimed by one delivery, right before SMTP) -> sent | empty, or to
    uncertain when a delivery died between the claim and the record: such a digest is never
    mailed again (adr/0019-digests.md). A refusal by the SMTP server returns it to pending for
    the retry; refused through every retry, it is failed.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        SENDING = "sending"
        SENT = "sent"
        EMPTY = "empty"  # nothing unread in its window: no mail
        UNCERTAIN = "uncertain"  # the delivery died after the claim: maybe sent, never resent
        FAILED = "failed"  # the SMTP server refused it through every retry: certainly not sent

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    # Indexed by learning_digest_period (user first).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    frequency = models.CharField(max_length=10, choices=DigestFrequency.choices)
    period_key = models.CharField(max_length=16)
    due_at = models.DateTimeField()  # the local morning that made it due
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    emitted_at = models.DateTimeField(default=timezone.now)  # its latest send event
    claimed_event = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)  # past it, the claim's holder is dead
    covered_from = models.DateTimeField(null=True, blank=True)
    covered_until = models.DateTimeField(null=True, blank=True)
    notifications = models.IntegerField(default=0)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "period_key"], name="learning_digest_period")]
        indexes = [
            # The planner's heal: digests whose event went missing, claims whose holder died.
            models.Index(fields=["emitted_at"], condition=Q(status__in=["pending", "sending"]),
                         name="learning_digest_open"),
            BrinIndex(fields=["created_at"], name="learning_digest_created"),  # retention
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"digest {self.period_key} of user {self.user_id}: {self.status}"


class DraftReminder(models.Model):
    """A stale-draft reminder that was given: one per (draft, threshold in days), whatever
    runs the job, however often (core/learning/reminders.py). Not subject to retention,
    so pruning old notifications never makes a draft remind its author again."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="+", db_index=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                               db_index=False)
    threshold_days = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "threshold_days"],
                                               name="learning_draftreminder_once")]

    def __str__(self) -> str:
        return f"reminder of version {self.version_id} after {self.threshold_days} days"


class Streak(models.Model):
    """A learner's run of consecutive local days with activity (core/learning/streaks.py).

    Written only by the statements of core/learning/queries.py (STREAK_*). `current` is the
    run's length when it was last extended, 0 once the rollover found it lapsed; the run's
    days (`run_start_day`, `last_active_day`) are the truth, so a late activity continues a
    run whatever `current` says.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE,
                                related_name="+")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    run_start_day = models.DateField()
    last_active_day = models.DateField()
    current = models.PositiveIntegerField()
    longest = models.PositiveIntegerField()
    updated_at = models.DateTimeField()

    class Meta:
        # The rollover looks only at runs still counted.
        indexes = [models.Index(fields=["last_active_day"], condition=Q(current__gt=0),
                                name="learning_streak_counted")]

    def __str__(self) -> str:
        return f"streak of user {self.user_id}: {self.current}"


class ReputationAward(models.Model):
    """One thing a person earned points for, once (core/learning/reputation.py): `key` names
    it ("solution:<problem id>", "approval:<version id>", "reply:<version id>")."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=64)
    points = models.IntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="learning_reputationaward_once")]

    def __str__(self) -> str:
        return f"{self.key} of user {self.user_id}: {self.points}"


class Reputation(models.Model):
    """A person's points: the sum of their awards, kept by the same statements that award."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE,
                                related_name="+")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    points = models.IntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"reputation of user {self.user_id}: {self.points}"


# --- spaced review (core/learning/review.py; adr/0020-spaced-review.md) -----------------------------


class LessonCompletion(models.Model):
    """A learner marked a live lesson version as done; its review items were scheduled then.
    One per (learner, version): marking it done again changes nothing."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                                db_index=False)
    content = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="+", db_index=False)
    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="+", db_index=False)
    finished_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["learner", "version"], name="learning_completion_once")]

    def __str__(self) -> str:
        return f"user {self.learner_id} finished version {self.version_id}"


class ReviewCard(models.Model):
    """One learner's schedule of one review item (item `item` of `version`): the FSRS card state.

    Written only by core/learning/review.py: created when the learner finishes the lesson
    (due at once), moved by each answer (at least a day ahead: the scheduler has no
    intraday steps, adr/0020)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Indexed by learning_reviewcard_due (learner first).
    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                                db_index=False)
    content = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="+", db_index=False)
    version = models.ForeignKey(Version, on_delete=models.CASCADE, related_name="+", db_index=False)
    item = models.PositiveSmallIntegerField()  # position in version.review_items
    state = models.PositiveSmallIntegerField()  # fsrs.State: 1 learning, 2 review, 3 relearning
    step = models.PositiveSmallIntegerField(null=True, blank=True)
    stability = models.FloatField(null=True, blank=True)
    difficulty = models.FloatField(null=True, blank=True)
    due_at = models.DateTimeField()
    last_review_at = models.DateTimeField(null=True, blank=True)
    reviews = models.PositiveIntegerField(default=0)
    lapses = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["learner", "version", "item"], name="learning_reviewcard_once")]
        indexes = [models.Index(fields=["learner", "due_at"], name="learning_reviewcard_due")]

    def __str__(self) -> str:
        return f"item {self.item} of version {self.version_id} for user {self.learner_id}"


class ReviewDay(models.Model):
    """A learner's due queue of one local day, built once: the unique (learner, day) is what
    keeps a learner from being processed twice for a day, whoever builds it (the nightly job
    or the learner's own first action of the day)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                                db_index=False)
    day = models.DateField()  # in the learner's zone when it was built
    zone = models.CharField(max_length=64)
    starts_at = models.DateTimeField()  # that local midnight
    ends_at = models.DateTimeField()  # the next one (23 or 25 hours later on a DST change day)
    built_at = models.DateTimeField()
    items = models.PositiveIntegerField()  # entries when built

    class Meta:
        constraints = [models.UniqueConstraint(fields=["learner", "day"], name="learning_reviewday_once")]

    def __str__(self) -> str:
        return f"review queue of user {self.learner_id} on {self.day}"


class ReviewEntry(models.Model):
    """A card in a day's queue; answered once (`answered_at`)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.ForeignKey(ReviewDay, on_delete=models.CASCADE, related_name="entries", db_index=False)
    card = models.ForeignKey(ReviewCard, on_delete=models.CASCADE, related_name="+")
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "card"], name="learning_reviewentry_once")]
        verbose_name_plural = "review entries"

    def __str__(self) -> str:
        return f"card {self.card_id} on queue {self.day_id}"


class ReviewAnswer(models.Model):
    """One answer and what it did to the card's schedule (the history; never changed)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                                db_index=False)
    card = models.ForeignKey(ReviewCard, on_delete=models.CASCADE, related_name="+")
    entry = models.OneToOneField(ReviewEntry, on_delete=models.CASCADE, related_name="+")
    answered_at = models.DateTimeField()
    response = models.TextField()
    correct = models.BooleanField()
    rating = models.PositiveSmallIntegerField()  # fsrs.Rating
    due_before = models.DateTimeField()
    due_after = models.DateTimeField()

    def __str__(self) -> str:
        return f"answer to card {self.card_id}: {'right' if self.correct else 'wrong'}"


# --- similarity checks (core/learning/similarity.py; adr/0027-similarity-checks.md) --------------


class SubmissionFingerprint(models.Model):
    """One winnowed fingerprint of a graded submission (core/learning/fingerprints.py): the
    index a new submission of the same problem is looked up in. Written once per submission
    by its similarity check; `first_line`/`last_line` locate it in the source for highlighting."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Indexed by learning_fingerprint_lookup (problem first).
    problem = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="+", db_index=False)
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+", db_index=False)
    learner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+",
                                db_index=False)
    hash = models.BigIntegerField()
    first_line = models.IntegerField()
    last_line = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["problem", "hash"], name="learning_fingerprint_lookup"),
                   models.Index(fields=["submission"], name="learning_fingerprint_of")]

    def __str__(self) -> str:
        return f"fingerprint {self.hash} of submission {self.submission_id}"


class SimilarityCheck(models.Model):
    """A submission's similarity check, done once: its distinct fingerprints, how many earlier
    submissions shared a telling one, and how many pairs it flagged."""

    submission = models.OneToOneField(Submission, primary_key=True, on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    problem = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="+", db_index=False)
    fingerprints = models.PositiveIntegerField()
    compared = models.PositiveIntegerField()
    flagged = models.PositiveIntegerField()
    checked_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"similarity check of submission {self.submission_id}"


class SimilarityFlag(models.Model):
    """Two learners' submissions to one problem that look copied, for a reviewer to decide.

    `submission` is the later one (its check found the pair), `other` the earlier. `regions`
    holds the matching line ranges of each: {"submission": [[first, last], ...], "other": ...}.
    """

    class Decision(models.TextChoices):
        OPEN = "open"
        DISMISSED = "dismissed"  # a coincidence, or shared starter code
        CONFIRMED = "confirmed"  # copied

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    problem = models.ForeignKey(Content, on_delete=models.CASCADE, related_name="+", db_index=False)
    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+", db_index=False)
    other = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="+", db_index=False)
    score = models.FloatField()  # shared fingerprints / those of the smaller submission
    shared = models.PositiveIntegerField()
    regions = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.OPEN)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+", db_index=False)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["submission", "other"], name="learning_similarityflag_pair")]
        indexes = [models.Index(fields=["tenant", "decision", "-created_at"], name="learning_similarityflag_queue"),
                   models.Index(fields=["other"], name="learning_similarityflag_other")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"submissions {self.submission_id} and {self.other_id}: {self.score:.2f}"


# --- lesson images (core/learning/media.py; adr/0028-lesson-images.md) ----------------------------


class LessonImage(models.Model):
    """An image an author uploaded for lessons: the cleaned original (metadata stripped, decoded
    only in the sandbox) and, once the batch task made them, its smaller variants.

    Files live in Django's default storage under `lesson-images/<tenant>/<key>/`; `variants` lists
    them: [{"width", "height", "format", "content_type", "name", "bytes"}, ...]. Pages serve the
    original until the variants are `ready`.
    """

    class Status(models.TextChoices):
        PROCESSING = "processing"  # variants not made yet
        READY = "ready"
        FAILED = "failed"  # variants could not be made; the original is still served

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                    db_index=False)
    title = models.CharField(max_length=200)  # the uploaded file's name, for the author's list only
    key = models.CharField(max_length=32, unique=True)  # a random name for its files
    format = models.CharField(max_length=10)
    content_type = models.CharField(max_length=40)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    bytes = models.PositiveIntegerField()
    original = models.CharField(max_length=300)  # storage name
    variants = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PROCESSING)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "-created_at"], name="learning_lessonimage_tenant")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"image {self.pk} ({self.status})"


# --- open-content export bundles (core/learning/exports.py; adr/0029-export-bundles.md) -----------


class ExportBundle(models.Model):
    """A reviewer's export of published lessons and problems as one zip, made by fan-out (one
    `learning.export_item` task per item) and fan-in counted here: the item that brings
    `items_done` to `items_total` moves the bundle to `queued` and emits its assembly in the same
    transaction, exactly once. Assembly is a job (outbox/jobs.py lifecycle columns): claimed,
    zipped outside any transaction, recorded as `ready`. Past `deadline_at` an unfinished bundle
    fails (the expiry job); past `expires_at` a ready one's files are deleted (`expired`)."""

    class Status(models.TextChoices):
        BUILDING = "building"  # items being made
        QUEUED = "queued"  # every item made: assembly emitted
        RUNNING = "running"  # being assembled
        READY = "ready"
        FAILED = "failed"
        EXPIRED = "expired"  # its file deleted by retention

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                     db_index=False)
    title = models.CharField(max_length=200)
    key = models.CharField(max_length=32, unique=True)  # a random name for its files
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.BUILDING)
    items_total = models.PositiveIntegerField()
    items_done = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.IntegerField(default=0)
    claimed_event = models.UUIDField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    file_name = models.CharField(max_length=300, blank=True)  # storage name of the zip
    bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="learning_exportbundle_tenant"),
            # The expiry job's scans: unfinished ones by deadline, ready ones by expiry.
            models.Index(fields=["deadline_at"], condition=Q(status__in=["building", "queued", "running"]),
                         name="learning_exportbundle_open"),
            models.Index(fields=["expires_at"], condition=Q(status="ready"), name="learning_exportbundle_ready"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.status}, {self.items_done}/{self.items_total})"


class ExportItem(models.Model):
    """One lesson or problem of a bundle, at the version that was live when the export was
    asked for; `files` lists what its task wrote: [{"path": in the zip, "name": storage name}]."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"

    bundle = models.ForeignKey(ExportBundle, on_delete=models.CASCADE, related_name="items")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    content = models.ForeignKey(Content, on_delete=models.PROTECT, related_name="+", db_index=False)
    version = models.ForeignKey(Version, on_delete=models.PROTECT, related_name="+", db_index=False)
    position = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    files = models.JSONField(default=list, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bundle", "content"], name="learning_exportitem_once")]
        ordering = ["bundle_id", "position"]

    def __str__(self) -> str:
        return f"item {self.position} of export {self.bundle_id}: {self.status}"


class ContentQuality(models.Model):
    """A published content's quality score (0 to 1), recomputed nightly from how learners and
    reviewers fared with it (core/learning/quality.py); search ranks by text relevance times
    (1 + SEARCH_QUALITY_WEIGHT x score). `signals` keeps the inputs, for whoever asks why."""

    content = models.OneToOneField(Content, primary_key=True, on_delete=models.CASCADE, related_name="+")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    score = models.FloatField()
    signals = models.JSONField(default=dict)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"quality of content {self.content_id}: {self.score:.2f}"
