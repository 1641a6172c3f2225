"""The learner's spaced-review API (core/learning/review.py): finish a lesson, read what is
due, answer. Mounted under /api/ beside the learning router (core/config/api.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema

from core.accounts.access import RoleAuth, tenant_user
from core.learning import review
from core.platform.roles import Role
from core.platform.schemas import answers

router = Router(tags=["spaced review"])

LEARNERS = RoleAuth(Role.LEARNER)


class AnswerIn(Schema):
    # Any: the marker names the field at fault (400), not pydantic.
    answer: Any = None  # short answer: text
    choices: Any = None  # multiple choice: option positions


class FinishedOut(Schema):
    content_id: int
    version_id: int
    new: bool
    scheduled: int
    due: int


class DueItemOut(Schema):
    card_id: int
    content_id: int
    lesson_title: str
    kind: str
    prompt: str
    options: list[str] | None
    multiple: bool


class DueOut(Schema):
    due: int
    item: DueItemOut | None


class AnsweredOut(Schema):
    card_id: int
    correct: bool
    expected: str
    next_due_at: datetime
    due: int


def _item(due: review.DueItem) -> dict[str, Any]:
    """What the learner may see of a due item: never its right options or accepted answers."""
    return {"card_id": due.card_id, "content_id": due.content_id, "lesson_title": due.lesson_title,
            "kind": due.item["kind"], "prompt": due.item["prompt"], "options": due.item.get("options"),
            "multiple": due.multiple}


@router.post("/lessons/{lesson_id}/done", response=answers({200: FinishedOut}, 400, 404), auth=LEARNERS)
def finish_lesson(request: HttpRequest, lesson_id: int) -> dict[str, Any]:
    """Mark the lesson's live version done: its review items are scheduled, due at once
    (again: nothing new, `new` false)."""
    finished = review.finish_lesson(lesson_id, tenant_user(request))
    return {"content_id": finished.content_id, "version_id": finished.version_id, "new": finished.new,
            "scheduled": finished.scheduled, "due": finished.due}


@router.get("/review/due", response=answers({200: DueOut}), auth=LEARNERS)
def due(request: HttpRequest) -> dict[str, Any]:
    """How many items are due today, and the next one."""
    learner = tenant_user(request)
    item = review.next_due(learner.id)
    return {"due": review.due_count(learner.id), "item": _item(item) if item else None}


@router.post("/review/cards/{card_id}/answers", response=answers({200: AnsweredOut}, 400, 404, 409),
             auth=LEARNERS)
def answer(request: HttpRequest, card_id: int, payload: AnswerIn) -> dict[str, Any]:
    """Answer a due item: `choices` for multiple choice, `answer` for short answer. 404 for an
    item that is not the caller's, 409 when it is not due, 400 naming the field."""
    answered = review.answer(card_id, tenant_user(request), answer=payload.answer, choices=payload.choices)
    return {"card_id": answered.card_id, "correct": answered.correct, "expected": answered.expected,
            "next_due_at": answered.next_due_at, "due": answered.due}
