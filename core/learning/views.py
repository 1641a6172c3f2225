"""Learning pages: the learner's catalogue, search and problem page (live grade), and the
reviewer's queue, version view and authoring forms. Every page declares its roles; every
form posts to a view that calls one write function (core/learning/services.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.accounts.access import page_tenant_id, page_user, role_required
from core.learning import cache, media, reputation, review, review_items, selectors, services, streaks
from core.learning.models import Kind, Version
from core.learning.text import parse_id
from core.platform.errors import DomainError, Invalid, NotFound
from core.platform.roles import Role
from outbox.reader import current_position

T = TypeVar("T")


def _found(lookup: Callable[[], T]) -> T:
    """A tenant-scoped lookup for a page: absent or another tenant's is the 404 page."""
    try:
        return lookup()
    except NotFound as exc:
        raise Http404(exc.message) from None


def _attempt(request: HttpRequest, action: Callable[[], Any], success: str) -> bool:
    """Run a write; a domain error becomes a message on the next page, never a 500."""
    try:
        action()
    except DomainError as exc:
        messages.error(request, exc.message)
        return False
    messages.success(request, success)
    return True


# --- learners ------------------------------------------------------------------------------------


@require_GET
@role_required(Role.LEARNER, Role.REVIEWER)
def index(request: HttpRequest) -> HttpResponse:
    tenant_id = page_tenant_id(request)
    user = page_user(request)
    position = current_position()  # before the panels' figures: what commits later is replayed
    return render(request, "learning/index.html", {
        "stream_position": str(position),
        "lessons": selectors.live_contents(tenant_id, Kind.LESSON),
        "problems": selectors.live_contents(tenant_id, Kind.PROBLEM),
        "is_reviewer": user.has_role(Role.REVIEWER),
        "streak": streaks.current_streak(user.id) if user.has_role(Role.LEARNER) else None,
        "due_today": review.due_count(user.id) if user.has_role(Role.LEARNER) else None,
        "points": reputation.points_of([user.id])[user.id],
    })


@require_GET
@role_required(Role.LEARNER, Role.REVIEWER)
def search(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "")
    hits: list[selectors.SearchHit] = []
    error = ""
    if q:
        try:
            hits = selectors.search(page_tenant_id(request), q, request.GET.get("kind") or None)
        except DomainError as exc:
            error = exc.message
    return render(request, "learning/search.html", {"q": q, "hits": hits, "error": error})


@require_GET
@role_required(Role.LEARNER, Role.REVIEWER)
def problem(request: HttpRequest, problem_id: int) -> HttpResponse:
    document = _found(lambda: cache.live_document(page_tenant_id(request), problem_id, Kind.PROBLEM))
    # Read the stream position before the submissions: what commits later is replayed to the page.
    position = current_position()
    return _published_page(request, document, "learning/problem.html", {
        "submissions": selectors.learner_submissions(page_user(request), problem_id, limit=10),
        "can_submit": page_user(request).has_role(Role.LEARNER),
        "stream_position": str(position),
    })


@require_GET
@role_required(Role.LEARNER, Role.REVIEWER)
def lesson(request: HttpRequest, lesson_id: int) -> HttpResponse:
    document = _found(lambda: cache.live_document(page_tenant_id(request), lesson_id, Kind.LESSON))
    learner = page_user(request).has_role(Role.LEARNER)
    return _published_page(request, document, "learning/lesson.html", {  # spaced review: "Mark as done"
        "can_finish": learner,
        "finished": learner and review.finished_version(page_user(request).id, document.version_id)})


def _published_page(request: HttpRequest, document: cache.LiveDocument, template: str,
                    extra: dict[str, Any]) -> HttpResponse:
    # Rendered when the version was written (a page never renders Markdown), cached by version;
    # its lesson images become <picture>s of their variants as they are now (core/learning/media.py).
    body_html = media.with_pictures(document.body_html, page_tenant_id(request))
    return render(request, template, {"document": document, "body_html": body_html, **extra})


# --- reviewers -----------------------------------------------------------------------------------


@require_GET
@role_required(Role.REVIEWER)
def review_queue(request: HttpRequest) -> HttpResponse:
    tenant_id = page_tenant_id(request)
    queue = list(selectors.review_queue(tenant_id))
    return render(request, "learning/review_queue.html", {
        "queue": queue, "contents": selectors.all_contents(tenant_id),
        "reputation": reputation.points_of(sorted({v.author_id for v in queue})),
        "open_flags": selectors.open_flag_count(tenant_id)})


@require_http_methods(["GET", "POST"])
@role_required(Role.REVIEWER)
def new_content(request: HttpRequest) -> HttpResponse:
    kind = request.GET.get("kind") or request.POST.get("kind") or Kind.LESSON
    form = {"kind": kind, "title": "", "body": "", "tests": "", "review_items": ""}
    if request.method == "POST":
        form.update({k: request.POST.get(k, "") for k in ("title", "body", "tests", "review_items")})
        try:
            version = services.create_content(page_user(request), kind, form["title"], form["body"], form["tests"],
                                              form["review_items"])
        except DomainError as exc:
            return render(request, "learning/edit.html", {"form": form, "error": exc, "content": None}, status=400)
        messages.success(request, f"Draft v{version.number} saved.")
        return redirect("learning:version", version_id=version.id)
    return render(request, "learning/edit.html", {"form": form, "error": None, "content": None})


@require_http_methods(["GET", "POST"])
@role_required(Role.REVIEWER)
def new_version(request: HttpRequest, content_id: int) -> HttpResponse:
    content = _found(lambda: selectors.content_with_versions(page_tenant_id(request), content_id))
    latest: Version | None = next(iter(content.versions.all()), None)
    form = {"kind": content.kind, "title": latest.title if latest else "", "body": latest.body if latest else "",
            "tests": latest.tests if latest else "",
            "review_items": review_items.as_lines(latest.review_items) if latest else ""}
    if request.method == "POST":
        form.update({k: request.POST.get(k, "") for k in ("title", "body", "tests", "review_items")})
        try:
            version = services.create_version(content.id, page_user(request), form["title"], form["body"],
                                              form["tests"], form["review_items"])
        except DomainError as exc:
            return render(request, "learning/edit.html", {"form": form, "error": exc, "content": content},
                          status=400)
        messages.success(request, f"Draft v{version.number} saved.")
        return redirect("learning:version", version_id=version.id)
    return render(request, "learning/edit.html", {"form": form, "error": None, "content": content})


@require_GET
@role_required(Role.REVIEWER)
def version(request: HttpRequest, version_id: int) -> HttpResponse:
    return _version_page(request, version_id)


def _version_page(request: HttpRequest, version_id: int, review_error: Invalid | None = None,
                  posted: dict[str, str] | None = None) -> HttpResponse:
    """The version page; after a refused decision, with the error beside its field (400)."""
    detail = _found(lambda: selectors.version_detail(page_tenant_id(request), version_id))
    content = selectors.content_with_versions(page_tenant_id(request), detail.content_id)
    rollback_targets = [v for v in content.versions.all()
                        if v.first_published_at and v.id != content.live_version_id]
    people = {detail.author_id} | {r.author_id for review in detail.reviews.all() for r in review.replies.all()}
    return render(request, "learning/version.html", {
        "version": detail, "content": content, "body_html": detail.body_html,
        "reputation": reputation.points_of(sorted(people)),
        "is_live": content.live_version_id == detail.id, "rollback_targets": rollback_targets,
        "decisions": [("approve", "Approve"), ("request_changes", "Request changes"), ("reject", "Reject")],
        "review_error": review_error, "posted": posted or {},
    }, status=400 if review_error else 200)


def _back_to(version_id: int) -> HttpResponse:
    return redirect(reverse("learning:version", kwargs={"version_id": version_id}))


@require_POST
@role_required(Role.REVIEWER)
def submit_version(request: HttpRequest, version_id: int) -> HttpResponse:
    _attempt(request, lambda: services.submit_for_review(version_id, page_user(request)), "Submitted for review.")
    return _back_to(version_id)


@require_POST
@role_required(Role.REVIEWER)
def review_version(request: HttpRequest, version_id: int) -> HttpResponse:
    decision, comment = request.POST.get("decision", ""), request.POST.get("comment", "")
    try:
        services.review_version(version_id, page_user(request), decision, comment)
    except Invalid as exc:
        if exc.field in ("decision", "comment"):  # shown beside the field, with what was typed
            return _version_page(request, version_id, exc, {"decision": decision, "comment": comment})
        messages.error(request, exc.message)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Decision recorded.")
    return _back_to(version_id)


@require_POST
@role_required(Role.REVIEWER)
def publish_version(request: HttpRequest, version_id: int) -> HttpResponse:
    _attempt(request, lambda: services.publish_version(version_id, page_user(request)), "Published.")
    return _back_to(version_id)


@require_POST
@role_required(Role.REVIEWER)
def unpublish_content(request: HttpRequest, content_id: int) -> HttpResponse:
    content = _found(lambda: selectors.content_with_versions(page_tenant_id(request), content_id))
    _attempt(request, lambda: services.unpublish_content(content_id, page_user(request)), "Unpublished.")
    # Back to the version page the form was on, or the latest version when back_to is not an id.
    return _back_to(parse_id(request.POST.get("back_to")) or next(iter(content.versions.all())).id)


@require_POST
@role_required(Role.REVIEWER)
def rollback_content(request: HttpRequest, content_id: int) -> HttpResponse:
    version_id = parse_id(request.POST.get("version_id"))
    if version_id is None:
        messages.error(request, "Choose the version to roll back to.")
        return redirect("learning:review_queue")
    _attempt(request, lambda: services.rollback_content(content_id, version_id, page_user(request)),
             "Rolled back: that version is live again.")
    return _back_to(version_id)


@require_POST
@role_required(Role.REVIEWER)
def reply(request: HttpRequest, review_id: int) -> HttpResponse:
    body = request.POST.get("body", "")
    _attempt(request, lambda: services.reply_to_review(review_id, page_user(request), body), "Reply posted.")
    version_id = parse_id(request.POST.get("version_id"))
    return _back_to(version_id) if version_id is not None else redirect("learning:review_queue")
