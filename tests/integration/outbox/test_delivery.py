"""Delivery states: sweep, dead letters, redrive, duplicate consumption, history moves."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection, transaction

from core.platform.db import conninfo
from outbox import delivery
from outbox.consumers import ENVELOPE_HEADER
from outbox.models import DeadLetter, DeliveryAttempt, InboxEntry, OutboxEvent
from relays.relay import Relay, RelayConfig
from tests.helpers.outbox import emit_effect, outbox_counts
from tests.support.models import Effect
from tests.support.tasks import record_effect

pytestmark = pytest.mark.usefixtures("outbox_db", "broker")


def relay_once() -> None:
    relay = Relay(conninfo(), settings.REDIS_BROKER_URL, settings.REDIS_PUBSUB_URL, RelayConfig())
    relay.relay_batch()
    relay.move_completed()
    relay.close()


def make_overdue() -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE outbox_event SET redeliver_at = now() - interval '1 second' WHERE status = 'relayed'")


def run_as_worker(outbox_id: int, key: str) -> None:
    """Execute the event in-process, the way a worker would after the relay's message."""
    event = OutboxEvent.objects.get(id=outbox_id)
    header = {"id": event.id, "created_at": event.created_at.isoformat(), "event_id": str(event.event_id),
              "event_type": event.event_type, "trace_id": ""}
    record_effect.apply(kwargs={"key": key, "tenant_id": None}, task_id=str(event.event_id),
                        headers={ENVELOPE_HEADER: header})


def test_the_sweep_redelivers_relayed_events_that_never_completed() -> None:
    event_id = emit_effect("lost")
    relay_once()
    assert delivery.sweep_stalled().moved == 0  # not overdue yet
    make_overdue()
    result = delivery.sweep_stalled()
    assert (result.requeued, result.dead) == (1, 0)
    event = OutboxEvent.objects.get(id=event_id)
    assert event.status == "pending"
    assert "not completed within" in event.last_error
    relay_once()
    assert OutboxEvent.objects.get(id=event_id).attempts == 2


def test_an_event_delivered_too_often_becomes_a_dead_letter_and_can_be_redriven() -> None:
    event_id = emit_effect("doomed")
    for _ in range(3):
        relay_once()
        make_overdue()
        delivery.sweep_stalled(max_deliveries=3)
    letter = DeadLetter.objects.get(outbox_id=event_id)
    assert letter.attempts == 3
    assert OutboxEvent.objects.get(id=event_id).status == "dead"
    assert delivery.redrive([letter.id], actor_id=None) == 1
    assert delivery.redrive([letter.id], actor_id=None) == 0  # idempotent
    assert OutboxEvent.objects.get(id=event_id).status == "pending"
    letter.refresh_from_db()
    assert letter.redriven_at is not None


def test_a_consumer_records_its_effect_once_even_when_delivered_twice() -> None:
    event_id = emit_effect("twice")
    relay_once()
    run_as_worker(event_id, "twice")
    run_as_worker(event_id, "twice")
    assert Effect.objects.filter(key="twice").count() == 1
    assert InboxEntry.objects.filter(outbox_id=event_id).count() == 1
    assert OutboxEvent.objects.get(id=event_id).status == "completed"
    outcomes = list(DeliveryAttempt.objects.filter(outbox_id=event_id).values_list("outcome", flat=True))
    assert outcomes == ["succeeded"]  # the second delivery stopped at the inbox, before starting


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


def test_a_workers_attempt_commits_on_its_own_and_leaves_the_session_synchronous() -> None:
    """In autocommit, as in a worker, the attempt's row commits without waiting for the WAL
    flush (queries.ATTEMPT_START_OWN); the setting ends with that statement."""
    event_id = emit_effect("own")
    relay_once()
    run_as_worker(event_id, "own")
    assert list(DeliveryAttempt.objects.filter(outbox_id=event_id).values_list("outcome", flat=True)) == ["succeeded"]
    assert synchronous_commit() == "on"


def test_an_attempt_started_inside_a_callers_transaction_leaves_that_commit_synchronous() -> None:
    """(The task itself then fails: its effects need a transaction of their own.)"""
    event_id = emit_effect("inside")
    relay_once()
    with transaction.atomic():
        run_as_worker(event_id, "inside")
        assert DeliveryAttempt.objects.filter(outbox_id=event_id).count() == 1
        assert synchronous_commit() == "on"


def test_a_failing_consumer_is_retried_through_the_outbox_with_a_backoff() -> None:
    event_id = emit_effect("flaky")
    relay_once()
    event = OutboxEvent.objects.get(id=event_id)
    header = {"id": event.id, "created_at": event.created_at.isoformat(), "event_id": str(event.event_id)}
    record_effect.apply(kwargs={"key": "flaky", "tenant_id": None, "fail_attempts": 1},
                        task_id=str(event.event_id), headers={ENVELOPE_HEADER: header})
    event.refresh_from_db()
    assert event.status == "pending"
    assert event.available_at > event.created_at
    assert "failing on purpose" in event.last_error
    assert list(DeliveryAttempt.objects.filter(outbox_id=event_id).values_list("outcome", flat=True)) == ["retrying"]


def test_completed_events_move_to_the_history_and_stay_readable() -> None:
    event_id = emit_effect("moved")
    relay_once()
    run_as_worker(event_id, "moved")
    relay_once()  # moves completed events
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM outbox_event WHERE id = %s", [event_id])
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT status FROM outbox_history WHERE id = %s", [event_id])
        assert cursor.fetchone()[0] == "completed"
    assert OutboxEvent.objects.get(id=event_id).status == "completed"  # through the outbox_log view
    assert outbox_counts()["completed"] == 1


def test_completing_an_unknown_or_finished_event_changes_nothing() -> None:
    delivery.complete(10**12)
    assert not OutboxEvent.objects.exists()
