"""What a tenant's ops and auditors may see: heal runs and their schedules, and the figures
of the ops page (their agency's outbox backlog and dead letters; the platform's relay lag,
queue depths and workers, which name no tenant's data).

Runs of their own tenant in full. Platform-wide runs (beat, platform staff's commands) with
only their tenant's share: its figures and repairs, the actor as "platform", and of a failure
only that it failed (the error text may name another tenant's data). Schedules: the
platform-wide ones and their own, described by heal and interval; never another tenant's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import redis
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from core.ops.models import BulkAction, HealRun, OpsAction, QueuePause
from core.platform.errors import NotFound
from core.platform.tasks import QUEUES
from outbox.models import DeadLetter
from outbox.selectors import open_dead_letters, outbox_figures, tenant_outbox_figures

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
    confirmed: int  # of the repairs, those that took effect (checked until verified_at)
    verified_at: datetime | None
    errors: int
    error: str
    details: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def heal_run_view(run: HealRun) -> HealRunView:
    """The whole run, for platform staff and the command (no tenant's share)."""
    return HealRunView(
        id=run.id, name=run.name, trigger=run.trigger, actor=run.actor_label,
        scope="tenant" if run.tenant_id is not None else "platform", dry_run=run.dry_run, status=run.status,
        requested_at=run.requested_at, started_at=run.started_at, finished_at=run.finished_at,
        examined=run.examined, repaired=run.repaired, confirmed=run.confirmed, verified_at=run.verified_at,
        errors=run.errors, error=run.error, details=list(run.details))


def _view(run: HealRun, tenant_id: int) -> HealRunView:
    return heal_run_view(run) if run.tenant_id == tenant_id else _share(run, tenant_id)


def _share(run: HealRun, tenant_id: int) -> HealRunView:
    """A platform-wide run as one tenant may see it: its own share and nothing else."""
    share = run.by_tenant.get(str(tenant_id), {})
    failed = run.status == HealRun.Status.FAILED
    return HealRunView(
        id=run.id, name=run.name, trigger=run.trigger, actor=PLATFORM_ACTOR, scope="platform",
        dry_run=run.dry_run, status=run.status, requested_at=run.requested_at, started_at=run.started_at,
        finished_at=run.finished_at, examined=int(share.get("examined", 0)), repaired=int(share.get("repaired", 0)),
        confirmed=int(share.get("confirmed", 0)), verified_at=run.verified_at,
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


# --- the figures ops watch -------------------------------------------------------------------------

# The broker and the workers are asked with a short bound: the page must answer when they do not.
BROKER_TIMEOUT_S = 1.0
PING_TIMEOUT_S = 1.0
# Workers seen by a ping are reused this long, so several open ops pages do not each wait a second.
WORKERS_CACHE_S = 4
# kombu's Redis transport keeps the messages workers hold (prefetched or running) in this hash.
UNACKED_KEY = "unacked"


@dataclass(frozen=True)
class AgencyOutbox:
    """The tenant's own events: what waits for the relay, and its dead letters."""

    pending: int
    due: int
    lag_s: float  # age of the oldest event due for relaying (0 when none waits)
    dead_letters: int


def agency_outbox(tenant_id: int) -> AgencyOutbox:
    figures = tenant_outbox_figures(tenant_id)
    return AgencyOutbox(pending=figures["pending"], due=figures["due"], lag_s=round(figures["lag_s"], 1),
                        dead_letters=open_dead_letters(tenant_id).count())


def dead_letters_for(tenant_id: int, limit: int = 50) -> list[DeadLetter]:
    """The tenant's dead letters not yet redriven, newest first."""
    return list(open_dead_letters(tenant_id).order_by("-created_at", "-id")[:limit])


@dataclass(frozen=True)
class BrokerFigures:
    """Platform-wide: messages waiting in each Celery queue, and those workers hold. None if the
    broker did not answer (with the error)."""

    queues: dict[str, int] | None
    reserved: int | None
    error: str = ""


def broker_figures() -> BrokerFigures:
    client = redis.Redis.from_url(settings.REDIS_BROKER_URL, socket_timeout=BROKER_TIMEOUT_S,
                                  socket_connect_timeout=BROKER_TIMEOUT_S)
    try:
        with client.pipeline(transaction=False) as pipe:
            for queue in QUEUES:
                pipe.llen(queue)
            pipe.hlen(UNACKED_KEY)
            *depths, reserved = pipe.execute()
    except redis.RedisError as exc:
        return BrokerFigures(None, None, f"broker unreachable ({type(exc).__name__})")
    finally:
        client.close()
    return BrokerFigures(dict(zip(QUEUES, (int(d) for d in depths), strict=True)), int(reserved))


@dataclass(frozen=True)
class WorkerFigures:
    """Platform-wide: the Celery workers that answered a ping (None: the ping failed, with why)."""

    alive: list[str] | None
    error: str = ""


def workers_alive(broker_reachable: bool = True) -> WorkerFigures:
    """Hostnames of the workers that answer a ping within PING_TIMEOUT_S (cached briefly).
    Not asked when the broker is unreachable: the ping would only wait for it."""
    if not broker_reachable:
        return WorkerFigures(None, "broker unreachable")
    cached = cache.get("ops:workers_alive")
    if isinstance(cached, list):
        return WorkerFigures(cached)
    try:
        replies = current_app.control.ping(timeout=PING_TIMEOUT_S) or []
    except Exception as exc:  # any broker failure is a figure to show, not a page error
        return WorkerFigures(None, f"ping failed ({type(exc).__name__})")
    alive = sorted(name for reply in replies for name in reply)
    cache.set("ops:workers_alive", alive, WORKERS_CACHE_S)
    return WorkerFigures(alive)


@dataclass(frozen=True)
class PausedQueue:
    queue: str
    paused_at: datetime
    by: str  # platform staff's name or command label: the platform's, not any agency's
    reason: str


def paused_queues() -> list[PausedQueue]:
    """The queues platform staff paused (workers do not consume them), oldest pause first."""
    return [PausedQueue(p.queue, p.paused_at, p.actor_label, p.reason)
            for p in QueuePause.objects.order_by("paused_at", "queue")]


@dataclass(frozen=True)
class PlatformFigures:
    relay_lag_s: float  # age of the oldest event of any agency due for relaying
    broker: BrokerFigures
    workers: WorkerFigures
    paused: list[PausedQueue]


def platform_figures() -> PlatformFigures:
    """Health of the shared machinery every agency's events pass through: relay lag, queue
    depths, workers, paused queues. Counts of events by agency are not among them (those are
    the agency's)."""
    broker = broker_figures()
    return PlatformFigures(relay_lag_s=round(float(outbox_figures()["lag_s"]), 1), broker=broker,
                           workers=workers_alive(broker_reachable=broker.queues is not None), paused=paused_queues())


# --- heal runs: the dry run that a repair follows --------------------------------------------------

# A repair from the ops page follows a dry run of the same heal at most this old.
DRY_RUN_FRESH_S = 30 * 60


def fresh_dry_runs(tenant_id: int) -> dict[str, HealRunView]:
    """The latest successful dry run of each heal the tenant ran itself in the last
    DRY_RUN_FRESH_S seconds, by heal name."""
    since = timezone.now() - timedelta(seconds=DRY_RUN_FRESH_S)
    runs = HealRun.objects.filter(tenant_id=tenant_id, dry_run=True, status=HealRun.Status.SUCCEEDED,
                                  finished_at__gte=since).order_by("-finished_at", "-id")
    latest: dict[str, HealRunView] = {}
    for run in runs[:20]:
        latest.setdefault(run.name, _view(run, tenant_id))
    return latest


def recent_actions(tenant_id: int, limit: int = 20) -> list[OpsAction]:
    """The agency's latest operator actions (redrives, heal requests), newest first."""
    return list(OpsAction.objects.filter(tenant_id=tenant_id).order_by("-at", "-id")[:limit])



# --- bulk actions on dead letters ----------------------------------------------------------


def bulk_actions_for(tenant_id: int, limit: int = 50) -> list[BulkAction]:
    """The agency's latest bulk actions, newest first (platform staff's, over every tenant,
    are the command's and not listed here)."""
    return list(BulkAction.objects.filter(tenant_id=tenant_id).order_by("-requested_at", "-id")[:limit])


def bulk_action_for(tenant_id: int, bulk_id: int) -> BulkAction:
    """One of the agency's bulk actions; NotFound for another agency's, as for none."""
    job = BulkAction.objects.filter(tenant_id=tenant_id, id=bulk_id).first()
    if job is None:
        raise NotFound(f"bulk action {bulk_id} not found")
    return job


def bulk_action_dict(job: BulkAction) -> dict[str, Any]:
    return {"id": job.id, "action": job.action, "status": job.status, "filters": job.filters,
            "requested_by": job.actor_label, "requested_at": job.requested_at, "started_at": job.started_at,
            "finished_at": job.finished_at, "matched": job.matched, "examined": job.examined, "acted": job.acted,
            "percent": job.percent, "error": job.error}
