"""Email digests: each person's unread notifications, mailed at their local morning (adr/0019).

    set_digest_frequency   (request side)    none / daily / weekly; the unsubscribe link sets none
    plan_digests           (beat, batch)     a pending Digest row per person whose local morning
                                             of the period has come, and its send event, in one
                                             transaction per batch; the heal of lost events and
                                             dead claims
    SendDigest             (learning.send_digest, batch queue; OutboxTask.run_job)
        claim   (own transaction)   pending -> sending, the window fixed, right before SMTP
        work    (no transaction)    compose and hand the mail to the SMTP server
        record  (task's effects())  sending -> sent | empty, with the inbox row

At most once per (person, period): the claim commits before the mail is handed over, and a
claim is never taken twice. A delivery that dies after its claim leaves the digest `uncertain`:
the mail may or may not have been accepted, so it is not sent again, and its notices are
listed again in the next digest (the window starts after the last digest known to be sent).
"""

from __future__ import annotations

import contextlib
import smtplib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import structlog
from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from core.accounts.models import User
from core.learning import queries
from core.learning.models import Digest, DigestFrequency, DigestPreference, Notification
from core.platform.channels import user_channel
from core.platform.errors import Invalid, NotFound
from outbox.emit import emit

log = structlog.get_logger(__name__)

SEND_TASK = "learning.send_digest"
UNSUBSCRIBE_SALT = "ferry.learning.digest.unsubscribe"
ABANDONED = ("the delivery that claimed this digest died before recording it; the mail may have "
             "been accepted, so it is not sent again (at most once, adr/0019)")

# The server answered "no" (or was never reached): the mail was certainly not accepted, and
# sending it again cannot duplicate it. Anything else during the conversation is ambiguous.
REFUSED = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError,
           smtplib.SMTPHeloError)


class NotSent(Exception):
    """The SMTP server certainly did not accept the digest: it may be sent again."""


# --- the person's choice -------------------------------------------------------------------------


def frequency_of(user: User) -> str:
    """The person's digest frequency; `none` unless they chose otherwise (mail is opt-in)."""
    chosen = DigestPreference.objects.filter(user_id=user.id).values_list("frequency", flat=True).first()
    return chosen or DigestFrequency.NONE


def valid_frequency(value: object) -> str:
    if not isinstance(value, str) or value not in DigestFrequency.values:
        raise Invalid(f"{value!r} is not a digest frequency (choose one of {', '.join(DigestFrequency.values)})",
                      field="frequency")
    return value


@transaction.atomic(durable=True)
def set_digest_frequency(user: User, frequency: object, *, via: str = "preferences") -> str:
    """Set how often `user` gets digests (`via`: the page or the unsubscribe link, for the
    history). Invalid naming `frequency` for anything but none, daily or weekly."""
    chosen = valid_frequency(frequency)
    if user.tenant_id is None:
        raise NotFound("platform staff get no digests")
    before = frequency_of(user)
    DigestPreference.objects.bulk_create(
        [DigestPreference(user_id=user.id, tenant_id=user.tenant_id, frequency=chosen, changed_at=timezone.now())],
        update_conflicts=True, unique_fields=["user"], update_fields=["frequency", "changed_at"])
    emit("learning.digest_frequency_changed", aggregate_type="user", aggregate_id=user.id,
         channel=user_channel(user.tenant_id, user.id), tenant_id=user.tenant_id, actor_id=user.id,
         payload={"user_id": user.id, "frequency": chosen, "previous": before, "via": via})
    return chosen


def unsubscribe_token(user: User) -> str:
    """The signed credential of the unsubscribe link. It never expires (an old digest's link
    must still work) and can do one thing only: turn that person's digests off."""
    return signing.dumps({"u": user.id, "t": user.tenant_id}, salt=UNSUBSCRIBE_SALT)


def user_of_token(token: str) -> User:
    """The active person an unsubscribe token was made for; NotFound for a forged or altered
    token, or a person who no longer exists or is deactivated."""
    try:
        claims = signing.loads(token, salt=UNSUBSCRIBE_SALT)
        user = User.objects.select_related("tenant").get(id=int(claims["u"]), tenant_id=int(claims["t"]),
                                                          is_active=True)
    except (signing.BadSignature, KeyError, TypeError, ValueError, User.DoesNotExist):
        raise NotFound("this unsubscribe link is not valid") from None
    return user


def unsubscribe_url(user: User) -> str:
    return settings.FERRY_BASE_URL + reverse("learning:digest_unsubscribe", kwargs={"token": unsubscribe_token(user)})


# --- the planner (beat: learning.plan_digests) ------------------------------------------------------


@dataclass
class PlanResult:
    planned: int = 0
    reemitted: int = 0
    abandoned: int = 0
    more: bool = False  # stopped at DIGEST_MAX_BATCHES: the next run goes on

    def as_dict(self) -> dict[str, int]:
        return {"planned": self.planned, "reemitted": self.reemitted, "abandoned": self.abandoned,
                "more": int(self.more)}


def due_digests(now: datetime, limit: int = 100) -> list[dict[str, Any]]:
    """Who is due a digest at `now` and has none for the period yet (the planner's selector,
    without writing): user_id, tenant_id, frequency, period_key, due_at."""
    return _rows(queries.DUE_DIGESTS, {"now": now, "hour": settings.DIGEST_LOCAL_HOUR, "batch": limit})


def _rows(statement: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _emit_send(row: dict[str, Any]) -> None:
    emit("learning.digest_due", aggregate_type="digest", aggregate_id=row["id"], task=SEND_TASK,
         tenant_id=row["tenant_id"], payload={"digest_id": row["id"]})


@transaction.atomic(durable=True)
def plan_digest_batch(now: datetime, batch: int) -> int:
    """One batch: a pending digest and its send event for up to `batch` due people, in one
    transaction. Returns how many; fewer than `batch` means nobody else is due."""
    rows = _rows(queries.PLAN_DIGESTS, {"now": now, "hour": settings.DIGEST_LOCAL_HOUR, "batch": batch})
    for row in rows:
        _emit_send(row)
    return len(rows)


@transaction.atomic(durable=True)
def reemit_lost_digests(now: datetime, batch: int) -> int:
    """Pending digests whose send event is older than DIGEST_REEMIT_AFTER_S get a fresh one
    (a duplicate is harmless: only one delivery can claim the digest)."""
    rows = _rows(queries.REEMIT_DIGESTS, {"now": now, "after_s": settings.DIGEST_REEMIT_AFTER_S, "batch": batch})
    for row in rows:
        _emit_send(row)
    return len(rows)


@transaction.atomic(durable=True)
def abandon_dead_claims(now: datetime) -> int:
    """Digests claimed by a delivery that is past its hard time limit become uncertain."""
    return len(_rows(queries.ABANDON_DIGEST_CLAIMS, {"now": now, "error": ABANDONED}))


def plan_digests(now: datetime | None = None) -> PlanResult:
    """The periodic job: plan every due digest (bounded: DIGEST_MAX_BATCHES batches), then heal.
    Because it reads only PostgreSQL, a run after downtime or a flushed broker finds the same
    people again: whoever has no digest for the current period gets one."""
    now = now or timezone.now()
    result = PlanResult()
    for _ in range(settings.DIGEST_MAX_BATCHES):
        planned = plan_digest_batch(now, settings.DIGEST_BATCH)
        result.planned += planned
        if planned < settings.DIGEST_BATCH:
            break
    else:
        result.more = True
    result.reemitted = reemit_lost_digests(now, settings.DIGEST_BATCH)
    result.abandoned = abandon_dead_claims(now)
    log.info("learning.digests_planned", **result.as_dict())
    return result


# --- one digest (learning.send_digest) ---------------------------------------------------------------


@dataclass
class Claimed:
    """A digest this delivery holds, its window, and how far the send got."""

    digest_id: int
    tenant_id: int
    user_id: int
    covered_from: datetime
    covered_until: datetime
    event_id: str
    accepted: bool = False  # the SMTP server accepted the mail
    count: int = field(default=0)


@dataclass(frozen=True)
class DigestItem:
    message: str
    reason: str
    at: str  # local time of the notice, in the person's zone
    url: str


def digest_notifications(user: User, tenant_id: int, since: datetime, until: datetime,
                         limit: int) -> tuple[list[Notification], int]:
    """The person's unread notices of their own agency created in (since, until], newest first
    (at most `limit`), and how many there are in all."""
    found = Notification.objects.filter(recipient_id=user.id, tenant_id=tenant_id, read_at__isnull=True,
                                        created_at__gt=since, created_at__lte=until)
    return list(found.select_related("version").order_by("-created_at", "-id")[:limit]), found.count()


def _item(notification: Notification, user: User) -> DigestItem:
    url = settings.FERRY_BASE_URL + reverse("learning:version", kwargs={"version_id": notification.version_id})
    at = timezone.localtime(notification.created_at, user.zone).strftime("%a %d %b, %H:%M")
    return DigestItem(notification.message, notification.reason, at, url)


def compose(claimed: Claimed) -> EmailMultiAlternatives | None:
    """The digest's mail (plain text and HTML), or None when there is nothing to send: nothing
    unread in its window, or the person turned digests off or was deactivated since."""
    user = User.objects.select_related("tenant").filter(id=claimed.user_id, tenant_id=claimed.tenant_id,
                                                        is_active=True).first()
    if user is None or not user.email or frequency_of(user) == DigestFrequency.NONE or user.tenant is None:
        return None
    notifications, total = digest_notifications(user, claimed.tenant_id, claimed.covered_from,
                                                claimed.covered_until, settings.DIGEST_MAX_ITEMS)
    if not total:
        return None
    claimed.count = total
    context = {"user": user, "agency": user.tenant.name, "items": [_item(n, user) for n in notifications],
               "total": total, "more": total - len(notifications), "unsubscribe_url": unsubscribe_url(user),
               "learn_url": settings.FERRY_BASE_URL + reverse("learning:index"),
               "preferences_url": settings.FERRY_BASE_URL + reverse("learning:digest_preferences")}
    subject = f"{user.tenant.name}: {total} unread notice{'s' if total != 1 else ''} on Ferry"
    message = EmailMultiAlternatives(
        subject=subject, body=render_to_string("learning/mail/digest.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL, to=[user.email],
        headers={"List-Unsubscribe": f"<{context['unsubscribe_url']}>",
                 "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                 "Message-ID": f"<ferry-digest-{claimed.digest_id}@{urlsplit(settings.FERRY_BASE_URL).hostname}>"})
    message.attach_alternative(render_to_string("learning/mail/digest.html", context), "text/html")
    return message


def hand_over(message: EmailMultiAlternatives) -> None:
    """Give the mail to the SMTP server. NotSent when it certainly was not accepted (no
    connection, or the server answered no); any other error leaves it ambiguous."""
    smtp = get_connection(fail_silently=False)
    try:
        smtp.open()
    except (OSError, smtplib.SMTPException) as exc:
        raise NotSent(f"no SMTP connection: {type(exc).__name__}: {exc}") from exc
    try:
        smtp.send_messages([message])
    except REFUSED as exc:
        raise NotSent(f"the SMTP server refused the digest: {type(exc).__name__}: {exc}") from exc
    finally:
        # After the server's answer to the message, QUIT failing changes nothing.
        with contextlib.suppress(OSError, smtplib.SMTPException):
            smtp.close()


class SendDigest:
    """One digest, as the learning.send_digest task sends it (outbox.jobs.Job)."""

    def __init__(self, digest_id: int, tenant_id: int, lease_s: float) -> None:
        self.digest_id, self.tenant_id, self.lease_s = digest_id, tenant_id, lease_s

    def claim(self, event_id: str | None) -> Claimed | None:
        """Take the pending digest for this delivery (committed before anything is mailed).
        None when there is nothing to send: already sent, empty, uncertain, held by another
        live delivery, or claimed before by this same event (whose execution then died: the
        digest is settled as uncertain, never sent twice)."""
        with transaction.atomic(durable=True):
            row = _rows(queries.CLAIM_DIGEST, {"id": self.digest_id, "tenant_id": self.tenant_id,
                                               "event_id": event_id, "lease_s": self.lease_s})
            if not row:
                settled = _rows(queries.SETTLE_ABANDONED_DIGEST, {"id": self.digest_id, "tenant_id": self.tenant_id,
                                                                  "event_id": event_id, "error": ABANDONED})
                if settled:
                    log.warning("learning.digest_uncertain", digest_id=self.digest_id, reason="claimed before, died")
                return None
        return Claimed(self.digest_id, self.tenant_id, row[0]["user_id"], row[0]["covered_from"],
                       row[0]["covered_until"], str(event_id))

    def work(self, claimed: Claimed) -> int:
        """Mail the digest; how many notices it listed (0: nothing mailed)."""
        message = compose(claimed)
        if message is None:
            return 0
        hand_over(message)
        claimed.accepted = True
        return claimed.count

    def record(self, claimed: Claimed, count: int) -> str:
        """Inside the task's effects(): the digest is sent (or empty)."""
        return _settle(claimed, Digest.Status.SENT if count else Digest.Status.EMPTY, count)

    def failed(self, claimed: Claimed, error: BaseException, final: bool) -> None:
        """After an error: accepted mail is recorded as sent; mail certainly not accepted goes
        back to pending for the retry (failed, if this was the last); anything else is
        uncertain, and never sent again."""
        with transaction.atomic(durable=True):
            if claimed.accepted:
                _settle(claimed, Digest.Status.SENT, claimed.count, f"recorded after an error: {error}")
            elif isinstance(error, NotSent) and not final:
                Digest.objects.filter(id=claimed.digest_id, status=Digest.Status.SENDING,
                                      claimed_event=claimed.event_id).update(
                    status=Digest.Status.PENDING, claimed_event=None, deadline_at=None, error=str(error)[:2000])
            else:
                status = Digest.Status.FAILED if isinstance(error, NotSent) else Digest.Status.UNCERTAIN
                _settle(claimed, status, 0, f"{type(error).__name__}: {error}")


def _settle(claimed: Claimed, status: str, count: int, error: str = "") -> str:
    """Move the claimed digest to its final status; a sent digest is an event in the history
    (and on the person's own channel)."""
    sent_at = timezone.now() if status == Digest.Status.SENT else None
    moved = Digest.objects.filter(id=claimed.digest_id, status=Digest.Status.SENDING,
                                  claimed_event=claimed.event_id).update(
        status=status, notifications=count, sent_at=sent_at, error=error[:2000])
    if moved and status == Digest.Status.SENT:
        emit("learning.digest_sent", aggregate_type="digest", aggregate_id=claimed.digest_id,
             channel=user_channel(claimed.tenant_id, claimed.user_id), tenant_id=claimed.tenant_id,
             payload={"digest_id": claimed.digest_id, "user_id": claimed.user_id, "notifications": count})
    log.info("learning.digest_settled", digest_id=claimed.digest_id, status=status, notifications=count)
    return status
