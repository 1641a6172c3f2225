"""What a tenant's ops and auditors may see of heal runs.

Runs of their own tenant in full; platform-wide runs (beat, platform staff's commands) with
only their tenant's share of the figures and repairs: nothing of another tenant shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q

from core.errors import NotFound
from core.ops.models import HealRun


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
    own = run.tenant_id == tenant_id
    share = run.by_tenant.get(str(tenant_id), {}) if not own else {}
    return HealRunView(
        id=run.id, name=run.name, trigger=run.trigger, actor=run.actor_label, scope="tenant" if own else "platform",
        dry_run=run.dry_run, status=run.status, requested_at=run.requested_at, started_at=run.started_at,
        finished_at=run.finished_at,
        examined=run.examined if own else int(share.get("examined", 0)),
        repaired=run.repaired if own else int(share.get("repaired", 0)),
        errors=run.errors, error=run.error,
        details=[d for d in run.details if own or d.get("tenant_id") == tenant_id])


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
