"""Schedules dispatchers set for their agency (adr/0025): "optimize tomorrow every weekday at
17:00", in cron form in the agency's time zone or every N minutes.

A schedule's due runs travel through the outbox as deferred task events: each write (create,
edit, pause, resume) and each run emits the next one, with available_at at the next due time
and the schedule's priority, so due runs are relayed in due-time order and, at one time, by
priority. Every event carries the schedule's version; a write bumps it, so the event of an
older version finds nothing to do (`run_schedule` answers "stale"). A run records itself, the
Optimize Day job it requested and the next event in one transaction (the task's effects):
redelivered, it does nothing twice. Runs missed while the system was down are not replayed:
the one event still waiting is delivered once, runs once, counts how many due times it
covered, and the schedule goes on from the next due time after now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError
from django.db import connection, transaction
from django.utils import timezone

from core.accounts.access import get_for_tenant
from core.accounts.models import Tenant
from core.dispatch.models import Schedule, ScheduleRun
from core.dispatch.services import request_optimize_within
from core.platform.channels import tenant_channel
from core.platform.errors import Invalid
from outbox.emit import emit

RUN_TASK = "dispatch.run_schedule"
# Every N minutes: no more often than this (each run is a solve), no rarer than a fortnight.
EVERY_MINUTES_MIN, EVERY_MINUTES_MAX = 5, 14 * 24 * 60
# A missed-runs count stops at this (a schedule every 5 minutes down for a year).
MISSED_COUNT_MAX = 100_000


@dataclass(frozen=True)
class ScheduleFields:
    """What a dispatcher sets; exactly one of cron and every_minutes."""

    name: str
    cron: str = ""
    every_minutes: int | None = None
    days_ahead: int = 1
    priority: int = 5
    enabled: bool = True

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> ScheduleFields:
        """From a form's cleaned data or an API body: an empty cron is none, enabled a flag."""
        return cls(name=data["name"], cron=data.get("cron") or "", every_minutes=data.get("every_minutes"),
                   days_ahead=data["days_ahead"], priority=data["priority"], enabled=bool(data.get("enabled")))


def zone_of(tenant_id: int) -> ZoneInfo:
    name = Tenant.objects.filter(id=tenant_id).values_list("time_zone", flat=True).first() or "UTC"
    return ZoneInfo(name)


def check(fields: ScheduleFields) -> ScheduleFields:
    """The fields, cleaned; Invalid naming the field at fault."""
    name = fields.name.strip()
    if not name or len(name) > 100:
        raise Invalid("give the schedule a name of 1 to 100 characters", field="name")
    cron = " ".join(fields.cron.split())
    if bool(cron) == (fields.every_minutes is not None):
        raise Invalid("give either a cron expression or every_minutes, not both and not neither",
                      field="cron" if cron else "every_minutes")
    if cron:
        try:
            CronSim(cron, datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC")))
        except (CronSimError, ValueError, IndexError) as exc:
            raise Invalid(f"not a cron expression of five fields (minute hour day month weekday): {exc}",
                          field="cron") from None
        if len(cron) > 100:
            raise Invalid("at most 100 characters", field="cron")
    elif not EVERY_MINUTES_MIN <= fields.every_minutes <= EVERY_MINUTES_MAX:  # type: ignore[operator]
        raise Invalid(f"from {EVERY_MINUTES_MIN} to {EVERY_MINUTES_MAX} minutes", field="every_minutes")
    if not 0 <= fields.days_ahead <= 14:
        raise Invalid("from 0 (the day of the run) to 14", field="days_ahead")
    if not 0 <= fields.priority <= 9:
        raise Invalid("from 0 (first) to 9", field="priority")
    return ScheduleFields(name, cron, fields.every_minutes, fields.days_ahead, fields.priority, fields.enabled)


def next_due(cron: str, every_minutes: int | None, after: datetime, zone: ZoneInfo,
             anchor: datetime | None = None) -> datetime | None:
    """The first due time strictly after `after`: by `cron` read in `zone` (Debian cron's DST
    rules: a time skipped by a spring-forward runs right after it, a repeated one runs once),
    or every `every_minutes` from `anchor` (default: `after`). None if the cron expression
    never matches in the next 50 years."""
    if cron:
        # CronSim yields whole minutes strictly after its start.
        try:
            return next(iter(CronSim(cron, after.astimezone(zone))))
        except StopIteration:
            return None
    assert every_minutes is not None
    step = timedelta(minutes=every_minutes)
    start = anchor or after
    if start > after:
        return start
    return start + step * ((after - start) // step + 1)


def missed_between(schedule: Schedule, due: datetime, now: datetime, zone: ZoneInfo) -> int:
    """How many due times after `due` and up to `now` the schedule had (not run again)."""
    count, at = 0, due
    while count < MISSED_COUNT_MAX:
        following = next_due(schedule.cron, schedule.every_minutes, at, zone, anchor=due)
        if following is None or following > now:
            return count
        count, at = count + 1, following
    return count


def _announce(event_type: str, schedule: Schedule, actor_id: int | None, **payload: object) -> None:
    emit(event_type, aggregate_type="schedule", aggregate_id=schedule.id, tenant_id=schedule.tenant_id,
         actor_id=actor_id, channel=tenant_channel(schedule.tenant_id),
         payload={"schedule_id": schedule.id, "name": schedule.name, "enabled": schedule.enabled,
                  "next_run_at": schedule.next_run_at.isoformat() if schedule.next_run_at else None, **payload})


def transaction_now() -> datetime:
    """The current transaction's start, the `now()` an emitted event's available_at counts from."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT now()")
        moment: datetime = cursor.fetchone()[0]
    return moment


def _plan_next(schedule: Schedule, now: datetime, anchor: datetime | None = None) -> None:
    """Set next_run_at (None while paused) and emit its deferred event, for this version. The
    event's delay counts from the transaction's start, so it is due at next_run_at exactly."""
    if not schedule.enabled:
        schedule.next_run_at = None
        return
    schedule.next_run_at = next_due(schedule.cron, schedule.every_minutes, now, zone_of(schedule.tenant_id),
                                    anchor=anchor)
    if schedule.next_run_at is None:
        return
    emit("schedule.due", aggregate_type="schedule", aggregate_id=schedule.id, task=RUN_TASK,
         tenant_id=schedule.tenant_id, priority=schedule.priority,
         delay_s=max((schedule.next_run_at - transaction_now()).total_seconds(), 0.0),
         payload={"schedule_id": schedule.id, "version": schedule.version,
                  "due_at": schedule.next_run_at.isoformat()})


@transaction.atomic(durable=True)
def create_schedule(tenant_id: int, fields: ScheduleFields, *, actor_id: int | None) -> Schedule:
    clean = check(fields)
    schedule = Schedule.objects.create(tenant_id=tenant_id, name=clean.name, cron=clean.cron,
                                       every_minutes=clean.every_minutes, days_ahead=clean.days_ahead,
                                       priority=clean.priority, enabled=clean.enabled, created_by_id=actor_id)
    _plan_next(schedule, timezone.now())
    schedule.save(update_fields=["next_run_at"])
    _announce("schedule.created", schedule, actor_id)
    return schedule


@transaction.atomic(durable=True)
def update_schedule(tenant_id: int, schedule_id: int, fields: ScheduleFields, *, actor_id: int | None) -> Schedule:
    """Replace the schedule's settings; its next run follows the new ones (a new version)."""
    clean = check(fields)
    schedule = get_for_tenant(Schedule.objects.select_for_update(), tenant_id, schedule_id, "schedule")
    for name in ("name", "cron", "every_minutes", "days_ahead", "priority", "enabled"):
        setattr(schedule, name, getattr(clean, name))
    schedule.version += 1
    _plan_next(schedule, timezone.now())
    schedule.save()
    _announce("schedule.updated", schedule, actor_id)
    return schedule


@transaction.atomic(durable=True)
def set_schedule_enabled(tenant_id: int, schedule_id: int, enabled: bool, *, actor_id: int | None) -> Schedule:
    """Pause (no run until resumed) or resume (from the next due time after now)."""
    schedule = get_for_tenant(Schedule.objects.select_for_update(), tenant_id, schedule_id, "schedule")
    if schedule.enabled != enabled:
        schedule.enabled = enabled
        schedule.version += 1
        _plan_next(schedule, timezone.now())
        schedule.save()
        _announce("schedule.resumed" if enabled else "schedule.paused", schedule, actor_id)
    return schedule


@transaction.atomic(durable=True)
def delete_schedule(tenant_id: int, schedule_id: int, *, actor_id: int | None) -> None:
    """Delete the schedule and its runs; its waiting event finds nothing to do."""
    schedule = get_for_tenant(Schedule.objects.select_for_update(), tenant_id, schedule_id, "schedule")
    _announce("schedule.deleted", schedule, actor_id)
    schedule.delete()


@dataclass(frozen=True)
class RunResult:
    outcome: str  # a ScheduleRun outcome, or "stale" (an older version's event, or no schedule)
    run: ScheduleRun | None = None


def run_schedule(tenant_id: int, schedule_id: int, version: int, due_at: datetime) -> RunResult:
    """The schedule's due run (inside the task's effects() transaction): request Optimize Day
    for the agency's local date of `due_at` plus days_ahead, record the run with the due
    times it covered, and emit the next due event. "stale" for an older version's event."""
    schedule = Schedule.objects.select_for_update().filter(id=schedule_id, tenant_id=tenant_id).first()
    if schedule is None or schedule.version != version or not schedule.enabled:
        return RunResult("stale")
    zone, now = zone_of(tenant_id), timezone.now()
    day: date = due_at.astimezone(zone).date() + timedelta(days=schedule.days_ahead)
    requested = request_optimize_within(tenant_id, day, actor_id=None)
    run = ScheduleRun.objects.create(
        schedule=schedule, tenant_id=tenant_id, due_at=due_at, ran_at=now, day=day, job=requested.job,
        outcome=ScheduleRun.Outcome.REQUESTED if requested.created else ScheduleRun.Outcome.ALREADY_ACTIVE,
        missed=missed_between(schedule, due_at, now, zone))
    schedule.last_run_at = now
    # The next due time after both now and this one (a delivery may come a moment early).
    _plan_next(schedule, max(now, due_at), anchor=due_at if schedule.every_minutes else None)
    schedule.save(update_fields=["last_run_at", "next_run_at", "updated_at"])
    _announce("schedule.ran", schedule, None, run_id=run.id, job_id=requested.job.id, day=day.isoformat(),
              missed=run.missed)
    return RunResult(run.outcome, run)
