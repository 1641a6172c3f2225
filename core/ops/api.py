"""The ops JSON API (mounted at /api/ops/ by core/platform/api.py): heal runs.

Ops trigger heals of their own agency and see its runs; auditors see them read-only.
Platform-wide runs (beat, platform staff) show only the caller's agency's share.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status

from core.accounts.access import RoleAuth, tenant_id_of, tenant_user
from core.ops import selectors
from core.ops.models import HealRun
from core.ops.services import request_heal
from core.platform.errors import NotFound
from core.platform.roles import Role
from core.platform.schemas import Text, answers

router = Router(tags=["ops"])


class HealRequest(Schema):
    dry_run: bool = False
    tenant_id: int | None = None


class HealAccepted(Schema):
    id: int
    name: str
    status: str
    dry_run: bool


class HealRunOut(Schema):
    id: int
    name: str
    trigger: str
    actor: str
    scope: str
    dry_run: bool
    status: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    examined: int
    repaired: int
    confirmed: int
    verified_at: datetime | None
    errors: int
    error: str
    details: list[dict[str, Any]]


@router.post("/heal/{name}", response=answers({202: HealAccepted}, 400, 404), auth=RoleAuth(Role.OPS))
def trigger_heal(request: HttpRequest, name: str, payload: HealRequest | None = None) -> Status[dict[str, Any]]:
    """Run heal `name` (search_index | pending_gradings | reputation) for the caller's agency: 202 with the
    run id; follow it at GET /api/ops/heal-runs/{id}. {"dry_run": true} reports what it would
    repair and changes nothing. tenant_id, if given, must be the caller's own."""
    user = tenant_user(request)
    payload = payload or HealRequest()
    if payload.tenant_id is not None and payload.tenant_id != user.tenant_id:
        raise NotFound(f"tenant {payload.tenant_id} not found", field="tenant_id")
    run = request_heal(name, trigger=HealRun.Trigger.API, actor=user, dry_run=payload.dry_run,
                       tenant_id=user.tenant_id)
    return Status(202, {"id": run.id, "name": run.name, "status": run.status, "dry_run": run.dry_run})


# Who may look: ops, the read-only ops role, auditors.
WATCHERS = RoleAuth(Role.OPS, Role.OPS_VIEWER, Role.AUDITOR)


@router.get("/heal-runs", response=answers({200: list[HealRunOut]}, 400), auth=WATCHERS)
def heal_runs(request: HttpRequest, name: Text | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Recent heal runs: trigger, who, when, examined, repaired, confirmed (repairs that took
    effect; final once verified_at is set), errors."""
    return [run.to_dict() for run in selectors.heal_runs_for(tenant_id_of(request), name, min(max(limit, 1), 200))]


@router.get("/heal-runs/{run_id}", response=answers({200: HealRunOut}, 400, 404), auth=WATCHERS)
def heal_run(request: HttpRequest, run_id: int) -> dict[str, Any]:
    return selectors.heal_run_for(tenant_id_of(request), run_id).to_dict()
