"""emit(): one row in the caller's transaction, refused outside one, payloads checked."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import structlog
from django.db import connection, transaction

from core.accounts.models import Tenant
from core.platform.tenancy import tenant_context
from outbox.emit import InvalidEvent, InvalidPayload, NotInTransaction, emit, validate_payload
from outbox.models import OutboxEvent
from tests.helpers.outbox import row_of


def pending_ids() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM outbox_event WHERE status = 'pending' ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_emit_outside_a_transaction_is_refused() -> None:
    with pytest.raises(NotInTransaction, match="must run inside the transaction"):
        emit("visit.updated", aggregate_type="visit", aggregate_id=1, channel="tenant:1:events")
    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_leaves_no_event() -> None:
    def failing_state_change() -> None:
        with transaction.atomic():
            emit("visit.updated", aggregate_type="visit", aggregate_id=1, channel="tenant:1:events")
            raise RuntimeError("the state change failed")

    with pytest.raises(RuntimeError):
        failing_state_change()
    assert not OutboxEvent.objects.exists()
    assert pending_ids() == []


@pytest.mark.django_db
def test_emit_records_who_what_where_and_when(harbor: Tenant) -> None:
    with (tenant_context(harbor.id), structlog.contextvars.bound_contextvars(request_id="req-42"),
          transaction.atomic()):
        emitted = emit("visit.updated", aggregate_type="visit", aggregate_id=7,
                       payload={"visit_id": 7, "fields": ["window"]}, channel=f"tenant:{harbor.id}:events",
                       actor_id=3, priority=2)
    event = row_of(emitted)
    assert event.event_id == emitted.event_id
    assert (event.tenant_id, event.actor_id, event.trace_id) == (harbor.id, 3, "req-42")
    assert (event.event_type, event.aggregate_type, event.aggregate_id) == ("visit.updated", "visit", "7")
    assert event.payload == {"visit_id": 7, "fields": ["window"]}
    assert (event.status, event.attempts, event.priority) == ("pending", 0, 2)
    assert event.channel == f"tenant:{harbor.id}:events"
    assert event.task_name is None
    assert pending_ids() == [event.id]


@pytest.mark.django_db
def test_a_task_event_carries_its_queue_and_redelivery_deadline() -> None:
    with transaction.atomic():
        emitted = emit("test.effect_requested", aggregate_type="test", aggregate_id="k",
                       payload={"key": "k"}, task="tests.record_effect", tenant_id=None)
    event = row_of(emitted)
    assert (event.task_name, event.queue) == ("tests.record_effect", "default")
    assert event.redeliver_after is not None
    assert event.redeliver_after > 30  # longer than the task's hard time limit


@pytest.mark.django_db
def test_a_fault_injection_run_caps_the_redelivery_deadline(settings: Any) -> None:
    settings.OUTBOX_REDELIVER_AFTER_MAX_S = 25
    with transaction.atomic():
        capped = emit("test.effect_requested", aggregate_type="test", aggregate_id="k",
                      payload={"key": "k"}, task="tests.record_effect", tenant_id=None)
    assert row_of(capped).redeliver_after == 25


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"when": datetime(2026, 1, 1, tzinfo=UTC)}, r"payload\['when'\] is a datetime.*isoformat"),
        ({"ids": {1, 2}}, r"payload\['ids'\] is a set"),
        ({"nested": {"amount": Decimal("1.5")}}, r"payload\['nested'\]\['amount'\] is a Decimal"),
        ({"list": [1, float("nan")]}, r"payload\['list'\]\[1\] is nan"),
        ({"tenant_id": 3}, r"payload\['tenant_id'\] is reserved"),
    ],
)
def test_bad_payloads_are_refused_naming_the_key(payload: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidPayload, match=message):
        emit("x.y", aggregate_type="x", aggregate_id=1, payload=payload, channel="c")
    assert not OutboxEvent.objects.exists()


@pytest.mark.django_db
def test_a_model_instance_in_a_payload_asks_for_its_id(harbor: Tenant) -> None:
    with pytest.raises(InvalidPayload, match=r"payload\['tenant'\] is a Tenant.*pass its id"):
        emit("x.y", aggregate_type="x", aggregate_id=1, payload={"tenant": harbor}, channel="c")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "exactly one destination"),
        ({"task": "tests.record_effect", "channel": "c"}, "exactly one destination"),
        ({"task": "no.such_task"}, "unknown task 'no.such_task'"),
        ({"channel": "c", "priority": 10}, "priority must be an integer from 0"),
        ({"channel": "c", "delay_s": -1}, "delay_s must be a non-negative"),
        ({"channel": ""}, "channel must be a non-empty string"),
    ],
)
def test_bad_destinations_and_options_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidEvent, match=message):
        emit("x.y", aggregate_type="x", aggregate_id=1, **kwargs)  # type: ignore[arg-type]


def test_valid_payloads_survive_a_json_round_trip() -> None:
    payload = {"id": 1, "ratio": 0.5, "name": "Å", "flags": [True, None], "nested": {"a": [1, {"b": "c"}]}}
    validate_payload(payload)
    assert json.loads(json.dumps(payload)) == payload
    with pytest.raises(InvalidPayload):
        validate_payload({"inf": math.inf})
