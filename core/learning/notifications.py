"""Fan-out of review activity to the people it concerns (the learning.notify task).

One row per recipient, plus a live event on the recipient's own channel. Who is told:

- a version submitted for review: the tenant's reviewers, except its author;
- a review decision: the version's author;
- a reply: the version's author, the reviewer, and everyone who replied before;
- any reviewer @mentioned in a decision's comment or a reply.

Only the tenant's active reviewers are ever told: these notices name drafts, which nobody
else may see (an @mention of a learner, a dispatcher or an auditor resolves to nobody, like
a mention of someone of another agency). Nobody is told about their own action, and each
person gets one notice per cause
(mention wins over the other reasons): the rows are unique per (recipient, source), so
a replayed fan-out writes nothing new.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection
from django.db.models import Q, QuerySet

from core.accounts.models import User
from core.learning.models import Notification, Reply, Review, Version
from core.platform.channels import user_channel
from core.platform.roles import Role
from outbox.emit import emit

Reason = Notification.Reason

# Django usernames: letters, digits and @ . + - _ ; a trailing dot ends the sentence, not the name.
MENTION = re.compile(r"(?<![\w@.+-])@([\w.@+-]{1,150})")

DECISION_WORDS = {
    Review.Decision.APPROVE: "approved",
    Review.Decision.REJECT: "rejected",
    Review.Decision.REQUEST_CHANGES: "requested changes on",
}


def mentioned_usernames(text: str) -> set[str]:
    return {name.rstrip(".") for name in MENTION.findall(text or "") if name.rstrip(".")}


@dataclass(frozen=True)
class Cause:
    """What happened, to which version, by whom, and what it says (for mentions)."""

    source: str
    version: Version
    actor: User
    text: str
    default_reason: str
    audience: frozenset[int]
    # What the actor did, completed by the title: "approved", "submitted {} for review".
    verb: str


def _name(user: User) -> str:
    return user.get_full_name() or user.username


def _reviewers(tenant_id: int) -> QuerySet[User]:
    """Who may hear about drafts: the tenant's active reviewers."""
    return User.objects.filter(tenant_id=tenant_id, is_active=True, groups__name=Role.REVIEWER)


def _cause_of_version(version_id: int, tenant_id: int) -> Cause:
    version = Version.objects.select_related("author").get(id=version_id, tenant_id=tenant_id)
    return Cause(f"version:{version.id}", version, version.author, "", Reason.SUBMITTED,
                 frozenset(_reviewers(tenant_id).values_list("id", flat=True)), "submitted {} for review")


def _cause_of_review(review_id: int, tenant_id: int) -> Cause:
    review = Review.objects.select_related("version", "reviewer").get(id=review_id, tenant_id=tenant_id)
    return Cause(f"review:{review.id}", review.version, review.reviewer, review.comment, Reason.DECISION,
                 frozenset({review.version.author_id}), DECISION_WORDS[Review.Decision(review.decision)] + " {}")


def _cause_of_reply(reply_id: int, tenant_id: int) -> Cause:
    reply = Reply.objects.select_related("review__version", "author").get(id=reply_id, tenant_id=tenant_id)
    review = reply.review
    earlier = Reply.objects.filter(review=review, id__lt=reply.id).values_list("author_id", flat=True)
    return Cause(f"reply:{reply.id}", review.version, reply.author, reply.body, Reason.REPLY,
                 frozenset({review.version.author_id, review.reviewer_id, *earlier}), "replied on {}")


CAUSES = {"version": _cause_of_version, "review": _cause_of_review, "reply": _cause_of_reply}


def _message(cause: Cause, reason: str) -> str:
    title = f"“{cause.version.title}” (v{cause.version.number})"
    verb = "mentioned you on {}" if reason == Reason.MENTION else cause.verb
    return f"{_name(cause.actor)} {verb.format(title)}"[:300]


def recipients(cause: Cause, tenant_id: int) -> dict[int, str]:
    """recipient id -> reason: the cause's audience and the @mentioned, among the active
    reviewers of `tenant_id` only, without the actor."""
    names = mentioned_usernames(cause.text)
    reviewers = dict(_reviewers(tenant_id).filter(Q(id__in=cause.audience) | Q(username__in=names))
                     .values_list("id", "username"))
    chosen = {user_id: Reason.MENTION if username in names else cause.default_reason
              for user_id, username in reviewers.items()}
    chosen.pop(cause.actor.id, None)
    return chosen


def fan_out(source: str, source_id: int, tenant_id: int) -> list[Notification]:
    """Write the notifications of one cause and their live events; returns the rows written now
    (none on a replay). Runs inside the task's effects() transaction."""
    if connection.get_autocommit():
        raise RuntimeError("fan_out runs inside the task's effects() transaction")
    cause = CAUSES[source](source_id, tenant_id)
    wanted = recipients(cause, tenant_id)
    done = set(Notification.objects.filter(source=cause.source, recipient_id__in=wanted)
               .values_list("recipient_id", flat=True))
    rows = Notification.objects.bulk_create([
        Notification(tenant_id=tenant_id, recipient_id=user_id, actor=cause.actor, reason=reason,
                     source=cause.source, version=cause.version, message=_message(cause, reason))
        for user_id, reason in sorted(wanted.items()) if user_id not in done])
    _announce(rows, tenant_id)
    return rows


def _announce(rows: Iterable[Notification], tenant_id: int) -> None:
    for row in rows:
        emit("notification.created", aggregate_type="notification", aggregate_id=row.id,
             channel=user_channel(tenant_id, row.recipient_id), tenant_id=tenant_id, actor_id=row.actor_id,
             payload={"notification_id": row.id, "reason": row.reason, "message": row.message,
                      "version_id": row.version_id, "content_id": row.version.content_id})
