"""Ops pages: the figures ops watch (refreshed live), dead letters with redrive, and heal
runs with buttons to run a heal (a dry run first).

Tenant-scoped figures (the agency's pending events, its dead letters, its heal runs) are the
signed-in user's agency's only. Broker queue depths, relay lag and workers are platform-wide
figures of the shared machinery; the page labels them so. Every button posts to a view that
calls the write function the command line and the API call (core.ops.services.redrive_dead_letters,
core.ops.services.request_heal); no view writes rows of its own.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from core.accounts.access import page_tenant_id, page_user, role_required
from core.ops import charts, selectors
from core.ops.forms import BulkActionForm
from core.ops.models import HealRun
from core.ops.services import redrive_dead_letters as redrive_letters
from core.ops.services import request_bulk_action, request_heal
from core.platform.errors import DomainError
from core.platform.heals import HEALS
from core.platform.roles import Role
from outbox import metrics
from outbox.selectors import count_dead_letters, dead_letter_groups

HEAL_TITLES = {"search_index": "Search index", "pending_gradings": "Pending gradings", "reputation": "Reputation"}
HEAL_HELP = {
    "search_index": "Every published lesson and problem is in the search index at its live version; "
                    "nothing unpublished is.",
    "pending_gradings": "Submissions stuck in queued or running past their deadline are graded again "
                        "(bounded attempts), then marked errored with the reason.",
    "reputation": "Everyone's points equal what the truth says they earned (solutions, approved versions, "
                  "helpful replies); anyone off is recounted and the change recorded.",
}
# Repairs listed per run on the page (a run keeps up to services.DETAILS_MAX; the API has them all).
PAGE_DETAILS_MAX = 20
# Dead letters listed on the page; the count above the list is exact.
PAGE_DEAD_LETTERS = 50
# How often the page asks for fresh figures (milliseconds, read by ops.js).
REFRESH_MS = 3000
READERS = (Role.OPS, Role.OPS_VIEWER, Role.AUDITOR)




def _heals(tenant_id: int) -> list[dict[str, Any]]:
    """Each heal with its latest fresh dry run, which a repair from the page follows."""
    dry_runs = selectors.fresh_dry_runs(tenant_id)
    return [{"name": name, "title": HEAL_TITLES.get(name, name), "help": HEAL_HELP.get(name, ""),
             "dry_run": dry_runs.get(name)} for name in HEALS]


def _periodic_tasks_url() -> str:
    try:
        return reverse("admin:django_celery_beat_periodictask_changelist")
    except NoReverseMatch:  # the admin is not mounted
        return ""


# The charts' range when the page names none, and how often an open page redraws them.
DEFAULT_RANGE = "1h"
CHARTS_REFRESH_MS = 30_000


def _charts(request: HttpRequest, tenant_id: int) -> dict[str, Any]:
    """The agency's charts over ?range= (1h, 24h, 7d, 30d; an unknown one is the default)."""
    key = request.GET.get("range", DEFAULT_RANGE)
    key = key if key in metrics.RANGES else DEFAULT_RANGE
    series = metrics.series(tenant_id, key)
    return {"charts": charts.charts(series), "range": series.range, "ranges": list(metrics.RANGES.values()),
            "charts_refresh_ms": CHARTS_REFRESH_MS}


@require_GET
@role_required(*READERS)
def chart_panel(request: HttpRequest) -> HttpResponse:
    """The charts alone (?range=), for the page to redraw while it is open."""
    return render(request, "ops/_charts.html", _charts(request, page_tenant_id(request)))


@require_GET
@role_required(*READERS)
def index(request: HttpRequest) -> HttpResponse:
    """The ops page: figures now and over time, dead letters, heals and their runs, schedules."""
    tenant_id = page_tenant_id(request)
    return render(request, "ops/index.html", {
        **_charts(request, tenant_id),
        "agency": selectors.agency_outbox(tenant_id), "platform": selectors.platform_figures(),
        "dead_letters": selectors.dead_letters_for(tenant_id, PAGE_DEAD_LETTERS),
        "dead_letter_groups": dead_letter_groups(tenant_id), "actions": selectors.recent_actions(tenant_id),
        "bulk_actions": selectors.bulk_actions_for(tenant_id, limit=5),
        "runs": selectors.heal_runs_for(tenant_id, limit=10), "heals": _heals(tenant_id),
        "can_act": page_user(request).has_role(Role.OPS), "schedules": selectors.schedules_for(tenant_id),
        "periodic_tasks_url": _periodic_tasks_url(), "refresh_ms": REFRESH_MS,
        "dry_run_fresh_min": selectors.DRY_RUN_FRESH_S // 60,
    })


def _dry_runs_out(tenant_id: int) -> dict[str, dict[str, int]]:
    return {name: {"id": run.id, "examined": run.examined, "repaired": run.repaired}
            for name, run in selectors.fresh_dry_runs(tenant_id).items()}


@require_GET
@role_required(*READERS)
def figures(request: HttpRequest) -> JsonResponse:
    """The page's figures as JSON, for its live refresh: `agency` (this tenant's outbox),
    `dry_runs` (the fresh dry run of each heal, which a repair follows), and, unless
    ?platform=0, `platform` (shared machinery: relay lag, queue depths, workers)."""
    tenant_id = page_tenant_id(request)
    body: dict[str, Any] = {"at": timezone.now().isoformat(), "agency": asdict(selectors.agency_outbox(tenant_id)),
                            "dry_runs": _dry_runs_out(tenant_id)}
    if request.GET.get("platform") != "0":
        platform = selectors.platform_figures()
        body["platform"] = {
            "relay_lag_s": platform.relay_lag_s, "queues": platform.broker.queues,
            "reserved": platform.broker.reserved, "broker_error": platform.broker.error,
            "workers": platform.workers.alive, "workers_error": platform.workers.error,
            "paused_queues": [p.queue for p in platform.paused],
        }
    return JsonResponse(body)


def _limit(text: str | None, default: int, most: int) -> int:
    try:
        return min(max(int(text or default), 1), most)
    except ValueError:
        return default


@require_GET
@role_required(*READERS)
def heal_run_rows(request: HttpRequest) -> HttpResponse:
    """The rows of the runs table alone (?limit=, ?details=1), for the pages to swap in."""
    runs = selectors.heal_runs_for(page_tenant_id(request), limit=_limit(request.GET.get("limit"), 10, 200))
    return render(request, "ops/_run_rows.html", {
        "runs": runs, "details_max": PAGE_DETAILS_MAX if request.GET.get("details") == "1" else 0})


@require_GET
@role_required(*READERS)
def heal_runs(request: HttpRequest) -> HttpResponse:
    """Every recent run of the agency's heals, with what each repaired (or would)."""
    tenant_id = page_tenant_id(request)
    return render(request, "ops/heal_runs.html", {
        "runs": selectors.heal_runs_for(tenant_id), "heals": _heals(tenant_id),
        "can_trigger": page_user(request).has_role(Role.OPS), "schedules": selectors.schedules_for(tenant_id),
        "details_max": PAGE_DETAILS_MAX, "periodic_tasks_url": _periodic_tasks_url(),
        "dry_run_fresh_min": selectors.DRY_RUN_FRESH_S // 60, "refresh_ms": REFRESH_MS,
    })


def _back(request: HttpRequest, default: str) -> HttpResponse:
    """Back to the ops page the form was on (`next`, if it names one), else `default`."""
    target = request.POST.get("next", "")
    return HttpResponseRedirect(target if target in (reverse("ops:index"), reverse("ops:heal_runs")) else default)


@require_POST
@role_required(Role.OPS)
def trigger_heal(request: HttpRequest, name: str) -> HttpResponse:
    """Queue a run of heal `name` for the agency. A repair follows a fresh dry run of the same
    heal: ops see what it would change before it changes anything."""
    user = page_user(request)
    dry_run = request.POST.get("dry_run") == "1"
    if name not in HEALS:
        messages.error(request, f"There is no heal {name!r}; there are {', '.join(sorted(HEALS))}.")
    elif not dry_run and name not in selectors.fresh_dry_runs(page_tenant_id(request)):
        messages.error(request, f"Run a dry run of {HEAL_TITLES.get(name, name)} first, then repair "
                                f"(within {selectors.DRY_RUN_FRESH_S // 60} minutes of it).")
    else:
        try:
            run = request_heal(name, trigger=HealRun.Trigger.PAGE, actor=user, dry_run=dry_run,
                               tenant_id=user.tenant_id)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{'Dry run' if dry_run else 'Repair'} of {HEAL_TITLES.get(name, name)} "
                                      f"queued as run {run.id}.")
    return _back(request, reverse("ops:heal_runs"))


def _ids(values: list[str]) -> list[int] | None:
    """Dead-letter ids from a form, or None if any is not a positive integer."""
    try:
        ids = [int(value) for value in values]
    except ValueError:
        return None
    return ids if all(0 < i < 2**63 for i in ids) else None


FINGERPRINT = re.compile(r"^[0-9a-f]{32}$")


@require_POST
@role_required(Role.OPS)
def redrive_dead_letters(request: HttpRequest) -> HttpResponse:
    """Send the agency's dead letters again: the chosen ones (`id`, repeated), one group's
    (`fingerprint`), or all open ones (`all=1`); their events go back to pending and the relay
    delivers them anew. Recorded in the action log (core/ops/services.py)."""
    tenant_id, user = page_tenant_id(request), page_user(request)
    fingerprint = str(request.POST.get("fingerprint", ""))
    if fingerprint:
        if not FINGERPRINT.match(fingerprint):
            messages.error(request, "That group of dead letters does not exist.")
            return _back(request, reverse("ops:index"))
        chosen, count = redrive_letters(tenant_id, user, fingerprint=fingerprint)
    elif request.POST.get("all") == "1":
        chosen, count = redrive_letters(tenant_id, user)
    else:
        ids = _ids(request.POST.getlist("id"))
        if not ids:
            messages.error(request, "Choose the dead letters to redrive.")
            return _back(request, reverse("ops:index"))
        # Another agency's ids, and ids already redriven, are not this request's to send.
        chosen, count = redrive_letters(tenant_id, user, ids=ids)
    if not chosen:
        messages.error(request, "No dead letter of your agency is waiting to be redriven.")
        return _back(request, reverse("ops:index"))
    messages.success(request, f"{count} of {chosen} dead event{'s' if chosen != 1 else ''} "
                              f"pending again; the relay delivers {'them' if count != 1 else 'it'} anew.")
    return _back(request, reverse("ops:index"))


def _bulk_page(request: HttpRequest, form: BulkActionForm) -> HttpResponse:
    """The filter, and once it is valid, how many open letters it chooses now (the preview)."""
    tenant_id = page_tenant_id(request)
    preview = None
    if form.is_bound and form.is_valid():
        as_of = timezone.now()
        preview = {"matched": count_dead_letters(form.chosen(tenant_id, as_of)), "as_of": as_of.isoformat(),
                   "action": form.cleaned_data["action"]}
    return render(request, "ops/bulk.html", {
        "form": form, "preview": preview, "can_act": page_user(request).has_role(Role.OPS),
        "groups": dead_letter_groups(tenant_id), "jobs": selectors.bulk_actions_for(tenant_id, limit=20)})


@require_GET
@role_required(*READERS)
def bulk_dead_letters(request: HttpRequest) -> HttpResponse:
    """Redrive or discard dead letters by filter: the filter and, once given, how many open
    letters it chooses now, with the button that confirms that count (ops only)."""
    return _bulk_page(request, BulkActionForm(request.GET or None))


@require_POST
@role_required(Role.OPS)
def confirm_bulk_dead_letters(request: HttpRequest) -> HttpResponse:
    """Confirm a preview: queue the background job on the letters it counted, then show its
    progress. A preview missing or over an hour old is looked at again first."""
    form = BulkActionForm(request.POST)
    if form.is_valid():
        as_of = form.confirmed_as_of()
        if as_of is None:
            messages.error(request, "That preview is too old or missing: look at the count again, then confirm.")
        else:
            try:
                job = request_bulk_action(form.cleaned_data["action"], form.chosen(page_tenant_id(request), as_of),
                                          page_user(request))
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                return redirect("ops:bulk_action", bulk_id=job.id)
    return _bulk_page(request, form)


@require_GET
@role_required(*READERS)
def bulk_action(request: HttpRequest, bulk_id: int) -> HttpResponse:
    """One bulk action and its progress, refreshed live."""
    try:
        job = selectors.bulk_action_for(page_tenant_id(request), bulk_id)
    except DomainError:
        raise Http404("no such bulk action") from None
    return render(request, "ops/bulk_action.html", {"job": job})
