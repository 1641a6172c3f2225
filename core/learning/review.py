"""Spaced review (adr/0020-spaced-review.md): a learner who finishes a lesson gets its review
items scheduled; each answer reschedules its item with FSRS; each learner's due queue is built
once per local day, at their local midnight.

- `finish_lesson` ("Mark as done"): a card per item of the live version, due at once, and the
  learner's queue for today (built now if it was not).
- `answer`: mark the response, take the card's entry in the learner's current queue (409 if it
  has none: not due), move the card with FSRS, record the answer, count the streak day, and
  tell the learner's pages the new due count (`review.due_changed` on their channel).
- The nightly build: beat's `learning.plan_review_queues` (every 15 minutes) emits one
  `review.queues_due` event per agency that has learners whose local day has begun and whose
  queue for it is not built; its task (`learning.build_review_queues`) builds one batch of
  REVIEW_QUEUE_BATCH learners per event and emits the next event while learners remain. A
  `ReviewDay` row per (learner, local day) is the guard: built once, whoever builds it.
  Everything is found again from PostgreSQL, so a flushed broker costs at most one beat
  interval.

Reads and writes here are the only ones of these rows; the SQL is in core/learning/queries.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from fsrs import Card, Rating, Scheduler, State
from psycopg import sql

from core.accounts.access import get_for_tenant
from core.accounts.models import User
from core.learning import queries, streaks
from core.learning.models import Content, Kind, LessonCompletion, ReviewAnswer, ReviewCard, Version
from core.learning.review_items import mark
from core.platform.channels import user_channel
from core.platform.errors import Conflict, NotFound
from outbox.emit import emit


def scheduler() -> Scheduler:
    """FSRS with its published default weights. No learning steps: every answer schedules
    whole days ahead, so an answered item leaves today's queue (the queue is daily). No fuzz:
    the same answers give the same schedule (adr/0020)."""
    return Scheduler(desired_retention=settings.REVIEW_DESIRED_RETENTION, learning_steps=(),
                     relearning_steps=(), enable_fuzzing=False)


def _tenant_of(learner: User) -> int:
    if learner.tenant_id is None:
        raise NotFound("platform staff have no lessons")
    return learner.tenant_id


def _rows(statement: str | sql.Composable, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall()


# --- reads -------------------------------------------------------------------------------------------


def due_count(learner_id: int) -> int:
    """Unanswered items in the learner's current queue ("Due today")."""
    return int(_rows(queries.REVIEW_DUE_COUNT, {"learner_id": learner_id})[0][0])


@dataclass(frozen=True)
class DueItem:
    card_id: int
    content_id: int
    lesson_title: str
    item: dict[str, Any]  # as stored (core/learning/review_items.py)

    @property
    def multiple(self) -> bool:
        """More than one option is right (check boxes rather than radio buttons)."""
        return len(self.item.get("correct", [])) > 1


def next_due(learner_id: int) -> DueItem | None:
    """The next item to review in the learner's current queue, or None."""
    rows = _rows(queries.REVIEW_NEXT_DUE, {"learner_id": learner_id})
    if not rows:
        return None
    card_id, content_id, _version_id, _n, title, item = rows[0]
    # Django's connection hands jsonb over as text (JSONField decodes its own).
    return DueItem(card_id, content_id, title, json.loads(item) if isinstance(item, str) else item)


def finished_version(learner_id: int, version_id: int) -> bool:
    """Whether the learner marked this version done (the lesson page's button)."""
    return LessonCompletion.objects.filter(learner_id=learner_id, version_id=version_id).exists()


# --- building queues -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuiltQueue:
    tenant_id: int
    learner_id: int
    day: str
    items: int


def _build(learner_filter: sql.SQL, params: dict[str, Any]) -> list[BuiltQueue]:
    """Build the unbuilt queues the filter selects (caller's transaction), telling each
    learner's pages their count."""
    rows = _rows(queries.build_review_queues(learner_filter).as_string(), params)
    built = [BuiltQueue(tenant_id, learner_id, day.isoformat(), items) for tenant_id, learner_id, day, items in rows]
    for queue in built:
        _emit_due(queue.tenant_id, queue.learner_id, queue.items, "review.queue_built", day=queue.day)
    return built


def build_learner_queue(tenant_id: int, learner_id: int, now: datetime) -> BuiltQueue | None:
    """The learner's queue for their local day at `now`, if not built (caller's transaction)."""
    built = _build(queries.REVIEW_LEARNER_FILTER, {"now": now, "learner_id": learner_id, "batch": 1})
    return built[0] if built else None


def build_agency_queues(tenant_id: int, now: datetime | None = None) -> list[BuiltQueue]:
    """One batch of the agency's unbuilt queues at `now` (caller's transaction: the build
    task's effects). While learners may remain, the next batch's event is emitted with it."""
    now = now or timezone.now()
    built = _build(queries.REVIEW_AGENCY_FILTER,
                   {"now": now, "tenant_id": tenant_id, "batch": settings.REVIEW_QUEUE_BATCH})
    if len(built) >= settings.REVIEW_QUEUE_BATCH:
        _emit_build(tenant_id)
    return built


def _emit_build(tenant_id: int) -> None:
    # One key per agency: its batches run one at a time (a second would wait on the first's
    # rows and find them built); a dead batch does not hold back the next night's.
    emit("review.queues_due", aggregate_type="tenant", aggregate_id=tenant_id, tenant_id=tenant_id,
         task="learning.build_review_queues", payload={}, ordering_key=f"review-queues:{tenant_id}",
         if_dead="pass")


def plan_review_queues(now: datetime | None = None) -> int:
    """Beat's run: a build event for each agency with a learner whose local day has begun at
    `now` and whose queue for it is not built. Returns how many agencies."""
    now = now or timezone.now()
    with transaction.atomic():
        agencies = [row[0] for row in _rows(queries.REVIEW_AGENCIES_DUE, {"now": now, "batch": None})]
        for tenant_id in agencies:
            _emit_build(tenant_id)
    return len(agencies)


# --- finishing a lesson ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finished:
    content_id: int
    version_id: int
    new: bool  # False: the learner had finished this version before
    scheduled: int  # new cards
    due: int


@transaction.atomic(durable=True)
def finish_lesson(lesson_id: int, learner: User) -> Finished:
    """"Mark as done": the live version of a published lesson of the learner's agency (404
    otherwise) is finished; its items are scheduled, due at once, and join today's queue.
    Marking it done again changes nothing."""
    tenant_id = _tenant_of(learner)
    lesson = get_for_tenant(Content.objects.filter(kind=Kind.LESSON, live_version__isnull=False), tenant_id,
                            lesson_id, "lesson")
    assert lesson.live_version_id is not None  # the filter above
    version = Version.objects.only("id", "review_items").get(id=lesson.live_version_id)
    now = timezone.now()
    new, card_ids = _rows(queries.FINISH_LESSON, {
        "tenant_id": tenant_id, "learner_id": learner.id, "content_id": lesson.id, "version_id": version.id,
        "now": now, "items": len(version.review_items), "state": State.Learning.value})[0]
    if not new:
        return Finished(lesson.id, version.id, False, 0, due_count(learner.id))
    build_learner_queue(tenant_id, learner.id, now)
    with connection.cursor() as cursor:
        cursor.execute(queries.REVIEW_ADD_TO_QUEUE, {"learner_id": learner.id, "card_ids": list(card_ids)})
    due = due_count(learner.id)
    emit("lesson.finished", aggregate_type="content", aggregate_id=lesson.id, tenant_id=tenant_id,
         actor_id=learner.id, channel=user_channel(tenant_id, learner.id),
         payload={"user_id": learner.id, "content_id": lesson.id, "version_id": version.id,
                  "scheduled": len(card_ids), "due": due})
    return Finished(lesson.id, version.id, True, len(card_ids), due)


# --- answering -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    card_id: int
    correct: bool
    expected: str
    next_due_at: datetime
    due: int  # left in the current queue


def _as_fsrs(card: ReviewCard) -> Card:
    return Card(card_id=card.id, state=State(card.state), step=card.step, stability=card.stability,
                difficulty=card.difficulty, due=card.due_at.astimezone(UTC),
                last_review=card.last_review_at.astimezone(UTC) if card.last_review_at else None)


def _reschedule(card: ReviewCard, correct: bool, at: datetime) -> ReviewCard:
    """Move the card as FSRS says for a right (Good) or wrong (Again) answer at `at`."""
    moved, _log = scheduler().review_card(_as_fsrs(card), Rating.Good if correct else Rating.Again, at)
    lapsed = not correct and card.state == State.Review.value
    ReviewCard.objects.filter(id=card.id).update(
        state=moved.state.value, step=moved.step, stability=moved.stability, difficulty=moved.difficulty,
        due_at=moved.due, last_review_at=at, reviews=card.reviews + 1, lapses=card.lapses + int(lapsed))
    card.refresh_from_db()
    return card


def _locked_card(card_id: int, learner: User, tenant_id: int) -> ReviewCard:
    """The learner's own card, locked; anyone else's (another learner's, another agency's) is
    404 exactly like one that does not exist. FOR NO KEY UPDATE: a concurrent build of the
    learner's queue references the card (KEY SHARE) and must not wait for the answer."""
    cards = ReviewCard.objects.select_for_update(no_key=True)
    card = cards.filter(id=card_id, tenant_id=tenant_id, learner_id=learner.id).first()
    if card is None:
        raise NotFound(f"review item {card_id} not found", field="card")
    return card


@transaction.atomic(durable=True)
def answer(card_id: int, learner: User, answer: object = None, choices: object = None) -> Answered:
    """Answer a due review item: `choices` (option positions) for multiple choice, `answer`
    for short answer. 404 for an item that is not the learner's, 400 naming the field for a
    response that is not one, 409 when the item is not in the learner's current queue."""
    tenant_id = _tenant_of(learner)
    card = _locked_card(card_id, learner, tenant_id)
    item = Version.objects.only("review_items").get(id=card.version_id).review_items[card.item]
    marked = mark(item, answer, choices)  # 400 before anything is written
    now = timezone.now()
    build_learner_queue(tenant_id, learner.id, now)  # today's queue, if the builder has not come by yet
    entry = _rows(queries.REVIEW_TAKE_ENTRY, {"card_id": card.id, "learner_id": learner.id, "now": now})
    if not entry:
        raise Conflict(f"review item {card_id} is not due today; it is next due {card.due_at:%Y-%m-%d}",
                       field="card")
    due_before = card.due_at
    card = _reschedule(card, marked.correct, now)
    ReviewAnswer.objects.create(tenant_id=tenant_id, learner_id=learner.id, card_id=card.id, entry_id=entry[0][0],
                                answered_at=now, response=marked.response, correct=marked.correct,
                                rating=(Rating.Good if marked.correct else Rating.Again).value,
                                due_before=due_before, due_after=card.due_at)
    streaks.record_activity(tenant_id, learner.id, now)  # a completed review counts the day
    due = due_count(learner.id)
    _emit_due(tenant_id, learner.id, due, "review.answered", card_id=card.id, correct=marked.correct)
    return Answered(card.id, marked.correct, marked.expected, card.due_at, due)


def _emit_due(tenant_id: int, learner_id: int, due: int, event_type: str, **extra: Any) -> None:
    """The learner's pages show the new count (core/learning/static/learning/learn.js)."""
    emit(event_type, aggregate_type="user", aggregate_id=learner_id, tenant_id=tenant_id,
         channel=user_channel(tenant_id, learner_id), payload={"user_id": learner_id, "due": due, **extra})
