"""Running the Optimize Day task in-process, exactly as a worker runs a relayed event."""

from __future__ import annotations

import json
from datetime import date

from django.db import connection

from core.accounts.models import Tenant
from core.config.celery import app
from core.dispatch import services
from core.dispatch.models import OptimizeJob
from outbox.consumers import Envelope
from outbox.models import OutboxEvent


def deliver(event: OutboxEvent, tenant_id: int | None = None) -> None:
    """Run the event's task as a worker would: relayed first, then the payload as keyword
    arguments plus the tenant, with the outbox envelope header the relay adds."""
    with connection.cursor() as cursor:
        cursor.execute("UPDATE outbox_event SET status = 'relayed', attempts = attempts + 1 "
                       "WHERE id = %s AND status = 'pending'", [event.id])
    task = app.tasks[str(event.task_name)]
    header = Envelope(outbox_id=event.id, created_at=event.created_at, event_id=event.event_id,
                      event_type=event.event_type, trace_id="", tenant_id=event.tenant_id).to_header()
    kwargs = {**json.loads(json.dumps(event.payload)), "tenant_id": event.tenant_id if tenant_id is None else tenant_id}
    task.push_request(id=str(event.event_id), hostname="test-worker", ferry=header)
    try:
        task(**kwargs)
    finally:
        task.pop_request()


def task_event(job: OptimizeJob) -> OutboxEvent:
    return OutboxEvent.objects.get(task_name="dispatch.optimize_day", payload__job_id=job.pk)


def optimize_now(tenant: Tenant, day: date) -> OptimizeJob:
    """Request Optimize Day for `day` and run its task; the job, reloaded."""
    job = services.request_optimize(tenant.pk, day, actor_id=None).job
    deliver(task_event(job))
    job.refresh_from_db()
    return job
