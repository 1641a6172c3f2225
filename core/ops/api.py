"""The ops JSON API (mounted at /api/ops/ by core/platform/api.py): heal runs, and bulk
actions on dead letters.

Ops trigger heals of their own agency and see its runs; auditors see them read-only.
Platform-wide runs (beat, platform staff) show only the caller's agency's share. Ops redrive
or discard their agency's dead letters by filter, after a preview of the count; the job runs
in the background and its progress is read at /bulk-actions/{id}.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status

from core.accounts.access import RoleAuth, tenant_id_of, tenant_user
from core.ops import selectors
from core.ops.models import HealRun
from core.ops.services import request_bulk_action, request_heal
from core.platform.errors import NotFound
from core.platform.roles import Role
from core.platform.schemas import Instant, Text, TimeWindowQuery, answers
from outbox.selectors import DeadLetterFilter, count_dead_letters

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


# --- bulk actions on dead letters (adr/0022) ---------------------------------------------------


class DeadLetterQuery(TimeWindowQuery):
    """Which of the agency's open dead letters: every field narrows, none is required."""

    event_type: Text | None = Field(None, max_length=100)
    task_name: Text | None = Field(None, max_length=200)
    fingerprint: str | None = Field(None, pattern=r"^[0-9a-f]{32}$",
                                    description="a group of Dead letters by cause (GET /api/ops/dead-letter-groups)")
    since: Instant | None = Field(None, description="died at or after")
    until: Instant | None = Field(None, description="died before")

    def chosen(self, tenant_id: int, as_of: datetime | None = None) -> DeadLetterFilter:
        return DeadLetterFilter(tenant_id, **self.model_dump(include=set(DeadLetterQuery.model_fields)), as_of=as_of)


class PreviewOut(Schema):
    matched: int = Field(description="open dead letters the filter chooses now")
    as_of: datetime = Field(description="pass it back with the action to act on exactly these (and no later ones)")


@router.get("/dead-letters/preview", response=answers({200: PreviewOut}, 400), auth=WATCHERS)
def preview_dead_letters(request: HttpRequest, query: Query[DeadLetterQuery]) -> dict[str, Any]:
    """How many of the agency's open dead letters a bulk action with this filter would act on."""
    as_of = timezone.now()
    return {"matched": count_dead_letters(query.chosen(tenant_id_of(request), as_of)), "as_of": as_of}


class BulkRequest(DeadLetterQuery):
    action: Literal["redrive", "discard"]
    as_of: Instant | None = Field(None, description="the preview's as_of; default: now")


class BulkActionOut(Schema):
    id: int
    action: str
    status: str
    filters: dict[str, Any]
    requested_by: str
    requested_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    matched: int
    examined: int
    acted: int = Field(description="letters this job redrove or discarded (others closed meanwhile are skipped)")
    percent: int
    error: str


@router.post("/dead-letters/bulk", response=answers({202: BulkActionOut}, 400, 409), auth=RoleAuth(Role.OPS))
def bulk_dead_letters(request: HttpRequest, body: BulkRequest) -> Status[dict[str, Any]]:
    """Redrive (send again) or discard (close, never send) every open dead letter of the agency
    the filter chooses that died no later than `as_of`: 202 with the job; follow it at
    GET /api/ops/bulk-actions/{id}. 409 when the filter chooses none. Running it again acts
    on nothing twice: a letter once closed is not open any more."""
    user = tenant_user(request)
    job = request_bulk_action(body.action, body.chosen(tenant_id_of(request), body.as_of), user)
    return Status(202, selectors.bulk_action_dict(job))


@router.get("/bulk-actions", response=answers({200: list[BulkActionOut]}), auth=WATCHERS)
def bulk_actions(request: HttpRequest) -> list[dict[str, Any]]:
    """The agency's latest 50 bulk actions, newest first."""
    return [selectors.bulk_action_dict(job) for job in selectors.bulk_actions_for(tenant_id_of(request))]


@router.get("/bulk-actions/{bulk_id}", response=answers({200: BulkActionOut}, 400, 404), auth=WATCHERS)
def bulk_action(request: HttpRequest, bulk_id: int) -> dict[str, Any]:
    """One bulk action and its progress (examined of matched; acted)."""
    return selectors.bulk_action_dict(selectors.bulk_action_for(tenant_id_of(request), bulk_id))
