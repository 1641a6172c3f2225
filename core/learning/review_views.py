"""The learner's spaced-review pages: "Mark as done" on a lesson, and the review page that
shows one due item at a time and takes its answer (core/learning/review.py)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.accounts.access import page_user, role_required
from core.learning import review
from core.platform.errors import Conflict, DomainError, NotFound
from core.platform.roles import Role
from outbox.reader import current_position


@require_POST
@role_required(Role.LEARNER)
def finish_lesson(request: HttpRequest, lesson_id: int) -> HttpResponse:
    """Mark the lesson's live version done: its review items are scheduled."""
    try:
        finished = review.finish_lesson(lesson_id, page_user(request))
    except NotFound as exc:
        raise Http404(exc.message) from None
    if finished.new:
        messages.success(request, f"Lesson done: {finished.scheduled} review item(s) scheduled.")
    else:
        messages.info(request, "You had already marked this version of the lesson done.")
    return redirect("learning:lesson", lesson_id=lesson_id)


def _due_page(request: HttpRequest, extra: dict[str, Any] | None = None, status: int = 200) -> HttpResponse:
    learner = page_user(request)
    position = current_position()  # before the due count: what commits later is replayed
    context = {"stream_position": str(position), "item": review.next_due(learner.id),
               "due": review.due_count(learner.id), "result": None, "error": None, **(extra or {})}
    return render(request, "learning/due.html", context, status=status)


@require_GET
@role_required(Role.LEARNER)
def due(request: HttpRequest) -> HttpResponse:
    return _due_page(request)


@require_POST
@role_required(Role.LEARNER)
def answer(request: HttpRequest, card_id: int) -> HttpResponse:
    """Take an answer; the page then shows right or wrong and the next due item."""
    try:
        answered = review.answer(card_id, page_user(request), answer=request.POST.get("answer"),
                                 choices=request.POST.getlist("choices"))
    except NotFound as exc:
        raise Http404(exc.message) from None
    except Conflict as exc:
        return _due_page(request, {"error": exc}, status=409)
    except DomainError as exc:
        return _due_page(request, {"error": exc}, status=400)
    return _due_page(request, {"result": answered})
