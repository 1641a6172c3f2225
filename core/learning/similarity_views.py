"""The reviewers' pages of similarity flags: the list of pairs that look copied, and one pair
side by side with the lines they have in common marked (core/learning/similarity.py)."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.accounts.access import page_tenant_id, page_user, role_required
from core.learning import selectors, similarity
from core.learning.models import SimilarityFlag
from core.platform.errors import DomainError, NotFound
from core.platform.roles import Role


@require_GET
@role_required(Role.REVIEWER)
def flags(request: HttpRequest) -> HttpResponse:
    decision = request.GET.get("decision") or SimilarityFlag.Decision.OPEN
    if decision not in SimilarityFlag.Decision.values:
        decision = SimilarityFlag.Decision.OPEN
    return render(request, "learning/similarity.html", {
        "flags": selectors.similarity_flags(page_tenant_id(request), decision), "decision": decision,
        "decisions": SimilarityFlag.Decision.values})


@require_GET
@role_required(Role.REVIEWER)
def flag(request: HttpRequest, flag_id: int) -> HttpResponse:
    try:
        pair = selectors.similarity_flag(page_tenant_id(request), flag_id)
    except NotFound as exc:
        raise Http404(exc.message) from None
    return render(request, "learning/similarity_pair.html", {
        "flag": pair,
        "submission_lines": selectors.marked_lines(pair.submission.source, pair.regions.get("submission", [])),
        "other_lines": selectors.marked_lines(pair.other.source, pair.regions.get("other", []))})


@require_POST
@role_required(Role.REVIEWER)
def decide(request: HttpRequest, flag_id: int) -> HttpResponse:
    try:
        decided = similarity.decide_flag(flag_id, page_user(request), request.POST.get("decision", ""))
    except NotFound as exc:
        raise Http404(exc.message) from None
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Pair {decided.decision}.")
    return redirect("learning:similarity_flag", flag_id=flag_id)
