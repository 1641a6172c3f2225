"""Ops pages: heal runs of the agency, and buttons to run a heal (a dry run first)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.access import role_required
from core.errors import DomainError
from core.models import User
from core.ops import selectors
from core.ops.heals import HEALS
from core.ops.models import HealRun
from core.ops.services import request_heal
from core.roles import Role

HEAL_TITLES = {"search_index": "Search index", "pending_gradings": "Pending gradings"}
# Repairs listed per run on the page (a run keeps up to services.DETAILS_MAX; the API has them all).
PAGE_DETAILS_MAX = 20


def _user(request: HttpRequest) -> User:
    """The signed-in user of a page guarded by role_required (core.access.tenant_id_of reads
    request.auth, which only API endpoints have)."""
    user = request.user
    assert isinstance(user, User)
    return user


@require_GET
@role_required(Role.OPS, Role.AUDITOR)
def heal_runs(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    assert user.tenant_id is not None
    return render(request, "ops/heal_runs.html", {
        "runs": selectors.heal_runs_for(user.tenant_id), "heals": [(n, HEAL_TITLES.get(n, n)) for n in HEALS],
        "can_trigger": user.has_role(Role.OPS), "schedules": selectors.schedules_for(user.tenant_id),
        "details_max": PAGE_DETAILS_MAX,
    })


@require_POST
@role_required(Role.OPS)
def trigger_heal(request: HttpRequest, name: str) -> HttpResponse:
    user = _user(request)
    dry_run = request.POST.get("dry_run") == "1"
    try:
        run = request_heal(name, trigger=HealRun.Trigger.PAGE, actor=user, dry_run=dry_run, tenant_id=user.tenant_id)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{'Dry run' if dry_run else 'Heal'} {run.name} queued as run {run.id}.")
    return redirect("ops:heal_runs")
