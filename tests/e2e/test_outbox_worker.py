"""An unmodified Celery worker consumes what the relay produces, with the outbox's guarantees."""

from __future__ import annotations

from pathlib import Path

import pytest

from outbox.models import DeliveryAttempt, InboxEntry, OutboxEvent
from tests.helpers.outbox import emit_effect
from tests.helpers.processes import processes, start_relay, start_worker, wait_until
from tests.support.models import Effect

pytestmark = pytest.mark.usefixtures("outbox_db", "broker")


def test_a_worker_runs_the_relayed_task_once_and_completes_the_event(log_dir: Path) -> None:
    event_id = emit_effect("hello")
    relay = start_relay(log_dir)
    worker = start_worker(log_dir)
    with processes(relay, worker):
        wait_until(lambda: OutboxEvent.objects.get(id=event_id).status == "completed", 30,
                   message="the event to complete")
    event = OutboxEvent.objects.get(id=event_id)
    assert Effect.objects.filter(key="hello").count() == 1
    inbox = InboxEntry.objects.get(event_id=event.event_id)
    assert inbox.outbox_id == event_id
    assert inbox.task_name == "tests.record_effect"
    assert event.relayed_at is not None
    assert event.completed_at is not None
    assert event.attempts == 1
    attempt = DeliveryAttempt.objects.get(event_id=event.event_id)
    assert attempt.outcome == "succeeded"
