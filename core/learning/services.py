"""Request-side write functions of the learning app: one per state change.

Each runs in its own durable transaction, changes its rows with conditional updates (the
state it expects is in the WHERE clause; no read-decide-save), and emits its outbox events
in that same transaction. Views, the API, commands and the demo call these; nothing else
writes these rows. Errors are core.errors types naming the field at fault.
"""

from __future__ import annotations

import ast
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.access import get_for_tenant
from core.channels import tenant_channel, user_channel
from core.errors import Conflict, Invalid, NotFound
from core.learning.models import Content, Kind, Notification, Reply, Review, Submission, Version
from core.models import User
from outbox.emit import emit

TITLE_MAX = 200
BODY_MAX = 100_000
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


def _text(value: str, field: str, max_length: int, *, required: bool = True) -> str:
    text = (value or "").strip()
    if required and not text:
        raise Invalid(f"{field} must not be empty", field=field)
    if len(text) > max_length:
        raise Invalid(f"{field} is {len(text)} characters; at most {max_length} are allowed", field=field)
    return text


def validate_tests(kind: str, tests: str) -> str:
    """Problems need Python source defining at least one top-level test_* function; lessons
    have no tests. Returns the tests as stored."""
    if kind == Kind.LESSON:
        if (tests or "").strip():
            raise Invalid("lessons have no tests; leave tests empty", field="tests")
        return ""
    source = _text(tests, "tests", TESTS_MAX)
    try:
        tree = ast.parse(source, filename="tests.py")
    except SyntaxError as exc:
        raise Invalid(f"tests are not valid Python: line {exc.lineno}: {exc.msg}", field="tests") from None
    names = [node.name for node in tree.body
             if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_")]
    if not names:
        raise Invalid("tests must define at least one test_* function", field="tests")
    return source


def _validated(kind: str, title: str, body: str, tests: str) -> tuple[str, str, str]:
    if kind not in Kind.values:
        raise Invalid(f"kind must be one of {', '.join(Kind.values)}", field="kind")
    return _text(title, "title", TITLE_MAX), _text(body, "body", BODY_MAX), validate_tests(kind, tests)


# --- content and versions --------------------------------------------------------------------


def _emit_version_event(event_type: str, version: Version, actor: User) -> None:
    """Live update for the tenant's reviewers (their queue page), recorded in the history."""
    emit(event_type, aggregate_type="version", aggregate_id=version.id, channel=tenant_channel(version.tenant_id),
         tenant_id=version.tenant_id, actor_id=actor.id,
         payload={"version_id": version.id, "content_id": version.content_id, "number": version.number,
                  "status": version.status})


@transaction.atomic(durable=True)
def create_content(actor: User, kind: str, title: str, body: str, tests: str = "") -> Version:
    """A new lesson or problem with its first version, a draft. Returns the version."""
    tenant_id = _tenant_of(actor)
    title, body, tests = _validated(kind, title, body, tests)
    content = Content.objects.create(tenant_id=tenant_id, kind=kind, created_by=actor)
    version = Version.objects.create(tenant_id=tenant_id, content=content, number=1, title=title, body=body,
                                     tests=tests, author=actor)
    _emit_version_event("version.created", version, actor)
    return version


@transaction.atomic(durable=True)
def create_version(content_id: int, actor: User, title: str, body: str, tests: str = "") -> Version:
    """The next version of a content, a draft (versions never change; a correction is a new one)."""
    tenant_id = _tenant_of(actor)
    # The content row's lock serialises numbering: two authors saving at once get n and n+1.
    content = get_for_tenant(Content.objects.select_for_update(), tenant_id, content_id, "content")
    title, body, tests = _validated(content.kind, title, body, tests)
    last = content.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = Version.objects.create(tenant_id=tenant_id, content=content, number=last + 1, title=title, body=body,
                                     tests=tests, author=actor)
    _emit_version_event("version.created", version, actor)
    return version


def _state_conflict(version_id: int, tenant_id: int, action: str, allowed: str) -> Conflict:
    """Why a conditional update of a version matched nothing: 404 or 409 naming its status."""
    version = get_for_tenant(Version.objects.all(), tenant_id, version_id, "version")
    return Conflict(f"version {version_id} is {version.status}; only {allowed} can be {action}", field="version")


@transaction.atomic(durable=True)
def submit_for_review(version_id: int, actor: User) -> Version:
    """Draft -> in review; the tenant's reviewers are notified (learning.notify)."""
    tenant_id = _tenant_of(actor)
    moved = Version.objects.filter(id=version_id, tenant_id=tenant_id, status=Version.Status.DRAFT).update(
        status=Version.Status.IN_REVIEW, submitted_at=timezone.now())
    if not moved:
        raise _state_conflict(version_id, tenant_id, "submitted for review", "a draft")
    version = Version.objects.get(id=version_id)
    emit("version.submitted", aggregate_type="version", aggregate_id=version_id, task="learning.notify",
         tenant_id=tenant_id, actor_id=actor.id, payload={"source": "version", "source_id": version_id})
    _emit_version_event("version.submitted", version, actor)
    return version


@transaction.atomic(durable=True)
def review_version(version_id: int, actor: User, decision: str, comment: str = "") -> Review:
    """Approve, reject or request changes on a version in review, with a comment (required
    unless approving). The author, and anyone @mentioned, are notified (learning.notify)."""
    tenant_id = _tenant_of(actor)
    if decision not in Review.Decision.values:
        raise Invalid(f"decision must be one of {', '.join(Review.Decision.values)}", field="decision")
    comment = _text(comment, "comment", COMMENT_MAX, required=decision != Review.Decision.APPROVE)
    moved = Version.objects.filter(id=version_id, tenant_id=tenant_id, status=Version.Status.IN_REVIEW).update(
        status=DECISION_STATUS[Review.Decision(decision)], decided_at=timezone.now())
    if not moved:
        raise _state_conflict(version_id, tenant_id, "reviewed", "a version in review")
    review = Review.objects.create(tenant_id=tenant_id, version_id=version_id, reviewer=actor, decision=decision,
                                   comment=comment)
    emit("review.decided", aggregate_type="version", aggregate_id=version_id, task="learning.notify",
         tenant_id=tenant_id, actor_id=actor.id, payload={"source": "review", "source_id": review.id})
    _emit_version_event("version.reviewed", Version.objects.get(id=version_id), actor)
    return review


@transaction.atomic(durable=True)
def reply_to_review(review_id: int, actor: User, body: str) -> Reply:
    """A reply under a review decision; the thread's participants and @mentions are notified."""
    tenant_id = _tenant_of(actor)
    review = get_for_tenant(Review.objects.all(), tenant_id, review_id, "review")
    reply = Reply.objects.create(tenant_id=tenant_id, review=review, author=actor,
                                 body=_text(body, "body", COMMENT_MAX))
    emit("review.replied", aggregate_type="version", aggregate_id=review.version_id, task="learning.notify",
         tenant_id=tenant_id, actor_id=actor.id, payload={"source": "reply", "source_id": reply.id})
    return reply


# --- what is live: publish, unpublish, rollback ------------------------------------------------


def _emit_live_change(event_type: str, content_id: int, actor: User) -> Content:
    """The index task event and the tenant's live event for a change of the live version.

    Reads the content after the caller's conditional update, so live_seq is the one this
    transaction wrote (the row stays locked by that update until commit)."""
    content = Content.objects.select_related("live_version").get(id=content_id)
    live = content.live_version
    payload = {"content_id": content.id, "version_id": live.id if live else None, "live_seq": content.live_seq}
    emit(event_type, aggregate_type="content", aggregate_id=content.id, task="learning.index_content",
         tenant_id=content.tenant_id, actor_id=actor.id, payload=payload)
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


def validate_source(source: str) -> None:
    """Invalid (naming source) unless `source` is non-empty text of at most SOURCE_MAX bytes."""
    if not isinstance(source, str) or not source.strip():
        raise Invalid("source must not be empty", field="source")
    if len(source.encode()) > SOURCE_MAX:
        raise Invalid(f"source is larger than {SOURCE_MAX // 1024} KiB", field="source")


@transaction.atomic(durable=True)
def submit_solution(problem_id: int, learner: User, source: str) -> Submission:
    """A learner's code for a published problem, queued for grading against its live version.

    The submission and the grading task's outbox event commit together. Unpublished
    problems, lessons and other tenants' problems are all 404. The caller applies the rate
    limit (core/learning/ratelimit.py) first.
    """
    tenant_id = _tenant_of(learner)
    validate_source(source)
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
