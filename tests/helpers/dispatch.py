"""Dispatch test data (clinicians and visits on a working day in Boston) and Optimize Day run
in-process, exactly as a worker runs the relayed event."""

from __future__ import annotations

from datetime import date, time

from core.accounts.models import Tenant
from core.dispatch import services
from core.dispatch.models import Clinician, OptimizeJob, Visit
from outbox.models import OutboxEvent
from tests.helpers.outbox import execute

DAY = date(2026, 3, 10)


def add_clinician(tenant: Tenant, name: str = "Nora Whitfield", skills: tuple[str, ...] = ("nursing",),
                  shift: tuple[time, time] = (time(8), time(16)), at: tuple[float, float] = (42.3016, -71.0676),
                  active: bool = True) -> Clinician:
    return services.create_clinician(tenant.pk, services.ClinicianFields(
        name=name, skills=skills, shift_start=shift[0], shift_end=shift[1], start_lat=at[0], start_lon=at[1],
        active=active), actor_id=None)


def add_visit(tenant: Tenant, ref: str = "HB-0001", *, day: date = DAY, window: tuple[time, time] = (time(9), time(12)),
              minutes: int = 30, skill: str = "nursing", at: tuple[float, float] = (42.3503, -71.0810),
              priority: int = 1) -> Visit:
    return services.create_visit(tenant.pk, services.VisitFields(
        patient_ref=ref, lat=at[0], lon=at[1], date=day, window_start=window[0], window_end=window[1],
        duration_minutes=minutes, required_skill=skill, priority=priority), actor_id=None)




def task_event(job: OptimizeJob) -> OutboxEvent:
    return OutboxEvent.objects.get(task_name="dispatch.optimize_day", payload__job_id=job.pk)


def optimize_now(tenant: Tenant, day: date) -> OptimizeJob:
    """Request Optimize Day for `day` and run its task; the job, reloaded."""
    job = services.request_optimize(tenant.pk, day, actor_id=None).job
    execute(task_event(job))
    job.refresh_from_db()
    return job
