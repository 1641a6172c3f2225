"""Spaced review (core/learning/review.py, adr/0020): Bob writes review questions into a lesson's
version; Lena finishes the lesson, answers, and FSRS schedules each item; the nightly build
makes each learner's due queue at their local midnight (New York across its spring DST change,
Tokyo, London), once per local day; Carol, at Northside, sees none of it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client, override_settings
from fsrs import Card, Rating, State

from core.accounts.models import User
from core.learning import review, services
from core.learning.models import LessonCompletion, ReviewAnswer, ReviewCard, ReviewDay, ReviewEntry, Version
from core.platform.errors import Conflict, Invalid, NotFound
from core.platform.roles import Role
from tests.helpers.learning import second_reviewer
from tests.helpers.outbox import events_of, execute, pending_tasks
from tests.helpers.people import make_user
from tests.helpers.web import sign_in

pytestmark = pytest.mark.django_db

ITEMS_TEXT = """
? How long should you rub your hands with soap?
- 5 seconds
+ 20 seconds
- 2 minutes

? Which of these need a new pair of gloves?
+ Between patients
+ After touching a soiled dressing
- Before answering the phone

? Name the most common route of transmission in home care.
= contact
= direct contact
"""


def lesson_with_items(author: User, reviewer: User, items: object = ITEMS_TEXT, title: str = "Hand hygiene") -> Version:
    """A published lesson whose live version carries `items`."""
    version = services.create_content(author, "lesson", title, "Wash for twenty seconds.", "", items)
    services.submit_for_review(version.id, author)
    services.review_version(version.id, second_reviewer(author, reviewer), "approve")
    services.publish_version(version.id, reviewer)
    return Version.objects.get(id=version.id)


@pytest.fixture
def lesson(bob: User, rita: User) -> Version:
    return lesson_with_items(bob, rita)


def card_of(learner: User, item: int) -> ReviewCard:
    return ReviewCard.objects.get(learner=learner, item=item)


def in_zone(user: User, zone: str) -> User:
    User.objects.filter(id=user.id).update(time_zone=zone)
    user.time_zone = zone
    return user


# --- authoring ---------------------------------------------------------------------------------------


def test_items_written_in_the_line_format_are_stored_with_the_version(lesson: Version) -> None:
    assert lesson.review_items == [
        {"kind": "choice", "prompt": "How long should you rub your hands with soap?",
         "options": ["5 seconds", "20 seconds", "2 minutes"], "correct": [1]},
        {"kind": "choice", "prompt": "Which of these need a new pair of gloves?",
         "options": ["Between patients", "After touching a soiled dressing", "Before answering the phone"],
         "correct": [0, 1]},
        {"kind": "short", "prompt": "Name the most common route of transmission in home care.",
         "answers": ["contact", "direct contact"]},
    ]


def test_items_are_immutable_like_the_rest_of_the_version(lesson: Version) -> None:
    with pytest.raises(DatabaseError, match="immutable"), transaction.atomic():
        Version.objects.filter(id=lesson.id).update(review_items=[])
    Version.objects.filter(id=lesson.id).update(status="approved")  # review fields still move


@pytest.mark.parametrize(("items", "fragment"), [
    ("- an option before any question", "line 1"),
    ("? Two kinds\n+ yes\n= yes", "not both"),
    ("? No right option\n- a\n- b", "correct"),
    ("? One option only\n+ a", "two options"),
    ([{"prompt": "", "answers": ["x"]}], "item 1 prompt"),
    ([{"prompt": "Q", "options": ["a", "b"], "correct": [2]}], "item 1 correct"),
    ([{"prompt": "Q", "kind": "essay"}], "kind"),
    ("? Q\n= a\n\n" * 21, "at most 20"),
    (42, "list"),
])
def test_bad_items_are_refused_naming_the_field(bob: User, items: object, fragment: str) -> None:
    with pytest.raises(Invalid) as refused:
        services.create_content(bob, "lesson", "Gloves", "Change them.", "", items)
    assert refused.value.field == "review_items"
    assert fragment in refused.value.message
    assert not Version.objects.exists()


def test_the_api_takes_items_as_json_and_refuses_bad_ones_with_400(client: Client, bob: User) -> None:
    sign_in(client, bob)
    good = {"title": "Gloves", "body": "Change them.",
            "review_items": [{"prompt": "Change gloves between patients?", "options": ["yes", "no"], "correct": [0]}]}
    created = client.post("/api/lessons", good, content_type="application/json")
    assert created.status_code == 201
    detail = client.get(f"/api/versions/{created.json()['id']}").json()
    assert detail["review_items"][0]["correct"] == [0]
    bad = client.post("/api/lessons", {**good, "review_items": [{"prompt": "Q", "answers": "contact"}]},
                      content_type="application/json")
    assert bad.status_code == 400
    assert "review_items" in json.dumps(bad.json())
    problem = client.post("/api/problems", {**good, "tests": "def test_x():\n    pass\n"},
                          content_type="application/json")
    assert problem.status_code == 400
    assert "only lessons" in json.dumps(problem.json())


def test_the_new_version_page_takes_items_and_shows_a_refusal_beside_the_field(
        client: Client, bob: User, lesson: Version) -> None:
    sign_in(client, bob)
    url = f"/learning/review/contents/{lesson.content_id}/new-version/"
    form = client.get(url)
    assert "? How long should you rub your hands with soap?" in form.content.decode()  # starts from the latest
    refused = client.post(url, {"title": "Hand hygiene", "body": "Twenty seconds.", "review_items": "? Q\n* x"})
    assert refused.status_code == 400
    assert 'id="error-review-items"' in refused.content.decode()
    saved = client.post(url, {"title": "Hand hygiene", "body": "Twenty seconds.", "review_items": "? Q\n= a"})
    assert saved.status_code == 302
    assert Version.objects.get(content_id=lesson.content_id, number=2).review_items[0]["answers"] == ["a"]


# --- finishing a lesson ----------------------------------------------------------------------------------


def test_finishing_a_lesson_schedules_its_items_due_now_once(lena: User, lesson: Version) -> None:
    finished = review.finish_lesson(lesson.content_id, lena)
    assert (finished.new, finished.scheduled, finished.due) == (True, 3, 3)
    cards = ReviewCard.objects.filter(learner=lena).order_by("item")
    assert [c.item for c in cards] == [0, 1, 2]
    assert all(c.state == State.Learning.value and c.reviews == 0 for c in cards)
    assert ReviewDay.objects.get(learner=lena).items == 3  # today's queue, built by the finish
    again = review.finish_lesson(lesson.content_id, lena)
    assert (again.new, again.scheduled, again.due) == (False, 0, 3)
    assert ReviewCard.objects.filter(learner=lena).count() == 3
    (event,) = events_of("lesson.finished")
    assert event.payload["due"] == 3
    assert event.channel == f"tenant:{lena.tenant_id}:user:{lena.id}:events"


def test_new_items_join_a_queue_that_was_already_built_today(lena: User, bob: User, rita: User,
                                                            lesson: Version) -> None:
    review.finish_lesson(lesson.content_id, lena)
    second = lesson_with_items(bob, rita, "? Gloves?\n= yes", title="Gloves")
    assert review.finish_lesson(second.content_id, lena).due == 4
    assert ReviewDay.objects.filter(learner=lena).count() == 1


def test_a_zone_postgresql_does_not_know_leaves_the_queue_unbuilt_rather_than_failing(
        lena: User, lesson: Version) -> None:
    in_zone(lena, "Mars/Olympus_Mons")
    finished = review.finish_lesson(lesson.content_id, lena)
    assert (finished.scheduled, finished.due) == (3, 0)
    assert not ReviewDay.objects.exists()


def test_only_a_published_lesson_of_ones_own_agency_can_be_finished(lena: User, carol: User, bob: User,
                                                                    lesson: Version) -> None:
    draft = services.create_content(bob, "lesson", "Draft", "Not yet.", "", "? Q\n= a")
    with pytest.raises(NotFound):
        review.finish_lesson(draft.content_id, lena)
    with pytest.raises(NotFound):
        review.finish_lesson(lesson.content_id, carol)
    assert not LessonCompletion.objects.exists()


# --- answering --------------------------------------------------------------------------------------------


def expected_after(card: ReviewCard, rating: Rating, at: datetime) -> Card:
    """What FSRS itself makes of the card (the scheduler review.py configures)."""
    before = Card(card_id=card.id, state=State(card.state), step=card.step, stability=card.stability,
                  difficulty=card.difficulty, due=card.due_at.astimezone(UTC),
                  last_review=card.last_review_at.astimezone(UTC) if card.last_review_at else None)
    return review.scheduler().review_card(before, rating, at.astimezone(UTC))[0]


def test_a_right_answer_schedules_the_next_review_as_fsrs_says(lena: User, lesson: Version) -> None:
    review.finish_lesson(lesson.content_id, lena)
    before = card_of(lena, 0)
    answered = review.answer(before.id, lena, choices=["1"])
    assert answered.correct
    assert answered.due == 2
    (record,) = ReviewAnswer.objects.filter(card=before)
    expected = expected_after(before, Rating.Good, record.answered_at)
    after = card_of(lena, 0)
    assert after.due_at == expected.due == answered.next_due_at
    assert (after.state, after.stability, after.difficulty) == (State.Review.value, expected.stability,
                                                                 expected.difficulty)
    assert after.due_at - record.answered_at >= timedelta(days=1)  # whole days: it leaves today's queue
    assert (record.rating, record.due_before, record.due_after) == (Rating.Good.value, before.due_at, after.due_at)


def test_a_wrong_answer_schedules_it_sooner_and_a_short_answer_is_compared_normalised(
        lena: User, lesson: Version) -> None:
    review.finish_lesson(lesson.content_id, lena)
    wrong = review.answer(card_of(lena, 1).id, lena, choices=["0"])  # one of the two right options only
    assert not wrong.correct
    assert wrong.expected == "Between patients; After touching a soiled dressing"
    right = review.answer(card_of(lena, 2).id, lena, answer="  Direct   CONTACT. ")
    assert right.correct
    assert card_of(lena, 1).due_at < card_of(lena, 2).due_at  # Again is sooner than Good
    assert (card_of(lena, 1).difficulty or 0) > (card_of(lena, 2).difficulty or 0)


def test_an_answer_counts_the_streak_day_and_updates_the_count_live(lena: User, lesson: Version) -> None:
    review.finish_lesson(lesson.content_id, lena)
    review.answer(card_of(lena, 0).id, lena, choices=["1"])
    (streak,) = events_of("streak.extended")
    assert streak.payload["current"] == 1
    (answered,) = events_of("review.answered")
    assert answered.payload == {"user_id": lena.id, "due": 2, "card_id": card_of(lena, 0).id, "correct": True}
    assert answered.channel == f"tenant:{lena.tenant_id}:user:{lena.id}:events"


def test_an_item_answered_today_is_not_due_again_and_nothing_is_written(lena: User, lesson: Version) -> None:
    review.finish_lesson(lesson.content_id, lena)
    card = card_of(lena, 0)
    review.answer(card.id, lena, choices=["1"])
    moved = card_of(lena, 0)
    with pytest.raises(Conflict) as refused:
        review.answer(card.id, lena, choices=["1"])
    assert refused.value.field == "card"
    assert card_of(lena, 0).due_at == moved.due_at
    assert ReviewAnswer.objects.count() == 1


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"choices": []}, "choices"),
    ({"choices": ["7"]}, "choices"),
    ({"choices": ["x"]}, "choices"),
    ({"answer": "   "}, "answer"),
    ({"answer": "a" * 201}, "answer"),
])
def test_impossible_responses_are_refused_naming_the_field(lena: User, lesson: Version, kwargs: dict[str, Any],
                                                           field: str) -> None:
    review.finish_lesson(lesson.content_id, lena)
    item = 2 if "answer" in kwargs else 0
    with pytest.raises(Invalid) as refused:
        review.answer(card_of(lena, item).id, lena, **kwargs)
    assert refused.value.field == field
    assert not ReviewAnswer.objects.exists()
    assert not ReviewEntry.objects.filter(answered_at__isnull=False).exists()


def test_another_learners_or_agencys_item_is_404_like_one_that_does_not_exist(
        lena: User, carol: User, harbor: Any, lesson: Version) -> None:
    review.finish_lesson(lesson.content_id, lena)
    card = card_of(lena, 0)
    colleague = make_user("lukas", harbor, Role.LEARNER)
    for who in (carol, colleague):
        with pytest.raises(NotFound):
            review.answer(card.id, who, choices=["1"])
    with pytest.raises(NotFound):
        review.answer(card.id + 1000, lena, choices=["1"])
    assert not ReviewAnswer.objects.exists()


# --- the nightly build --------------------------------------------------------------------------------------

# 2026-03-08 is New York's spring-forward day: it starts at 05:00 UTC (EST) and lasts 23 hours.
NY_MIDNIGHT = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)


@pytest.fixture
def three_zones(harbor: Any, lena: User, lesson: Version) -> dict[str, User]:
    """Lena in New York, Mia in Tokyo, Noah in London, each with the lesson's three cards; card 0
    due just before New York's 8 March ends, card 1 just after, card 2 long overdue."""
    learners = {"New York": in_zone(lena, "America/New_York"),
                "Tokyo": in_zone(make_user("mia", harbor, Role.LEARNER), "Asia/Tokyo"),
                "London": in_zone(make_user("noah", harbor, Role.LEARNER), "Europe/London")}
    for learner in learners.values():
        review.finish_lesson(lesson.content_id, learner)
    ReviewDay.objects.all().delete()  # start from no queues (the finish built today's, in 2026-12)
    end_of_ny_day = datetime(2026, 3, 9, 4, 0, tzinfo=UTC)
    ReviewCard.objects.filter(item=0).update(due_at=end_of_ny_day - timedelta(minutes=1))
    ReviewCard.objects.filter(item=1).update(due_at=end_of_ny_day)
    ReviewCard.objects.filter(item=2).update(due_at=datetime(2026, 2, 1, tzinfo=UTC))
    return learners


def build(tenant_id: int, now: datetime) -> dict[int, tuple[str, int]]:
    with transaction.atomic():
        return {q.learner_id: (q.day, q.items) for q in review.build_agency_queues(tenant_id, now)}


def queues() -> dict[tuple[int, str], list[int]]:
    """Every built queue: (learner, day) -> its cards' items."""
    found: dict[tuple[int, str], list[int]] = {}
    for entry in ReviewEntry.objects.select_related("day", "card").order_by("card__item"):
        found.setdefault((entry.day.learner_id, entry.day.day.isoformat()), []).append(entry.card.item)
    return found


def test_queues_are_built_at_each_learners_local_midnight_across_a_dst_change(
        harbor: Any, three_zones: dict[str, User]) -> None:
    ny, tokyo, london = three_zones["New York"], three_zones["Tokyo"], three_zones["London"]
    # A minute before New York's midnight: Tokyo's and London's 8 March have begun, New York is on 7 March.
    first = build(harbor.id, NY_MIDNIGHT - timedelta(minutes=1))
    assert first == {ny.id: ("2026-03-07", 1), tokyo.id: ("2026-03-08", 1), london.id: ("2026-03-08", 1)}
    assert build(harbor.id, NY_MIDNIGHT - timedelta(minutes=1)) == {}  # nobody twice for one local day
    # New York's midnight: only Lena's 8 March begins. Her day ends 23 hours later, so card 0 (due a
    # minute before that) is in it and card 1 (due at that instant) is not.
    assert build(harbor.id, NY_MIDNIGHT) == {ny.id: ("2026-03-08", 2)}
    day = ReviewDay.objects.get(learner=ny, day="2026-03-08")
    assert (day.starts_at, day.ends_at - day.starts_at) == (NY_MIDNIGHT, timedelta(hours=23))
    assert queues()[ny.id, "2026-03-08"] == [0, 2]
    # Tokyo's 9 March begins at 15:00 UTC on the 8th: its queue holds all three.
    assert build(harbor.id, datetime(2026, 3, 8, 15, 0, tzinfo=UTC)) == {tokyo.id: ("2026-03-09", 3)}
    before = queues()
    for _ in range(2):  # run again: the same queues
        assert build(harbor.id, datetime(2026, 3, 8, 15, 0, tzinfo=UTC)) == {}
    assert queues() == before


def test_a_build_after_days_of_downtime_makes_todays_queue_only_with_everything_overdue(
        harbor: Any, three_zones: dict[str, User]) -> None:
    ny = three_zones["New York"]
    build(harbor.id, NY_MIDNIGHT)
    assert build(harbor.id, NY_MIDNIGHT + timedelta(days=3, hours=1)).get(ny.id) == ("2026-03-11", 3)
    assert [d.day.isoformat() for d in ReviewDay.objects.filter(learner=ny).order_by("day")] == [
        "2026-03-08", "2026-03-11"]


def test_the_build_is_one_batch_per_event_through_the_outbox_and_a_lost_event_is_planned_again(
        harbor: Any, northside: Any, lena: User, carol: User, bob: User, rita: User, lesson: Version) -> None:
    carol_lesson = lesson_with_items(carol, make_user("nina", northside, Role.REVIEWER), "? Q\n= a", title="Q")
    review.finish_lesson(lesson.content_id, lena)
    review.finish_lesson(carol_lesson.content_id, carol)
    mia = make_user("mia", harbor, Role.LEARNER)
    review.finish_lesson(lesson.content_id, mia)
    ReviewDay.objects.all().delete()
    assert review.plan_review_queues() == 2  # one event per agency
    # The broker lost them (FLUSHALL): the next beat run finds the same unbuilt days in PostgreSQL.
    assert review.plan_review_queues() == 2
    events = pending_tasks("learning.build_review_queues")
    assert sorted(e.tenant_id or 0 for e in events) == sorted([harbor.id, harbor.id, northside.id, northside.id])
    with override_settings(REVIEW_QUEUE_BATCH=1):
        harbor_event = next(e for e in events if e.tenant_id == harbor.id)
        assert execute(harbor_event) == 1  # a full batch: it emits the next batch's event
        assert execute(harbor_event) is None  # a duplicate delivery does nothing (inbox)
        follow_up = [e for e in pending_tasks("learning.build_review_queues") if e.id not in {x.id for x in events}]
        assert len(follow_up) == 1
        assert execute(follow_up[0]) == 1
    assert {d.learner_id for d in ReviewDay.objects.all()} == {lena.id, mia.id}  # Harbor's only
    for event in pending_tasks("learning.build_review_queues"):
        execute(event)
    assert ReviewDay.objects.count() == 3
    assert review.plan_review_queues() == 0
    built = events_of("review.queue_built")
    assert {e.payload["user_id"]: e.payload["due"] for e in built} == {lena.id: 3, mia.id: 3, carol.id: 1}


def test_an_answer_before_the_builder_came_by_builds_todays_queue_first(lena: User, lesson: Version) -> None:
    review.finish_lesson(lesson.content_id, lena)
    ReviewDay.objects.update(day="2020-01-01")  # yesterday's queue, say; today's is not built
    review.answer(card_of(lena, 0).id, lena, choices=["1"])
    assert ReviewDay.objects.filter(learner=lena).count() == 2
    assert review.due_count(lena.id) == 2


# --- pages -----------------------------------------------------------------------------------------------


def test_the_learn_page_shows_due_today_and_the_review_page_takes_an_answer(
        client: Client, lena: User, lesson: Version) -> None:
    sign_in(client, lena)
    page = client.get(f"/learning/lessons/{lesson.content_id}/")
    assert 'id="finish-lesson"' in page.content.decode()
    done = client.post(f"/learning/lessons/{lesson.content_id}/done/")
    assert done.status_code == 302
    assert 'id="lesson-finished"' in client.get(f"/learning/lessons/{lesson.content_id}/").content.decode()
    learn = client.get("/learning/")
    assert 'id="due-count">3<' in learn.content.decode()
    due = client.get("/learning/due/")
    text = due.content.decode()
    assert "How long should you rub your hands with soap?" in text
    assert 'type="radio"' in text
    assert "<script>" not in text
    assert "style=" not in text
    right = client.post(f"/learning/due/{card_of(lena, 0).id}/answer/", {"choices": "1"})
    assert right.status_code == 200
    assert "Right." in right.content.decode()
    assert 'id="due-count">2<' in right.content.decode()
    assert 'type="checkbox"' in right.content.decode()  # the next item has two right options
    again = client.post(f"/learning/due/{card_of(lena, 0).id}/answer/", {"choices": "1"})
    assert again.status_code == 409
    assert "not due" in again.content.decode()
    empty = client.post(f"/learning/due/{card_of(lena, 1).id}/answer/", {})
    assert empty.status_code == 400
    assert 'id="review-error"' in empty.content.decode()
    assert client.post(f"/learning/due/{card_of(lena, 1).id + 999}/answer/", {"choices": "1"}).status_code == 404


def test_the_answer_form_needs_its_csrf_token(lena: User, lesson: Version) -> None:
    review.finish_lesson(lesson.content_id, lena)
    client = Client(enforce_csrf_checks=True)
    sign_in(client, lena)
    assert client.post(f"/learning/due/{card_of(lena, 0).id}/answer/", {"choices": "1"}).status_code == 403
    assert not ReviewAnswer.objects.exists()


def test_a_build_never_reaches_into_another_agency(harbor: Any, carol: User, lena: User, lesson: Version) -> None:
    review.finish_lesson(lesson.content_id, lena)
    ReviewDay.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM learning_reviewday")
        assert cursor.fetchone()[0] == 0
    assert build(carol.tenant_id or 0, datetime.now(UTC)) == {}
    assert build(harbor.id, datetime.now(UTC)) == {lena.id: (ReviewDay.objects.get().day.isoformat(), 3)}


# --- the API -------------------------------------------------------------------------------------------------


def test_the_api_finishes_shows_what_is_due_without_the_answers_and_takes_answers(
        client: Client, lena: User, lesson: Version) -> None:
    sign_in(client, lena)
    done = client.post(f"/api/lessons/{lesson.content_id}/done")
    assert done.status_code == 200
    assert done.json() == {"content_id": lesson.content_id, "version_id": lesson.id, "new": True, "scheduled": 3,
                           "due": 3}
    due = client.get("/api/review/due").json()
    assert due["due"] == 3
    assert due["item"] == {"card_id": card_of(lena, 0).id, "content_id": lesson.content_id,
                           "lesson_title": "Hand hygiene", "kind": "choice",
                           "prompt": "How long should you rub your hands with soap?",
                           "options": ["5 seconds", "20 seconds", "2 minutes"], "multiple": False}
    url = f"/api/review/cards/{card_of(lena, 0).id}/answers"
    answered = client.post(url, {"choices": [1]}, content_type="application/json")
    assert answered.status_code == 200
    assert (answered.json()["correct"], answered.json()["due"]) == (True, 2)
    again = client.post(url, {"choices": [1]}, content_type="application/json")
    assert again.status_code == 409
    assert "card" in json.dumps(again.json())


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"choices": "1"}, 400, "choices"),
    ({"choices": [True]}, 400, "choices"),
    ({"answer": 5}, 400, "choices"),  # a multiple-choice item wants choices
    ({}, 400, "choices"),
])
def test_the_api_refuses_impossible_answers_naming_the_field(client: Client, lena: User, lesson: Version,
                                                             body: dict[str, Any], status: int, field: str) -> None:
    review.finish_lesson(lesson.content_id, lena)
    sign_in(client, lena)
    refused = client.post(f"/api/review/cards/{card_of(lena, 0).id}/answers", body, content_type="application/json")
    assert refused.status_code == status
    assert field in json.dumps(refused.json())
    assert not ReviewAnswer.objects.exists()


def test_the_api_answers_404_for_an_unknown_or_foreign_item(client: Client, lena: User, carol: User,
                                                            lesson: Version) -> None:
    review.finish_lesson(lesson.content_id, lena)
    sign_in(client, carol)
    foreign = client.post(f"/api/review/cards/{card_of(lena, 0).id}/answers", {"choices": [1]},
                          content_type="application/json")
    absent = client.post("/api/review/cards/999999/answers", {"choices": [1]}, content_type="application/json")
    assert foreign.status_code == absent.status_code == 404
    card_id = card_of(lena, 0).id
    assert foreign.json() == {**absent.json(), "message": absent.json()["message"].replace("999999", str(card_id))}
    assert foreign.json()["field"] == "card"
    assert client.post(f"/api/lessons/{lesson.content_id}/done").status_code == 404
