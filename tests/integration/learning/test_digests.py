"""Email digests (core/learning/digests.py, adr/0019-digests.md): opt-in, planned at each
person's local morning from PostgreSQL alone, mailed over real SMTP at most once per period,
with the agency's name, an unsubscribe link that works without signing in, and nothing of
another agency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client

from core.accounts.models import Tenant, User
from core.learning import digests, services
from core.learning.digests import SendDigest
from core.learning.models import Digest, DigestFrequency, Kind, Notification, Version
from core.platform.roles import Role
from outbox.models import OutboxEvent
from tests.helpers.mail import MailServer, mail_server_fixture, parts, smtp_fixture  # noqa: F401  # fixtures
from tests.helpers.outbox import deliver, events_of, execute, pending_tasks
from tests.helpers.people import make_user
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db


def with_mail(user: User, zone: str = "") -> User:
    user.email = f"{user.username}@{user.tenant.slug if user.tenant else 'ferry'}.example"
    user.time_zone = zone
    user.save(update_fields=["email", "time_zone"])
    return user


def daily(user: User, zone: str = "") -> User:
    digests.set_digest_frequency(with_mail(user, zone), "daily")
    return user


def notice(recipient: User, version: Version, text: str, *, tenant: Tenant | None = None) -> Notification:
    tenant_id = tenant.id if tenant else recipient.tenant_id
    assert tenant_id is not None
    return Notification.objects.create(tenant_id=tenant_id, recipient=recipient, reason="reply",
                                       source=f"test:{text}", version=version, message=text)


@pytest.fixture
def draft(rita: User) -> Version:
    return services.create_content(rita, Kind.LESSON, "Hand hygiene", "Wash hands.")


@pytest.fixture
def morning_now(settings: Any) -> datetime:
    """Every local morning has come (the planner treats 00:00 as the morning): plan at real now."""
    settings.DIGEST_LOCAL_HOUR = 0
    return datetime.now(UTC)


# --- the preference ---------------------------------------------------------------------------------


def test_nobody_gets_a_digest_until_they_choose_one(bob: User) -> None:
    with_mail(bob)
    assert digests.frequency_of(bob) == DigestFrequency.NONE
    assert digests.due_digests(datetime.now(UTC) + timedelta(days=2)) == []


def test_the_preference_page_saves_a_choice_and_refuses_an_unknown_one_naming_the_field(bob: User) -> None:
    client = Client()
    sign_in(client, bob)
    assert client.get("/learning/digest/").status_code == 200
    refused = client.post("/learning/digest/", {"frequency": "hourly"})
    assert refused.status_code == 400
    assert b'id="error-frequency"' in refused.content
    assert b"frequency" in refused.content
    assert digests.frequency_of(bob) == DigestFrequency.NONE
    assert events_of("learning.digest_frequency_changed") == []  # nothing half-written
    assert client.post("/learning/digest/", {}).status_code == 400
    saved = client.post("/learning/digest/", {"frequency": "weekly"})
    assert saved.status_code == 302
    assert digests.frequency_of(bob) == DigestFrequency.WEEKLY
    (event,) = events_of("learning.digest_frequency_changed")
    assert event.payload == {"user_id": bob.id, "frequency": "weekly", "previous": "none", "via": "preferences"}


# --- local morning ----------------------------------------------------------------------------------


def due_at(now: datetime) -> set[tuple[str, str]]:
    names = dict(User.objects.values_list("id", "username"))
    return {(names[row["user_id"]], row["period_key"]) for row in digests.due_digests(now)}


def test_the_local_morning_comes_in_each_zone_including_a_dst_change_day(harbor: Tenant) -> None:
    harbor.time_zone = "America/New_York"
    harbor.save(update_fields=["time_zone"])
    ny = daily(make_user("nora", harbor, Role.REVIEWER))  # the agency's zone
    lisbon = daily(make_user("luis", harbor, Role.LEARNER), "Europe/Lisbon")
    daily(make_user("kiran", harbor, Role.LEARNER), "Asia/Kolkata")
    assert ny.zone.key == "America/New_York"
    assert lisbon.zone.key == "Europe/Lisbon"
    # Saturday 8 March 2025, New York still on EST (UTC-5): 07:00 there is 12:00 UTC.
    assert due_at(datetime(2025, 3, 8, 11, 59, tzinfo=UTC)) == {("luis", "2025-03-08"), ("kiran", "2025-03-08")}
    assert ("nora", "2025-03-08") in due_at(datetime(2025, 3, 8, 12, 0, tzinfo=UTC))
    # Sunday 9 March 2025, the DST change day: New York on EDT (UTC-4), 07:00 is 11:00 UTC.
    assert ("nora", "2025-03-09") not in due_at(datetime(2025, 3, 9, 10, 59, tzinfo=UTC))
    assert ("nora", "2025-03-09") in due_at(datetime(2025, 3, 9, 11, 0, tzinfo=UTC))
    # Kolkata (UTC+5:30, no DST): 07:00 on the 10th is 01:30 UTC; at 23:00 UTC on the 9th it is
    # already the 10th there, but not yet morning.
    assert ("kiran", "2025-03-10") not in due_at(datetime(2025, 3, 9, 23, 0, tzinfo=UTC))
    assert ("kiran", "2025-03-10") in due_at(datetime(2025, 3, 10, 1, 30, tzinfo=UTC))
    # Lisbon's own DST change, Sunday 30 March 2025: WEST (UTC+1), 07:00 is 06:00 UTC.
    assert ("luis", "2025-03-29") not in due_at(datetime(2025, 3, 29, 6, 30, tzinfo=UTC))
    assert ("luis", "2025-03-30") in due_at(datetime(2025, 3, 30, 6, 0, tzinfo=UTC))


def test_a_weekly_digest_is_due_from_monday_morning_and_caught_up_later_that_week(bob: User) -> None:
    digests.set_digest_frequency(with_mail(bob), "weekly")  # Harbor's zone: UTC
    assert due_at(datetime(2025, 3, 10, 6, 59, tzinfo=UTC)) == set()  # Monday, before 07:00
    assert due_at(datetime(2025, 3, 10, 7, 0, tzinfo=UTC)) == {("bob", "2025-W11")}
    # The beat was down until Wednesday afternoon: the week's digest goes then.
    assert digests.plan_digests(datetime(2025, 3, 12, 15, 0, tzinfo=UTC)).planned == 1
    assert due_at(datetime(2025, 3, 16, 23, 0, tzinfo=UTC)) == set()  # nothing more that week


def test_a_day_of_downtime_sends_one_digest_for_today_not_one_for_yesterday(bob: User) -> None:
    daily(bob)
    assert digests.plan_digests(datetime(2025, 3, 8, 7, 15, tzinfo=UTC)).planned == 1
    # The beat is down from then until the 10th: the 9th's digest is never planned, and the
    # 10th's covers everything unread since the last digest that went out.
    assert digests.plan_digests(datetime(2025, 3, 10, 9, 0, tzinfo=UTC)).planned == 1
    assert sorted(Digest.objects.values_list("period_key", flat=True)) == ["2025-03-08", "2025-03-10"]


# --- planning and sending ----------------------------------------------------------------------------


def test_the_job_run_twice_plans_and_mails_one_digest_per_person(bob: User, rita: User, draft: Version,
                                                                  morning_now: datetime, smtp: MailServer) -> None:
    daily(bob), daily(rita)
    notice(bob, draft, "rita replied on “Hand hygiene” (v1)")
    notice(rita, draft, "bob approved “Hand hygiene” (v1)")
    first, second = digests.plan_digests(morning_now), digests.plan_digests(morning_now)
    assert (first.planned, second.planned) == (2, 0)
    sends = pending_tasks("learning.send_digest")
    assert len(sends) == 2
    assert {e.queue for e in sends} == {"batch"}
    for event in sends:
        execute(event)
        execute(event)  # a duplicate delivery
    assert len(smtp.messages("bob@harbor.example")) == 1
    assert len(smtp.messages("rita@harbor.example")) == 1
    assert set(Digest.objects.values_list("status", flat=True)) == {"sent"}


def test_the_digest_names_the_agency_has_both_parts_and_an_unsubscribe_header(
        bob: User, draft: Version, morning_now: datetime, smtp: MailServer) -> None:
    daily(bob)
    notice(bob, draft, "rita replied on “Hand hygiene” (v1)")
    digests.plan_digests(morning_now)
    deliver("learning.send_digest")
    mail = smtp.wait_for("bob@harbor.example")
    assert mail["Subject"] == "Harbor Home Health: 1 unread notice on Ferry"
    text, html = parts(mail)["text/plain"], parts(mail)["text/html"]
    assert "Harbor Home Health" in text
    assert "rita replied on “Hand hygiene” (v1)" in text
    assert "Harbor Home Health" in html
    assert f"/learning/review/versions/{draft.id}/" in html
    # The link is signed with the time it was made, so it is checked by what it names, not
    # against one made again a second later.
    link = "".join(mail["List-Unsubscribe"].split()).removeprefix("<").removesuffix(">")  # unfolded
    base = digests.unsubscribe_url(bob).rsplit("/", 2)[0]
    assert link.startswith(base + "/")
    assert digests.user_of_token(link.rstrip("/").rsplit("/", 1)[1]) == bob
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert link in text


def test_another_agencys_notices_are_never_in_a_digest(bob: User, carol: User, draft: Version,
                                                        morning_now: datetime, smtp: MailServer) -> None:
    daily(bob), daily(carol)
    theirs = services.create_content(carol, Kind.LESSON, "Northside onboarding", "Secret plans.")
    notice(bob, draft, "rita replied on “Hand hygiene” (v1)")
    notice(carol, theirs, "Northside news for carol")
    # A row that pairs Harbor's Bob with Northside's agency (it should never exist): still left out.
    notice(bob, theirs, "Northside onboarding leaked", tenant=carol.tenant)
    digests.plan_digests(morning_now)
    deliver("learning.send_digest")
    bobs = parts(smtp.wait_for("bob@harbor.example"))["text/plain"]
    carols = parts(smtp.wait_for("carol@northside.example"))["text/plain"]
    assert "Northside" not in bobs
    assert "Hand hygiene" in bobs
    assert "Harbor" not in carols
    assert "Hand hygiene" not in carols
    assert "Northside Care" in carols
    assert {e.tenant_id for e in events_of("learning.digest_due")} == {bob.tenant_id, carol.tenant_id}


def test_the_next_digest_lists_only_what_came_since_and_is_still_unread(
        bob: User, draft: Version, morning_now: datetime, smtp: MailServer) -> None:
    daily(bob)
    notice(bob, draft, "first notice")
    digests.plan_digests(morning_now)
    deliver("learning.send_digest")
    read = notice(bob, draft, "read before the next digest")
    Notification.objects.filter(id=read.id).update(read_at=datetime.now(UTC))
    notice(bob, draft, "second notice")
    digests.plan_digests(morning_now + timedelta(days=1))
    deliver("learning.send_digest")
    texts = sorted(parts(m)["text/plain"] for m in smtp.messages("bob@harbor.example"))
    assert len(texts) == 2
    later = next(t for t in texts if "second notice" in t)
    assert "first notice" not in later
    assert "read before" not in later


def test_nothing_unread_sends_no_mail(bob: User, morning_now: datetime, smtp: MailServer) -> None:
    daily(bob)
    digests.plan_digests(morning_now)
    deliver("learning.send_digest")
    assert smtp.messages() == []
    assert Digest.objects.get(user=bob).status == "empty"


# --- at most once when deliveries fail ----------------------------------------------------------------


def test_a_delivery_that_fails_after_the_smtp_server_accepted_does_not_mail_again(
        bob: User, draft: Version, morning_now: datetime, smtp: MailServer, monkeypatch: pytest.MonkeyPatch) -> None:
    daily(bob)
    notice(bob, draft, "rita replied")
    digests.plan_digests(morning_now)
    (event,) = pending_tasks("learning.send_digest")

    def dies_before_commit(self: SendDigest, claimed: Any, count: int) -> str:
        raise RuntimeError("worker lost its database connection before the commit")

    with monkeypatch.context() as patched:
        patched.setattr(SendDigest, "record", dies_before_commit)
        execute(event)
    assert OutboxEvent.objects.get(id=event.id).status == "pending"  # retried through the outbox
    execute(OutboxEvent.objects.get(id=event.id))  # the retry
    assert len(smtp.messages("bob@harbor.example")) == 1
    digest = Digest.objects.get(user=bob)
    assert digest.status == "sent"
    assert "recorded after an error" in digest.error


def test_a_delivery_killed_between_the_send_and_the_record_is_never_sent_twice(
        bob: User, draft: Version, morning_now: datetime, smtp: MailServer) -> None:
    """The worker dies with no chance to say so (SIGKILL): the claim and the mail happened, the
    record did not. The redelivery of the same event finds the claim and sends nothing; the
    digest is uncertain, and its notices are listed again in the next one."""
    daily(bob)
    notice(bob, draft, "rita replied")
    digests.plan_digests(morning_now)
    (event,) = pending_tasks("learning.send_digest")
    assert bob.tenant_id is not None
    job = SendDigest(int(event.payload["digest_id"]), bob.tenant_id, lease_s=90)
    claimed = job.claim(str(event.event_id))
    assert claimed is not None
    job.work(claimed)  # mailed; then the worker is gone
    execute(event)  # the outbox sweep's redelivery
    assert len(smtp.messages("bob@harbor.example")) == 1
    assert Digest.objects.get(user=bob).status == "uncertain"
    assert OutboxEvent.objects.get(id=event.id).status == "completed"
    digests.plan_digests(morning_now + timedelta(days=1))
    deliver("learning.send_digest")
    assert sum("rita replied" in parts(m)["text/plain"] for m in smtp.messages("bob@harbor.example")) == 2


def test_a_refusing_smtp_server_is_retried_and_the_digest_goes_once_it_answers(
        bob: User, draft: Version, morning_now: datetime, smtp: MailServer, settings: Any) -> None:
    daily(bob)
    notice(bob, draft, "rita replied")
    digests.plan_digests(morning_now)
    (event,) = pending_tasks("learning.send_digest")
    port, settings.EMAIL_PORT = settings.EMAIL_PORT, 9  # nothing listens there: connection refused
    execute(event)
    digest = Digest.objects.get(user=bob)
    assert digest.status == "pending"
    assert "no SMTP connection" in digest.error
    settings.EMAIL_PORT = port
    execute(OutboxEvent.objects.get(id=event.id))
    assert len(smtp.messages("bob@harbor.example")) == 1
    assert Digest.objects.get(user=bob).status == "sent"


def test_the_planner_reemits_lost_events_and_settles_dead_claims(bob: User, rita: User, draft: Version,
                                                                 morning_now: datetime, smtp: MailServer) -> None:
    daily(bob), daily(rita)
    notice(bob, draft, "rita replied")
    digests.plan_digests(morning_now)
    # Bob's send event was lost with a flushed broker an hour ago; Rita's claim holder died.
    Digest.objects.filter(user=bob).update(emitted_at=morning_now - timedelta(hours=2))
    Digest.objects.filter(user=rita).update(status="sending", deadline_at=morning_now - timedelta(seconds=1))
    healed = digests.plan_digests(morning_now)
    assert (healed.planned, healed.reemitted, healed.abandoned) == (0, 1, 1)
    deliver("learning.send_digest")  # bob's original event and the fresh one: one mail
    assert len(smtp.messages("bob@harbor.example")) == 1
    assert smtp.messages("rita@harbor.example") == []
    assert dict(Digest.objects.values_list("user__username", "status")) == {"bob": "sent", "rita": "uncertain"}


# --- unsubscribe ----------------------------------------------------------------------------------------


def test_the_unsubscribe_link_asks_then_turns_digests_off_without_signing_in(bob: User) -> None:
    daily(bob)
    path = digests.unsubscribe_url(bob).split("://", 1)[1].split("/", 1)[1]
    page = Client().get("/" + path)
    assert page.status_code == 200
    assert b"Harbor Home Health" in page.content
    assert digests.frequency_of(bob) == DigestFrequency.DAILY  # a GET (a mail scanner) changes nothing
    done = Client(enforce_csrf_checks=True).post("/" + path, {"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert b'id="unsubscribed"' in done.content
    assert digests.frequency_of(bob) == DigestFrequency.NONE
    assert events_of("learning.digest_frequency_changed")[-1].payload["via"] == "unsubscribe link"


def test_a_forged_or_altered_unsubscribe_link_is_404(bob: User, carol: User) -> None:
    daily(bob)
    token = digests.unsubscribe_token(bob)
    forged = token.replace(token[-3:], "abc" if token[-3:] != "abc" else "xyz")
    for bad in (forged, "nothing", digests.unsubscribe_token(carol).split(":")[0] + ":" + token.split(":", 1)[1]):
        assert Client().get(f"/learning/digest/unsubscribe/{bad}/").status_code == 404
        assert Client().post(f"/learning/digest/unsubscribe/{bad}/").status_code == 404
    assert digests.frequency_of(bob) == DigestFrequency.DAILY
