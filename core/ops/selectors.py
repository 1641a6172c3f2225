"""What a tenant's ops and auditors may see of heal runs and their schedules.

Runs of their own tenant in full. Platform-wide runs (beat, platform staff's commands) with
only their tenant's share: its figures and repairs, the actor as "platform", and of a failure
only that it failed (the error text may name another tenant's data). Schedules: the
platform-wide ones and their own, described by heal and interval; never another tenant's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q
from django_celery_beat.models import PeriodicTask

from core.errors import NotFound
from core.ops.models import HealRun

# Who a tenant sees behind a platform-wide run (beat, or platform staff's command).
PLATFORM_ACTOR = "platform"


@dataclass(frozen=True)
class HealRunView:
    id: int
    name: str
    trigger: str
    actor: str
    scope: str  # "tenant" or "platform"
    dry_run: bool
    status: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    examined: int
    repaired: int
    errors: int
    error: str
    details: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _view(run: HealRun, tenant_id: int) -> HealRunView:
    if run.tenant_id == tenant_id:
        return HealRunView(
            id=run.id, name=run.name, trigger=run.trigger, actor=run.actor_label, scope="tenant",
            dry_run=run.dry_run, status=run.status, requested_at=run.requested_at, started_at=run.started_at,
            finished_at=run.finished_at, examined=run.examined, repaired=run.repaired, errors=run.errors,
            error=run.error, details=list(run.details))
    return _share(run, tenant_id)


def _share(run: HealRun, tenant_id: int) -> HealRunView:
    """A platform-wide run as one tenant may see it: its own share and nothing else."""
    share = run.by_tenant.get(str(tenant_id), {})
    failed = run.status == HealRun.Status.FAILED
    return HealRunView(
        id=run.id, name=run.name, trigger=run.trigger, actor=PLATFORM_ACTOR, scope="platform",
        dry_run=run.dry_run, status=run.status, requested_at=run.requested_at, started_at=run.started_at,
        finished_at=run.finished_at, examined=int(share.get("examined", 0)), repaired=int(share.get("repaired", 0)),
        # A failed run failed for every tenant it covered: one error, without its text.
        errors=1 if failed else int(share.get("errors", 0)), error="failed" if failed else "",
        details=[d for d in run.details if d.get("tenant_id") == tenant_id])


def _visible(tenant_id: int) -> Q:
    return Q(tenant_id=tenant_id) | Q(tenant__isnull=True)


def heal_runs_for(tenant_id: int, name: str | None = None, limit: int = 50) -> list[HealRunView]:
    """The latest runs a tenant may see, newest first."""
    runs = HealRun.objects.filter(_visible(tenant_id))
    if name:
        runs = runs.filter(name=name)
    return [_view(run, tenant_id) for run in runs.order_by("-requested_at", "-id")[:limit]]


def heal_run_for(tenant_id: int, run_id: int) -> HealRunView:
    """One run the tenant may see; NotFound for another tenant's, as for one that does not exist."""
    run = HealRun.objects.filter(_visible(tenant_id), id=run_id).first()
    if run is None:
        raise NotFound(f"heal run {run_id} not found")
    return _view(run, tenant_id)


# --- schedules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScheduleView:
    description: str  # "heal_search_index every 10 minutes"
    scope: str  # "platform" (every tenant) or "tenant" (this one)
    enabled: bool
    last_run_at: datetime | None


def _kwargs(task: PeriodicTask) -> dict[str, Any]:
    try:
        kwargs = json.loads(task.kwargs or "{}")
    except ValueError:
        return {}
    return kwargs if isinstance(kwargs, dict) else {}


def schedules_for(tenant_id: int) -> list[ScheduleView]:
    """The heal schedules that heal `tenant_id`: platform-wide ones and its own. Described by
    heal and interval, not by the schedule's name, which platform staff write freely."""
    views = []
    for task in PeriodicTask.objects.filter(task="ops.request_heal").select_related("interval").order_by("name"):
        kwargs = _kwargs(task)
        scheduled_for = kwargs.get("tenant_id")
        if scheduled_for is not None and scheduled_for != tenant_id:
            continue
        every = f" every {task.interval.every} {task.interval.period}" if task.interval else ""
        views.append(ScheduleView(f"heal_{kwargs.get('name', '?')}{every}",
                                  "platform" if scheduled_for is None else "tenant", task.enabled, task.last_run_at))
    return views
