"""Stale-draft reminders (core/learning/reminders.py): a draft still its content's latest
version STALE_DRAFT_DAYS after it was written reminds its author once per threshold, in-app
(a notification and a live event on their own channel) and so in their next digest."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from core.accounts.models import User
from core.learning import digests, services
from core.learning.models import DraftReminder, Kind, Notification, Version
from core.learning.reminders import remind_stale_drafts
from tests.helpers.mail import MailServer, mail_server_fixture, parts, smtp_fixture  # noqa: F401  # fixtures
from tests.helpers.outbox import deliver, events_of

pytestmark = pytest.mark.django_db

LATER = timedelta(days=8)  # past the default threshold of 7 days


def reminders_of(user: User) -> list[str]:
    return list(Notification.objects.filter(recipient=user, reason="stale_draft").values_list("message", flat=True))


@pytest.fixture
def draft(bob: User) -> Version:
    return services.create_content(bob, Kind.LESSON, "Hand hygiene", "Wash hands.")


def test_a_stale_draft_reminds_its_author_once_even_when_the_job_runs_twice(bob: User, draft: Version) -> None:
    assert remind_stale_drafts(timezone.now() + timedelta(days=6)) == 0  # not stale yet
    assert remind_stale_drafts(timezone.now() + LATER) == 1
    assert remind_stale_drafts(timezone.now() + LATER) == 0
    assert reminders_of(bob) == ["Your draft “Hand hygiene” (v1) has not changed for 7 days: submit it for review, "
                                 "or write a new version."]
    (live,) = [e for e in events_of("notification.created") if e.payload["reason"] == "stale_draft"]
    assert live.channel == f"tenant:{bob.tenant_id}:user:{bob.id}:events"
    assert live.payload["version_id"] == draft.id


def test_pruned_notifications_do_not_make_a_draft_remind_again(bob: User, draft: Version) -> None:
    remind_stale_drafts(timezone.now() + LATER)
    Notification.objects.filter(recipient=bob).delete()  # what retention does after its window
    assert remind_stale_drafts(timezone.now() + LATER) == 0
    assert DraftReminder.objects.filter(version=draft, threshold_days=7).count() == 1


def test_a_new_threshold_reminds_once_more(bob: User, draft: Version) -> None:
    remind_stale_drafts(timezone.now() + LATER)
    assert remind_stale_drafts(timezone.now() + timedelta(days=31), days=30) == 1
    assert len(reminders_of(bob)) == 2


def test_submitted_superseded_and_deactivated_authors_drafts_remind_nobody(bob: User, rita: User) -> None:
    submitted = services.create_content(bob, Kind.LESSON, "Submitted", "Body.")
    services.submit_for_review(submitted.id, bob)
    superseded = services.create_content(bob, Kind.LESSON, "Superseded", "Body.")
    services.create_version(superseded.content_id, bob, "Superseded, take two", "Body.")  # itself a draft
    services.create_content(rita, Kind.LESSON, "Rita's", "Body.")
    User.objects.filter(id=rita.id).update(is_active=False)
    assert remind_stale_drafts(timezone.now() + LATER) == 1
    assert [m.split("”")[0] for m in reminders_of(bob)] == ["Your draft “Superseded, take two"]
    assert reminders_of(rita) == []


def test_each_agency_reminds_its_own_authors(bob: User, carol: User, draft: Version) -> None:
    theirs = services.create_content(carol, Kind.LESSON, "Northside onboarding", "Body.")
    remind_stale_drafts(timezone.now() + LATER)
    assert {(n.recipient_id, n.tenant_id, n.version_id) for n in Notification.objects.all()} == {
        (bob.id, bob.tenant_id, draft.id), (carol.id, carol.tenant_id, theirs.id)}


def test_the_reminder_is_in_the_authors_next_digest(bob: User, draft: Version, smtp: MailServer,
                                                     settings: Any) -> None:
    settings.DIGEST_LOCAL_HOUR = 0
    bob.email = "bob@harbor.example"
    bob.save(update_fields=["email"])
    digests.set_digest_frequency(bob, "daily")
    remind_stale_drafts(timezone.now() + LATER)
    digests.plan_digests()
    deliver("learning.send_digest")
    text = parts(smtp.wait_for("bob@harbor.example"))["text/plain"]
    assert "Your draft “Hand hygiene” (v1) has not changed for 7 days" in text
