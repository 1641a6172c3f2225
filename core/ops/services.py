"""Write functions of heal runs (ADR 0012): request, claim, finish, verify.

A run is requested (beat, the API, the ops page) as a `queued` HealRun plus an ops.run_heal
outbox event in one transaction; the task claims it (`queued` -> `running`, conditional
update), runs the heal outside any long transaction (the heal commits its repairs in
chunks), and finishes the run inside its effects() transaction. The command runs a heal
in its own process without the outbox: a repair tool must work when workers do not.
"""

from __future__ import annotations

import getpass
import socket
import uuid
from dataclasses import replace
from datetime import timedelta

import structlog
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.accounts.models import User
from core.ops import queries
from core.ops.models import BulkAction, HealRun, OpsAction, QueuePause
from core.platform.channels import platform_channel, tenant_channel
from core.platform.errors import Conflict, NotFound
from core.platform.heals import CONFIRMS, HEALS, HealResult, Repair
from core.platform.tasks import QUEUES
from outbox import jobs
from outbox.delivery import discard, redrive
from outbox.emit import emit
from outbox.selectors import DeadLetterFilter, count_dead_letters, dead_letters_matching, open_dead_letters

log = structlog.get_logger(__name__)

# Live events of platform-wide runs (no tenant) go here; platform staff's pages may follow it.
PLATFORM_OPS_CHANNEL = platform_channel()
# A run keeps at most this many repairs (or would-be repairs) in its details.
DETAILS_MAX = 1_000
# ops.run_heal's hard time limit (core/ops/tasks.py): a task run still `running` this long
# after it started (plus a grace for the worker's own shutdown) was lost with its worker.
HEAL_TASK_TIME_LIMIT_S = 600
ABANDONED_TASK_RUN_S = HEAL_TASK_TIME_LIMIT_S + 60
# A command has no time limit; its run is presumed lost after an hour (a heal of 100,000
# documents takes about a second, docs/learning.md).
ABANDONED_COMMAND_RUN_S = 3600


def _check_name(name: str) -> str:
    if name not in HEALS:
        raise NotFound(f"heal {name!r} not found; there are {', '.join(sorted(HEALS))}", field="name")
    return name


def _channel(tenant_id: int | None) -> str:
    """Where live events of an ops job go: its agency's channel, or the platform's (no tenant)."""
    return tenant_channel(tenant_id) if tenant_id is not None else PLATFORM_OPS_CHANNEL


def _announce(event_type: str, run: HealRun) -> None:
    emit(event_type, aggregate_type="heal_run", aggregate_id=run.id, channel=_channel(run.tenant_id),
         tenant_id=run.tenant_id, actor_id=run.actor_id,
         payload={"run_id": run.id, "name": run.name, "status": run.status, "dry_run": run.dry_run,
                  "examined": run.examined, "repaired": run.repaired, "confirmed": run.confirmed,
                  "errors": run.errors})


def command_actor_label() -> str:
    """Who ran a command: the OS user and host (there is no signed-in user)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"command ({user}@{socket.gethostname()})"[:150]


@transaction.atomic(durable=True)
def request_heal(name: str, *, trigger: str, actor: User | None = None, actor_label: str = "",
                 dry_run: bool = False, tenant_id: int | None = None) -> HealRun:
    """Record a queued run of heal `name` and enqueue it (ops.run_heal, batch queue).

    tenant_id None heals every tenant (beat, platform staff); a tenant's ops always pass
    their own tenant. NotFound (naming `name`) for an unknown heal."""
    run = HealRun.objects.create(
        name=_check_name(name), trigger=trigger, actor=actor, dry_run=dry_run, tenant_id=tenant_id,
        actor_label=(actor_label or (actor.username if actor else trigger))[:150])
    emit("heal.requested", aggregate_type="heal_run", aggregate_id=run.id, task="ops.run_heal",
         tenant_id=tenant_id, actor_id=actor.id if actor else None, payload={"run_id": run.id})
    _announce("heal.requested", run)
    if actor is not None:  # an operator's action (beat's and commands' runs are in the runs list)
        OpsAction.objects.create(tenant_id=tenant_id, actor=actor, actor_label=run.actor_label,
                                 action=OpsAction.Action.HEAL, count=1,
                                 target={"heal": run.name, "dry_run": dry_run, "run_id": run.id})
    return run


@transaction.atomic(durable=True)
def redrive_dead_letters(tenant_id: int, actor: User, *, ids: list[int] | None = None,
                         fingerprint: str | None = None) -> tuple[int, int]:
    """Send the agency's chosen open dead letters again: by `ids`, by the `fingerprint` of their
    group (outbox.selectors.dead_letter_groups), or all of them when neither is given. Recorded
    in the action log and the audit history (ops.redriven). Returns (chosen, requeued); running
    it twice requeues nothing the second time."""
    letters = open_dead_letters(tenant_id)
    if fingerprint is not None:
        wanted = dead_letters_matching(DeadLetterFilter(tenant_id, fingerprint=fingerprint))
        target: dict[str, object] = {"fingerprint": fingerprint}
    elif ids is not None:
        wanted = list(letters.filter(id__in=ids).values_list("id", flat=True))
        target = {"ids": sorted(wanted)[:100]}
    else:
        wanted = list(letters.values_list("id", flat=True))
        target = {"all": True}
    requeued = redrive(wanted, actor_id=actor.id) if wanted else 0
    if wanted:
        OpsAction.objects.create(tenant_id=tenant_id, actor=actor, actor_label=actor.username,
                                 action=OpsAction.Action.REDRIVE, count=requeued, target=target)
        emit("ops.redriven", aggregate_type="tenant", aggregate_id=tenant_id, tenant_id=tenant_id, actor_id=actor.id,
             channel=tenant_channel(tenant_id), payload={**target, "chosen": len(wanted), "requeued": requeued})
    return len(wanted), requeued


@transaction.atomic(durable=True)
def claim_heal_run(run_id: int, tenant_id: int | None, event_id: uuid.UUID | str | None) -> HealRun | None:
    """queued -> running for this delivery (or the running run this same event already holds,
    when its worker died), until ABANDONED_TASK_RUN_S from now; None if the run is finished,
    another scope's, or held by another delivery."""
    event = str(event_id) if event_id else None
    if jobs.claim(queries.HEAL_RUNS, run_id, tenant_id, event, ABANDONED_TASK_RUN_S) is None:
        return None
    run = HealRun.objects.get(id=run_id)
    _announce("heal.started", run)
    return run


@transaction.atomic(durable=True)
def start_command_run(name: str, *, dry_run: bool = False, tenant_id: int | None = None,
                      actor_label: str = "") -> HealRun:
    """A run started by `manage.py heal`, running in that process at once (no outbox hop)."""
    now = timezone.now()
    run = HealRun.objects.create(
        name=_check_name(name), trigger=HealRun.Trigger.COMMAND, actor_label=actor_label or command_actor_label(),
        dry_run=dry_run, tenant_id=tenant_id, status=HealRun.Status.RUNNING, requested_at=now, started_at=now,
        attempts=1, deadline_at=now + timedelta(seconds=ABANDONED_COMMAND_RUN_S))
    _announce("heal.started", run)
    return run


@transaction.atomic(durable=True)
def reap_abandoned_runs() -> list[int]:
    """Fail every run left `running` past its limit by a process that died, with the reason,
    and announce each. Returns their ids."""
    with connection.cursor() as cursor:
        cursor.execute(queries.REAP_ABANDONED_RUNS, {
            "error": "no outcome before its deadline: the process running it was lost"})
        reaped = [int(row[0]) for row in cursor.fetchall()]
    for run in HealRun.objects.filter(id__in=reaped).order_by("id"):
        _announce("heal.finished", run)
        log.warning("ops.heal_run_abandoned", run_id=run.id, heal=run.name, error=run.error)
    return reaped


def execute_heal(run: HealRun) -> tuple[HealResult | None, str]:
    """Run the heal of `run` (outside any transaction: the heal commits its repairs in chunks),
    after failing the runs that earlier processes abandoned. Returns (result, "") or (None,
    the error): a failed heal is recorded, not retried; the next run starts over from the truth."""
    reap_abandoned_runs()
    heal = HEALS[run.name]
    try:
        return heal(dry_run=run.dry_run, tenant_id=run.tenant_id, heal_run_id=run.id, actor_id=run.actor_id), ""
    except Exception as exc:  # recorded on the run, which ops see
        log.exception("ops.heal_failed", run_id=run.id, heal=run.name)
        return None, f"{type(exc).__name__}: {exc}"[:4000]


def _figures(result: HealResult) -> dict[str, dict[str, int]]:
    repaired = result.repaired_by_tenant()
    tenants = sorted(set(result.examined_by_tenant) | set(repaired))
    return {str(t): {"examined": result.examined_by_tenant.get(t, 0), "repaired": repaired.get(t, 0)}
            for t in tenants}


@transaction.atomic  # not durable: the task calls it inside its effects() transaction
def finish_heal_run(run_id: int, result: HealResult | None, error: str = "") -> HealRun:
    """running -> succeeded (with its figures) or failed (with the error); announce it. A run
    that is not running any more (the reaper failed it meanwhile) keeps its outcome, and
    nothing is announced. Returns the run as it now is."""
    fields: dict[str, object] = {"finished_at": timezone.now(), "claimed_event": None}
    if result is None:
        fields.update(status=HealRun.Status.FAILED, errors=1, error=error or "failed")
    else:
        fields.update(status=HealRun.Status.SUCCEEDED, examined=result.examined, repaired=len(result.repairs),
                      by_tenant=_figures(result), details=[r.to_dict() for r in result.repairs[:DETAILS_MAX]])
    finished = HealRun.objects.filter(id=run_id, status=HealRun.Status.RUNNING).update(**fields)
    run = HealRun.objects.get(id=run_id)
    if not finished:
        log.warning("ops.heal_finish_ignored", run_id=run.id, heal=run.name, status=run.status,
                    reason="the run was no longer running")
        return run
    _announce("heal.finished", run)
    log.info("ops.heal_finished", run_id=run.id, heal=run.name, status=run.status, dry_run=run.dry_run,
             examined=run.examined, repaired=run.repaired)
    return run


# --- verification: which repairs took effect ----------------------------------------------


def verify_heal_run(run: HealRun) -> HealRun:
    """Count the run's repairs that took effect (its heal's confirm), overall and per tenant;
    final (verified_at) once all did or HEAL_VERIFY_WINDOW_S passed since the run finished.
    Only the repairs kept in details are checked (the first DETAILS_MAX)."""
    confirm = CONFIRMS.get(run.name)
    repairs = [Repair(**item) for item in run.details]
    confirmed = confirm(repairs) if confirm is not None else []
    now = timezone.now()
    final = len(confirmed) >= len(repairs) or (
        run.finished_at is not None and run.finished_at <= now - timedelta(seconds=settings.HEAL_VERIFY_WINDOW_S))
    by_tenant = {key: {**figures, "confirmed": sum(1 for r in confirmed if str(r.tenant_id) == key)}
                 for key, figures in run.by_tenant.items()}
    with transaction.atomic(durable=True):
        updated = HealRun.objects.filter(id=run.id, verified_at__isnull=True).update(
            confirmed=len(confirmed), by_tenant=by_tenant, verified_at=now if final else None)
        run.refresh_from_db()
        if updated and final:
            _announce("heal.verified", run)
    if updated and final:
        log.info("ops.heal_verified", run_id=run.id, heal=run.name, repaired=run.repaired, confirmed=run.confirmed)
    return run


def verify_heal_runs(limit: int = 50) -> list[HealRun]:
    """Verify the finished runs whose repairs are not all confirmed yet (beat, every minute)."""
    runs = HealRun.objects.filter(status=HealRun.Status.SUCCEEDED, dry_run=False, repaired__gt=0,
                                  verified_at__isnull=True).order_by("id")[:limit]
    return [verify_heal_run(run) for run in runs]


# --- bulk actions: redrive or discard every open dead letter a filter chooses (adr/0022) ------

# Letters closed per chunk: one short transaction each, and a progress event.
BULK_CHUNK = 500
# ops.run_bulk_action's hard time limit (core/ops/tasks.py), and when a run still `running`
# was lost with its worker (as for heal runs).
BULK_TASK_TIME_LIMIT_S = 600
ABANDONED_BULK_S = BULK_TASK_TIME_LIMIT_S + 60
# A command's run has no time limit; presumed lost after an hour.
ABANDONED_BULK_COMMAND_S = 3600
BULK_ACTIONS = {BulkAction.Kind.REDRIVE: redrive, BulkAction.Kind.DISCARD: discard}


def _announce_bulk(event_type: str, job: BulkAction) -> None:
    emit(event_type, aggregate_type="bulk_action", aggregate_id=job.id, channel=_channel(job.tenant_id),
         tenant_id=job.tenant_id, actor_id=job.actor_id,
         payload={"bulk_id": job.id, "action": job.action, "status": job.status, "matched": job.matched,
                  "examined": job.examined, "acted": job.acted})


def _new_bulk_action(action: str, chosen: DeadLetterFilter, actor: User | None, actor_label: str,
                     **fields: object) -> BulkAction:
    """Count what the filter chooses now (as_of: now, unless the operator saw the count
    earlier) and record the job and the operator's action. Conflict, naming `filter`, when it
    chooses nothing: there is nothing to confirm."""
    if action not in BULK_ACTIONS:
        raise NotFound(f"no bulk action {action!r}; there are redrive and discard", field="action")
    chosen = replace(chosen, as_of=chosen.as_of or timezone.now())
    matched = count_dead_letters(chosen)
    if not matched:
        raise Conflict("no open dead letter matches this filter (they may have been redriven or discarded "
                       "already)", field="filter")
    label = (actor_label or (actor.username if actor else "unknown"))[:150]
    job = BulkAction.objects.create(tenant_id=chosen.tenant_id, action=action, filters=chosen.to_dict(),
                                    matched=matched, actor=actor, actor_label=label, **fields)
    OpsAction.objects.create(tenant_id=chosen.tenant_id, actor=actor, actor_label=label, action=action,
                             count=matched, target={**chosen.to_dict(), "bulk_id": job.id})
    return job


@transaction.atomic(durable=True)
def request_bulk_action(action: str, chosen: DeadLetterFilter, actor: User) -> BulkAction:
    """Queue a background redrive or discard of the open dead letters `chosen` picks (no
    later than its as_of) and record it in the action log; ops.run_bulk_action does it in
    chunks, announcing its progress. Conflict if the filter picks nothing."""
    job = _new_bulk_action(action, chosen, actor, actor.username)
    emit("ops.bulk_requested", aggregate_type="bulk_action", aggregate_id=job.id, task="ops.run_bulk_action",
         tenant_id=job.tenant_id, actor_id=actor.id, payload={"bulk_id": job.id})
    _announce_bulk("ops.bulk_progress", job)
    return job


@transaction.atomic(durable=True)
def start_command_bulk_action(action: str, chosen: DeadLetterFilter) -> BulkAction:
    """A bulk action of `manage.py dead_letters`, run in that process at once (no outbox hop:
    it must work when workers do not)."""
    now = timezone.now()
    return _new_bulk_action(action, chosen, None, command_actor_label(), status=BulkAction.Status.RUNNING,
                            started_at=now, attempts=1, deadline_at=now + timedelta(seconds=ABANDONED_BULK_COMMAND_S))


@transaction.atomic(durable=True)
def claim_bulk_action(job_id: int, tenant_id: int | None, event_id: uuid.UUID | str | None) -> BulkAction | None:
    """queued -> running for this delivery (or resume the one this event already holds)."""
    if jobs.claim(queries.BULK_ACTIONS, job_id, tenant_id, str(event_id) if event_id else None,
                  ABANDONED_BULK_S) is None:
        return None
    return BulkAction.objects.get(id=job_id)


@transaction.atomic(durable=True)
def run_bulk_chunk(job_id: int, chunk: int | None = None) -> bool:
    """Act on the next `chunk` (default BULK_CHUNK) letters the job's filter chooses, in one transaction with the
    job's count of them; announce the progress. Returns True if there may be more."""
    chunk = chunk or BULK_CHUNK
    job = BulkAction.objects.select_for_update().get(id=job_id)
    if job.status != BulkAction.Status.RUNNING:
        return False
    ids = dead_letters_matching(DeadLetterFilter.from_dict(job.filters), after_id=job.last_id, limit=chunk)
    if not ids:
        return False
    # Letters closed meanwhile by someone else are skipped by the statement, not counted.
    job.acted += BULK_ACTIONS[BulkAction.Kind(job.action)](ids, actor_id=job.actor_id)
    job.examined += len(ids)
    job.last_id = ids[-1]
    job.save(update_fields=["acted", "examined", "last_id"])
    _announce_bulk("ops.bulk_progress", job)
    return len(ids) == chunk


def execute_bulk_action(job: BulkAction) -> str:
    """Every chunk of the job (each its own transaction), after failing the bulk actions that
    earlier processes abandoned. Returns "" or the error that stopped it."""
    reap_abandoned_bulk_actions()
    try:
        while run_bulk_chunk(job.id):
            pass
    except Exception as exc:  # recorded on the job, which ops see; what committed stays done
        log.exception("ops.bulk_action_failed", bulk_id=job.id)
        return f"{type(exc).__name__}: {exc}"[:4000]
    return ""


@transaction.atomic  # not durable: the task calls it inside its effects() transaction
def finish_bulk_action(job_id: int, error: str = "") -> BulkAction:
    """running -> succeeded, or failed with the error; announce it. A job that is not
    running any more (the reaper failed it) keeps its outcome."""
    status = BulkAction.Status.FAILED if error else BulkAction.Status.SUCCEEDED
    finished = BulkAction.objects.filter(id=job_id, status=BulkAction.Status.RUNNING).update(
        status=status, error=error, finished_at=timezone.now(), claimed_event=None)
    job = BulkAction.objects.get(id=job_id)
    if finished:
        _announce_bulk("ops.bulk_finished", job)
        log.info("ops.bulk_action_finished", bulk_id=job.id, action=job.action, status=job.status,
                 matched=job.matched, examined=job.examined, acted=job.acted)
    return job


@transaction.atomic(durable=True)
def reap_abandoned_bulk_actions() -> list[int]:
    """Fail the bulk actions left `running` past their deadline by a process that died."""
    with connection.cursor() as cursor:
        cursor.execute(queries.REAP_ABANDONED_BULK_ACTIONS, {
            "error": "no outcome before its deadline: the process running it was lost"})
        reaped = [int(row[0]) for row in cursor.fetchall()]
    for job in BulkAction.objects.filter(id__in=reaped).order_by("id"):
        _announce_bulk("ops.bulk_finished", job)
        log.warning("ops.bulk_action_abandoned", bulk_id=job.id)
    return reaped


# --- queue pauses (platform staff; adr/0022) ----------------------------------------------------


def _check_queue(queue: str) -> str:
    if queue not in QUEUES:
        raise NotFound(f"queue {queue!r} not found; there are {', '.join(QUEUES)}", field="queue")
    return queue


def _queue_action(action: str, queue: str, actor_label: str, reason: str) -> None:
    OpsAction.objects.create(actor_label=actor_label[:150], action=action, count=1,
                             target={"queue": queue, "reason": reason} if reason else {"queue": queue})
    emit("ops.queue_paused" if action == OpsAction.Action.PAUSE else "ops.queue_resumed",
         aggregate_type="queue", aggregate_id=queue, channel=PLATFORM_OPS_CHANNEL,
         payload={"queue": queue, "actor": actor_label, "reason": reason})


@transaction.atomic(durable=True)
def pause_queue(queue: str, actor_label: str, reason: str = "") -> QueuePause:
    """Stop workers consuming from `queue` (they check within QUEUE_PAUSE_POLL_S); the relay
    keeps publishing to it. Recorded in the action log. Conflict if it is paused already."""
    pause, created = QueuePause.objects.get_or_create(
        queue=_check_queue(queue), defaults={"actor_label": actor_label[:150], "reason": reason[:500]})
    if not created:
        raise Conflict(f"queue {queue} is paused already (by {pause.actor_label} at {pause.paused_at:%Y-%m-%d %H:%M})",
                       field="queue")
    _queue_action(OpsAction.Action.PAUSE, queue, actor_label, reason[:500])
    log.warning("ops.queue_paused", queue=queue, actor=actor_label, reason=reason)
    return pause


@transaction.atomic(durable=True)
def resume_queue(queue: str, actor_label: str) -> None:
    """Let workers consume from `queue` again. Conflict if it is not paused."""
    if not QueuePause.objects.filter(queue=_check_queue(queue)).delete()[0]:
        raise Conflict(f"queue {queue} is not paused", field="queue")
    _queue_action(OpsAction.Action.RESUME, queue, actor_label, "")
    log.warning("ops.queue_resumed", queue=queue, actor=actor_label)
