"""Request-side write functions of the learning app: one per state change.

Each runs in its own durable transaction, changes its rows with conditional updates (the
state it expects is in the WHERE clause; no read-decide-save), and emits its outbox events
in that same transaction. Views, the API, commands and the demo call these; nothing else
writes these rows. Errors are core.platform.errors types naming the field at fault.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.accounts.access import get_for_tenant
from core.accounts.models import User
from core.learning import reputation
from core.learning.channels import reviewers_channel
from core.learning.models import Content, Kind, Notification, Reply, Review, Submission, Version
from core.learning.rendering import Rendered, RenderRefused, render_body
from core.learning.review_items import validate_items
from core.learning.sandbox import UnrunnableTests, discover_tests
from core.learning.text import clean_text
from core.platform.channels import tenant_channel, user_channel
from core.platform.errors import Conflict, Invalid, NotFound
from outbox.emit import emit

TITLE_MAX = 200
# Markdown is rendered when a version is saved, in a bounded renderer (core/learning/rendering.py);
# a lesson or problem statement longer than this belongs in several.
BODY_MAX = 20_000
TESTS_MAX = 50_000
COMMENT_MAX = 5_000
SOURCE_MAX = 64 * 1024

# What each review decision makes of the version.
DECISION_STATUS = {
    Review.Decision.APPROVE: Version.Status.APPROVED,
    Review.Decision.REJECT: Version.Status.REJECTED,
    Review.Decision.REQUEST_CHANGES: Version.Status.CHANGES_REQUESTED,
}


# --- validation -----------------------------------------------------------------------------


def _tenant_of(actor: User) -> int:
    if actor.tenant_id is None:
        raise NotFound("platform staff have no learning content")
    return actor.tenant_id


def _text(value: object, field: str, max_length: int, *, required: bool = True) -> str:
    """Clean text (core/learning/text.py), stripped; Invalid naming `field` if empty (when
    required) or longer than `max_length`."""
    text = clean_text(value, field).strip()
    if required and not text:
        raise Invalid(f"{field} must not be empty", field=field)
    if len(text) > max_length:
        raise Invalid(f"{field} is {len(text)} characters; at most {max_length} are allowed", field=field)
    return text


def _test_names(source: str) -> list[str]:
    """The test functions the grading harness will run (the harness's own rule,
    core.learning.sandbox.discover_tests), or Invalid naming tests with its reason."""
    try:
        return discover_tests(source)
    except UnrunnableTests as exc:
        raise Invalid(f"tests: {exc}", field="tests") from None
    except (SyntaxError, ValueError) as exc:  # the parser's own refusals
        line = f"line {exc.lineno}: {exc.msg}" if isinstance(exc, SyntaxError) else str(exc)
        raise Invalid(f"tests are not valid Python: {line}", field="tests") from None
    except (RecursionError, MemoryError):
        raise Invalid("tests nest too deeply to parse", field="tests") from None


def validate_tests(kind: str, tests: object) -> str:
    """Problems need Python source defining test functions the grading harness will run;
    lessons have no tests. Returns the tests as stored."""
    if kind == Kind.LESSON:
        if clean_text(tests, "tests").strip():
            raise Invalid("lessons have no tests; leave tests empty", field="tests")
        return ""
    source = _text(tests, "tests", TESTS_MAX)
    if not _test_names(source):
        raise Invalid("tests must define at least one test_* function", field="tests")
    return source


def _rendered(body: str) -> Rendered:
    try:
        return render_body(body)
    except RenderRefused as exc:
        raise Invalid(str(exc), field="body") from None


@dataclass(frozen=True)
class Draft:
    """A version's validated content, its body rendered: ready to be written."""

    title: str
    body: str
    tests: str
    rendered: Rendered
    review_items: list[dict[str, Any]] = dataclass_field(default_factory=list)  # core/learning/review_items.py


def validate_draft(kind: str, title: object, body: object, tests: object, review_items: object = None) -> Draft:
    """Validate a version's fields and render its body (outside any transaction: rendering
    takes up to RENDER_TIMEOUT_S). Invalid names the first field at fault."""
    if kind not in Kind.values:
        raise Invalid(f"kind must be one of {', '.join(Kind.values)}", field="kind")
    title_text, body_text = _text(title, "title", TITLE_MAX), _text(body, "body", BODY_MAX)
    tests_text = validate_tests(kind, tests)
    items = validate_items(kind, review_items)
    return Draft(title_text, body_text, tests_text, _rendered(body_text), items)


# --- content and versions --------------------------------------------------------------------


def _emit_version_event(event_type: str, version: Version, actor: User) -> None:
    """Live update for the tenant's reviewers (their queue page), recorded in the history.
    Drafts are reviewers' business: the event goes to their channel only."""
    emit(event_type, aggregate_type="version", aggregate_id=version.id, channel=reviewers_channel(version.tenant_id),
         tenant_id=version.tenant_id, actor_id=actor.id,
         payload={"version_id": version.id, "content_id": version.content_id, "number": version.number,
                  "status": version.status})


def _new_version(tenant_id: int, content: Content, number: int, draft: Draft, actor: User) -> Version:
    version = Version.objects.create(
        tenant_id=tenant_id, content=content, number=number, title=draft.title, body=draft.body, tests=draft.tests,
        body_html=draft.rendered.html, body_text=draft.rendered.text, render_revision=draft.rendered.revision,
        review_items=draft.review_items, author=actor)
    _emit_version_event("version.created", version, actor)
    return version


def create_content(actor: User, kind: str, title: object, body: object, tests: object = "",
                   review_items: object = None) -> Version:
    """A new lesson or problem with its first version, a draft (a lesson's review items are
    part of it). Returns the version."""
    tenant_id = _tenant_of(actor)
    return _create_content(tenant_id, actor, kind, validate_draft(kind, title, body, tests, review_items))


@transaction.atomic(durable=True)
def _create_content(tenant_id: int, actor: User, kind: str, draft: Draft) -> Version:
    content = Content.objects.create(tenant_id=tenant_id, kind=kind, created_by=actor)
    return _new_version(tenant_id, content, 1, draft, actor)


def create_version(content_id: int, actor: User, title: object, body: object, tests: object = "",
                   review_items: object = None) -> Version:
    """The next version of a content, a draft (versions never change; a correction is a new one)."""
    tenant_id = _tenant_of(actor)
    kind = get_for_tenant(Content.objects.all(), tenant_id, content_id, "content").kind  # never changes
    return _create_version(tenant_id, content_id, actor, validate_draft(kind, title, body, tests, review_items))


@transaction.atomic(durable=True)
def _create_version(tenant_id: int, content_id: int, actor: User, draft: Draft) -> Version:
    # The content row's lock serialises numbering: two authors saving at once get n and n+1.
    content = get_for_tenant(Content.objects.select_for_update(), tenant_id, content_id, "content")
    last = content.versions.order_by("-number").values_list("number", flat=True).first() or 0
    return _new_version(tenant_id, content, last + 1, draft, actor)


def _state_conflict(version_id: int, tenant_id: int, action: str, allowed: str) -> Conflict:
    """Why a conditional update of a version matched nothing: 404 or 409 naming its status."""
    return _wrong_state(get_for_tenant(Version.objects.all(), tenant_id, version_id, "version"), action, allowed)


def _wrong_state(version: Version, action: str, allowed: str) -> Conflict:
    return Conflict(f"version {version.id} is {version.status}; only {allowed} can be {action}", field="version")


@transaction.atomic(durable=True)
def submit_for_review(version_id: int, actor: User) -> Version:
    """Draft -> in review; the tenant's reviewers are notified (learning.notify)."""
    tenant_id = _tenant_of(actor)
    moved = Version.objects.filter(id=version_id, tenant_id=tenant_id, status=Version.Status.DRAFT).update(
        status=Version.Status.IN_REVIEW, submitted_at=timezone.now())
    if not moved:
        raise _state_conflict(version_id, tenant_id, "submitted for review", "a draft")
    version = Version.objects.get(id=version_id)
    _notify("version.submitted", version_id, tenant_id, actor, "version", version_id)
    _emit_version_event("version.submitted", version, actor)
    return version


def _notify(event_type: str, version_id: int, tenant_id: int, actor: User, source: str, source_id: int) -> None:
    """Ask learning.notify to tell the people concerned. A version's notifications are made one
    at a time, in the order of what happened (submitted, then decided, then replied); a failed
    one does not hold back the next."""
    emit(event_type, aggregate_type="version", aggregate_id=version_id, task="learning.notify",
         tenant_id=tenant_id, actor_id=actor.id, payload={"source": source, "source_id": source_id},
         ordering_key=f"version:{version_id}", if_dead="pass")


def _may_review_own() -> bool:
    return bool(settings.LEARNING_ALLOW_SELF_REVIEW)


@transaction.atomic(durable=True)
def review_version(version_id: int, actor: User, decision: str, comment: object = "") -> Review:
    """Approve, reject or request changes on a version in review, with a comment (required
    unless approving). Nobody reviews a version they wrote (409), unless
    LEARNING_ALLOW_SELF_REVIEW. The author, and reviewers @mentioned, are notified
    (learning.notify)."""
    tenant_id = _tenant_of(actor)
    if decision not in Review.Decision.values:
        raise Invalid(f"decision must be one of {', '.join(Review.Decision.values)}", field="decision")
    comment = _text(comment, "comment", COMMENT_MAX, required=decision != Review.Decision.APPROVE)
    reviewable = Version.objects.filter(id=version_id, tenant_id=tenant_id, status=Version.Status.IN_REVIEW)
    if not _may_review_own():
        reviewable = reviewable.exclude(author_id=actor.id)
    if not reviewable.update(status=DECISION_STATUS[Review.Decision(decision)], decided_at=timezone.now()):
        raise _review_refusal(version_id, tenant_id, actor)
    review = Review.objects.create(tenant_id=tenant_id, version_id=version_id, reviewer=actor, decision=decision,
                                   comment=comment)
    if decision == Review.Decision.APPROVE:
        reputation.version_approved(Version.objects.get(id=version_id))
    _notify("review.decided", version_id, tenant_id, actor, "review", review.id)
    _emit_version_event("version.reviewed", Version.objects.get(id=version_id), actor)
    return review


def _review_refusal(version_id: int, tenant_id: int, actor: User) -> Conflict:
    """Why the review's conditional update matched nothing: 404, the wrong state, or the
    reviewer's own version."""
    version = get_for_tenant(Version.objects.all(), tenant_id, version_id, "version")
    if version.status != Version.Status.IN_REVIEW:
        return _wrong_state(version, "reviewed", "a version in review")
    return Conflict(f"version {version_id} is your own; another reviewer must review it", field="version")


@transaction.atomic(durable=True)
def reply_to_review(review_id: int, actor: User, body: object) -> Reply:
    """A reply under a review decision; the thread's participants and @mentions are notified."""
    tenant_id = _tenant_of(actor)
    review = get_for_tenant(Review.objects.all(), tenant_id, review_id, "review")
    reply = Reply.objects.create(tenant_id=tenant_id, review=review, author=actor,
                                 body=_text(body, "body", COMMENT_MAX))
    # Locked: an approval committing at the same moment is either seen here (approved) or sees
    # this reply when it awards the repliers; never neither.
    reputation.replied(Version.objects.select_for_update().get(id=review.version_id), actor.id)
    _notify("review.replied", review.version_id, tenant_id, actor, "reply", reply.id)
    return reply


# --- what is live: publish, unpublish, rollback ------------------------------------------------


def _emit_live_change(event_type: str, content_id: int, actor: User) -> Content:
    """The index task event and the tenant's live event for a change of the live version.

    Reads the content after the caller's conditional update, so live_seq is the one this
    transaction wrote (the row stays locked by that update until commit)."""
    content = Content.objects.select_related("live_version").get(id=content_id)
    live = content.live_version
    payload = {"content_id": content.id, "version_id": live.id if live else None, "live_seq": content.live_seq}
    # Publish, unpublish and rollback of one content are indexed one at a time, in commit order
    # (an index task writes the truth at its time, so a dead one lets the next pass).
    emit(event_type, aggregate_type="content", aggregate_id=content.id, task="learning.index_content",
         tenant_id=content.tenant_id, actor_id=actor.id, payload=payload, ordering_key=f"content:{content.id}",
         if_dead="pass")
    emit(event_type, aggregate_type="content", aggregate_id=content.id, channel=tenant_channel(content.tenant_id),
         tenant_id=content.tenant_id, actor_id=actor.id,
         payload={**payload, "kind": content.kind, "title": live.title if live else None})
    return content


def _make_live(content_id: int, version_id: int | None) -> int:
    """Point content at `version_id` (None: nothing live) unless it already is; returns rows changed."""
    now = timezone.now()
    changed = (Content.objects.filter(id=content_id).exclude(live_version_id=version_id)
               if version_id is not None else Content.objects.filter(id=content_id, live_version__isnull=False))
    count = changed.update(live_version_id=version_id, live_seq=F("live_seq") + 1, live_changed_at=now)
    if count and version_id is not None:
        Version.objects.filter(id=version_id, first_published_at__isnull=True).update(first_published_at=now)
    return count


@transaction.atomic(durable=True)
def publish_version(version_id: int, actor: User) -> Content:
    """Make an approved version the live one of its content (409 if not approved or already
    live). Emits content.published: the index task and the tenant's live event."""
    tenant_id = _tenant_of(actor)
    version = get_for_tenant(Version.objects.all(), tenant_id, version_id, "version")
    # Approval is final (no transition leaves `approved`), so this check cannot go stale.
    if version.status != Version.Status.APPROVED:
        raise Conflict(f"version {version_id} is {version.status}; only an approved version can be published",
                       field="version")
    if not _make_live(version.content_id, version.id):
        raise Conflict(f"version {version_id} is already live", field="version")
    return _emit_live_change("content.published", version.content_id, actor)


@transaction.atomic(durable=True)
def unpublish_content(content_id: int, actor: User) -> Content:
    """Take a content offline (409 if nothing is live); its search document is removed by the task."""
    tenant_id = _tenant_of(actor)
    get_for_tenant(Content.objects.all(), tenant_id, content_id, "content")
    if not _make_live(content_id, None):
        raise Conflict(f"content {content_id} is not published", field="content")
    return _emit_live_change("content.unpublished", content_id, actor)


@transaction.atomic(durable=True)
def rollback_content(content_id: int, version_id: int, actor: User) -> Content:
    """Make an earlier, previously published version live again (409 unless it was published
    before and is not live now)."""
    tenant_id = _tenant_of(actor)
    get_for_tenant(Content.objects.all(), tenant_id, content_id, "content")
    version = Version.objects.filter(id=version_id, content_id=content_id).first()
    if version is None:
        raise NotFound(f"version {version_id} of content {content_id} not found", field="version_id")
    if version.status != Version.Status.APPROVED or version.first_published_at is None:
        raise Conflict(f"version {version_id} was never published; roll back only to a version that was",
                       field="version_id")
    if not _make_live(content_id, version_id):
        raise Conflict(f"version {version_id} is already live", field="version_id")
    return _emit_live_change("content.rolled_back", content_id, actor)


# --- submissions ------------------------------------------------------------------------------


def validate_source(source: object) -> str:
    """`source` cleaned (core/learning/text.py); Invalid (naming source) unless it is non-empty
    text of at most SOURCE_MAX bytes."""
    text = clean_text(source, "source")
    if not text.strip():
        raise Invalid("source must not be empty", field="source")
    if len(text.encode()) > SOURCE_MAX:
        raise Invalid(f"source is larger than {SOURCE_MAX // 1024} KiB", field="source")
    return text


@transaction.atomic(durable=True)
def submit_solution(problem_id: int, learner: User, source: object) -> Submission:
    """A learner's code for a published problem, queued for grading against its live version.

    The submission and the grading task's outbox event commit together. Unpublished
    problems, lessons and other tenants' problems are all 404. The caller applies the rate
    limit (core/learning/ratelimit.py) first.
    """
    tenant_id = _tenant_of(learner)
    source = validate_source(source)
    problem = get_for_tenant(Content.objects.filter(kind=Kind.PROBLEM, live_version__isnull=False), tenant_id,
                             problem_id, "problem")
    assert problem.live_version_id is not None
    submission = Submission.objects.create(
        tenant_id=tenant_id, problem=problem, version_id=problem.live_version_id, learner=learner, source=source,
        deadline_at=timezone.now() + timedelta(seconds=settings.GRADING_DEADLINE_S))
    emit("submission.received", aggregate_type="submission", aggregate_id=submission.id,
         task="learning.grade_submission", tenant_id=tenant_id, actor_id=learner.id,
         payload={"submission_id": submission.id})
    return submission


# --- notifications -------------------------------------------------------------------------------


@transaction.atomic(durable=True)
def mark_notification_read(notification_id: int, user: User) -> Notification:
    """Mark one of the user's own notifications read (idempotent); NotFound for anyone else's."""
    tenant_id = _tenant_of(user)
    now = timezone.now()
    changed = Notification.objects.filter(id=notification_id, recipient=user, read_at__isnull=True).update(
        read_at=now)
    notification = Notification.objects.filter(id=notification_id, recipient=user).first()
    if notification is None:
        raise NotFound(f"notification {notification_id} not found")
    if changed:  # other open pages of the user drop it from their unread count
        emit("notification.read", aggregate_type="notification", aggregate_id=notification_id,
             channel=user_channel(tenant_id, user.id), tenant_id=tenant_id, actor_id=user.id,
             payload={"notification_id": notification_id})
    return notification
