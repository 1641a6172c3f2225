"""The outbox from a test's side: running task events in-process exactly as a worker runs
the relay's message, and reading what the outbox holds."""

from __future__ import annotations

import base64
import json
from typing import Any

import redis
from django.db import connection, transaction

from core.config.celery import app
from outbox.consumers import ENVELOPE_HEADER, Envelope
from outbox.emit import EmittedEvent, emit
from outbox.models import OutboxEvent


def execute(event: OutboxEvent, *, tenant_id: int | None = None) -> Any:
    """Run one task event in-process exactly as a worker runs the relay's message: the event is
    claimed as the relay claims it (relayed, one more delivery), then its task runs with the
    payload as keyword arguments plus the tenant (`tenant_id` overrides the event's, to try
    another agency's), and the outbox envelope header. Returns the task's result (None when
    it failed: the outbox has retried or dead-lettered the event)."""
    assert event.task_name is not None
    with connection.cursor() as cursor:
        cursor.execute("UPDATE outbox_event SET status = 'relayed', attempts = attempts + 1, relayed_at = now(), "
                       "redeliver_at = now() + make_interval(secs => redeliver_after) "
                       "WHERE id = %s AND status = 'pending'", [event.id])
    header = Envelope(outbox_id=event.id, created_at=event.created_at, event_id=event.event_id,
                      event_type=event.event_type, trace_id=event.trace_id, tenant_id=event.tenant_id).to_header()
    kwargs = {**json.loads(json.dumps(event.payload)),
              "tenant_id": event.tenant_id if tenant_id is None else tenant_id}
    headers: dict[str, Any] = {ENVELOPE_HEADER: header}
    result = app.tasks[event.task_name].apply(kwargs=kwargs, task_id=str(event.event_id), headers=headers)
    return result.result


def pending_tasks(*names: str) -> list[OutboxEvent]:
    """Task events waiting for the relay (of `names`, or all), oldest first."""
    events = OutboxEvent.objects.filter(status="pending", task_name__isnull=False).order_by("id")
    return list(events.filter(task_name__in=names) if names else events)


def deliver(*names: str, rounds: int = 5) -> int:
    """Execute pending task events (of `names`, or all) until none are left, including the ones
    they emit; returns how many ran."""
    ran = 0
    for _ in range(rounds):
        events = pending_tasks(*names)
        if not events:
            return ran
        for event in events:
            execute(event)
            ran += 1
    return ran


def events_of(event_type: str, **filters: Any) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(event_type=event_type, **filters).order_by("id"))


def truncate_outbox() -> None:
    """Empty the outbox tables Django's flush does not know (unmanaged, SQL-only)."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE outbox_event, outbox_history, outbox_key, outbox_metric_minute, outbox_metric_hour, "
                       "outbox_metric_state")


def outbox_counts() -> dict[str, int]:
    """Events by status, wherever they are (hot table or history)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM outbox_log GROUP BY status")
        found = dict(cursor.fetchall())
    return {status: found.get(status, 0) for status in ("pending", "relayed", "completed", "dead")}


def row_of(emitted: EmittedEvent) -> OutboxEvent:
    """The row of an emitted event (written when its transaction committed)."""
    return OutboxEvent.objects.get(event_id=emitted.event_id)


def ids_of(emitted: list[EmittedEvent]) -> list[int]:
    """The outbox ids of emitted events, in the order given (after their transaction)."""
    found = dict(OutboxEvent.objects.filter(event_id__in=[e.event_id for e in emitted]).values_list("event_id", "id"))
    return [found[e.event_id] for e in emitted]


def emit_effects(keys: list[str], payload: dict[str, Any] | None = None, **options: Any) -> list[int]:
    """Commit one transaction emitting a `tests.record_effect` event per key (the task records
    an Effect row named by the key); `options` go to emit() (tenant_id defaults to None).
    Returns the outbox ids, in the keys' order."""
    options.setdefault("tenant_id", None)
    with transaction.atomic():
        emitted = [emit("test.effect_requested", aggregate_type="test", aggregate_id=key,
                        payload={"key": key, **(payload or {})}, task="tests.record_effect", **options)
                   for key in keys]
    return ids_of(emitted)


def emit_effect(key: str, payload: dict[str, Any] | None = None, **options: Any) -> int:
    """emit_effects for one key, in a transaction of its own; returns its outbox id."""
    return emit_effects([key], payload, **options)[0]


def queued_keys(broker: redis.Redis, queue: str = "default") -> list[str]:
    """The `key` argument of the messages in a Celery queue, in the order workers take them."""
    return [json.loads(base64.b64decode(json.loads(raw)["body"]))[1]["key"]
            for raw in reversed(broker.lrange(queue, 0, -1))]
