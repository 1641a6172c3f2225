"""Review activity fans out as one notification per recipient (written by the learning.notify
task on the default queue) and a live event on each recipient's own channel."""

from __future__ import annotations

import pytest
from django.test import Client

from core.accounts.models import User
from core.learning import services
from core.learning.models import Kind, Notification, Version
from core.learning.notifications import fan_out, mentioned_usernames
from tests.helpers.outbox import deliver, events_of, execute, pending_tasks
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


def inbox(user: User) -> list[tuple[str, str]]:
    return [(n.reason, n.message) for n in Notification.objects.filter(recipient=user).order_by("id")]


@pytest.fixture
def in_review(bob: User) -> Version:
    version = services.create_content(bob, Kind.LESSON, "Hand hygiene", "Wash hands.")
    services.submit_for_review(version.id, bob)
    return version


def test_submitting_for_review_tells_the_other_reviewers(bob: User, rita: User, lena: User, in_review: Version) -> None:
    [event] = pending_tasks("learning.notify")
    assert event.queue == "default"
    deliver("learning.notify")
    assert inbox(rita) == [("submitted", "bob submitted “Hand hygiene” (v1) for review")]
    assert inbox(bob) == []  # not told about their own action
    assert inbox(lena) == []


def test_a_decision_tells_the_author_live_on_their_own_channel(bob: User, rita: User, in_review: Version) -> None:
    deliver()
    services.review_version(in_review.id, rita, "request_changes", "Say how long to wash.")
    deliver()
    assert inbox(bob) == [("decision", "rita requested changes on “Hand hygiene” (v1)")]
    notice = Notification.objects.get(recipient=bob)
    live = [e for e in events_of("notification.created") if e.aggregate_id == str(notice.id)]
    assert [e.channel for e in live] == [f"tenant:{bob.tenant_id}:user:{bob.id}:events"]
    assert live[0].payload["message"] == notice.message


def test_mentions_reach_reviewers_of_the_same_agency_only(bob: User, rita: User, lena: User, carol: User,
                                                           in_review: Version) -> None:
    deliver()
    services.review_version(in_review.id, rita, "approve", "Fine. @lena please read; @carol too; cc @bob.")
    deliver()
    assert inbox(lena) == []  # a learner may not see drafts: the mention resolves to nobody
    assert inbox(carol) == []  # another agency: the mention resolves to nobody
    assert inbox(bob) == [("mention", "rita mentioned you on “Hand hygiene” (v1)")]  # one notice, not two


def test_a_reply_tells_the_thread_but_not_its_writer(bob: User, rita: User, harbor: object, in_review: Version) -> None:
    from core.platform.roles import Role
    from tests.helpers.people import make_user

    deliver()
    review = services.review_version(in_review.id, rita, "reject", "Duplicate of the existing lesson.")
    services.reply_to_review(review.id, bob, "Which one?")
    nina = make_user("nina", harbor, Role.REVIEWER)  # type: ignore[arg-type]
    services.reply_to_review(review.id, nina, "The 2023 one, @bob.")
    deliver()
    assert inbox(rita)[1:] == [("reply", "bob replied on “Hand hygiene” (v1)"),
                               ("reply", "nina replied on “Hand hygiene” (v1)")]
    assert inbox(bob)[-1] == ("mention", "nina mentioned you on “Hand hygiene” (v1)")
    assert ("reply", "bob replied on “Hand hygiene” (v1)") not in inbox(bob)


def test_a_replayed_fan_out_writes_nothing_twice(bob: User, rita: User, in_review: Version) -> None:
    deliver()
    review = services.review_version(in_review.id, rita, "approve", "")
    [event] = pending_tasks("learning.notify")
    assert execute(event) == 1
    assert execute(event) is None  # duplicate delivery: the inbox absorbs it
    from django.db import transaction

    with transaction.atomic():  # even a fresh event for the same cause (a heal, a redrive) adds nothing
        assert fan_out("review", review.id, bob.tenant_id) == []  # type: ignore[arg-type]
    assert Notification.objects.filter(recipient=bob).count() == 1


def test_learners_read_and_mark_their_notifications(client: Client, bob: User, rita: User, in_review: Version) -> None:
    deliver()
    sign_in(client, rita)
    [notice] = client.get("/api/notifications").json()
    assert notice["read"] is False
    response = client.post(f"/api/notifications/{notice['id']}/read")
    assert response.json()["read"] is True
    sign_in(client, bob)
    assert client.post(f"/api/notifications/{notice['id']}/read").status_code == 404  # not bob's


@pytest.mark.parametrize(("text", "names"), [
    ("thanks @lena.", {"lena"}),
    ("@bob and @rita-k, see mail@example.com", {"bob", "rita-k"}),
    ("no mentions here", set()),
])
def test_mentions_are_at_usernames(text: str, names: set[str]) -> None:
    assert mentioned_usernames(text) == names
