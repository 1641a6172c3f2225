"""The relay's Celery messages are exactly what Celery itself would build, whether the relay
builds them or the claim fills them."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from django.db import connection, transaction

from core.config.celery import app
from outbox import queries
from outbox.emit import emit
from relays.messages import ORIGIN, CeleryMessages, ClaimedEvent
from relays.relay import Relay
from tests.helpers.outbox import row_of


def event(**overrides: object) -> ClaimedEvent:
    fields = {"id": 42, "event_id": "3f2b6e1c-0a4e-4c7e-9a51-1b8e6c0f5d21", "tenant_id": 7, "trace_id": "req-1",
              "event_type": "test.effect_requested", "aggregate_type": "test", "aggregate_id": "k",
              "payload": {"key": "k", "nested": [1, {"a": None}]}, "task_name": "tests.record_effect",
              "queue": "default", "channel": None, "priority": 5,
              "created_at": datetime(2026, 11, 21, 12, 0, tzinfo=UTC), "txid": 900, "attempts": 1}
    return ClaimedEvent(**{**fields, **overrides})  # type: ignore[arg-type]


def test_a_templated_message_equals_celerys_own_message_for_the_same_event() -> None:
    claimed = event()
    with app.connection_for_write() as connection:
        raw = CeleryMessages(connection.default_channel).build(claimed)
    envelope = json.loads(raw)
    kwargs = {"key": "k", "nested": [1, {"a": None}], "tenant_id": 7}
    expected = app.amqp.as_task_v2(claimed.event_id, "tests.record_effect", args=(), kwargs=kwargs, argsrepr="()",
                                   kwargsrepr=json.dumps(kwargs, separators=(",", ":")), origin=ORIGIN,
                                   ignore_result=True)
    headers = dict(envelope["headers"])
    ferry = headers.pop("ferry")
    assert headers == json.loads(json.dumps(expected.headers))
    assert json.loads(base64.b64decode(envelope["body"])) == json.loads(json.dumps(expected.body))
    assert envelope["properties"]["correlation_id"] == claimed.event_id
    assert envelope["properties"]["delivery_info"] == {"exchange": "", "routing_key": "default"}
    assert envelope["content-type"] == "application/json"
    assert ferry == {"id": 42, "created_at": "2026-11-21T12:00:00+00:00", "event_id": claimed.event_id,
                     "event_type": "test.effect_requested", "trace_id": "req-1"}


def test_each_message_gets_its_own_delivery_tag() -> None:
    with app.connection_for_write() as connection:
        messages = CeleryMessages(connection.default_channel)
        first, second = (json.loads(messages.build(event())) for _ in range(2))
    assert first["properties"]["delivery_tag"] != second["properties"]["delivery_tag"]


def decoded(raw: bytes) -> dict[str, Any]:
    """A message as what a worker reads from it: the envelope with its body decoded, its
    kwargsrepr parsed (its spacing may differ; one cut at 256 characters is checked to be, and
    left as, its length), its delivery tag dropped (unique to each message)."""
    envelope = json.loads(raw)
    envelope["body"] = json.loads(base64.b64decode(envelope["body"]))
    kwargsrepr = envelope["headers"]["kwargsrepr"]
    if len(kwargsrepr) < 256:
        envelope["headers"]["kwargsrepr"] = json.loads(kwargsrepr)
        assert envelope["headers"]["kwargsrepr"] == envelope["body"][1]
    else:
        assert len(kwargsrepr) == 256
        assert kwargsrepr.startswith('{"')
        envelope["headers"]["kwargsrepr"] = "cut at 256"
    created_at = envelope["headers"]["ferry"].pop("created_at")
    envelope["headers"]["ferry"]["created_at"] = datetime.fromisoformat(created_at)
    envelope["properties"].pop("delivery_tag")
    return dict(envelope)


def hot_table(statement: str, event_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, [event_id])


PAYLOADS = [
    {},
    {"key": "quotes \" and \\ backslashes, 100 % {braces} ünïcödé ✓", "nested": [1, {"a": None, "b": 2.5}]},
    {"key": "long", "text": "x" * 400},  # kwargsrepr is cut at 256 characters
]


@pytest.mark.usefixtures("outbox_db")
@pytest.mark.parametrize("payload", PAYLOADS, ids=["empty", "escapes", "long"])
def test_a_message_the_claim_fills_is_the_message_the_relay_builds(payload: dict[str, Any], relay: Relay,
                                                                    broker: redis.Redis) -> None:
    """The same row relayed twice: first built in Python (which makes the task's template),
    then, put back to pending, filled by PostgreSQL in the claim."""
    with transaction.atomic():
        emitted = emit("test.effect_requested", aggregate_type="test", aggregate_id="k", payload=payload,
                       task="tests.record_effect", tenant_id=7)
    event_id = row_of(emitted).id
    hot_table("UPDATE outbox_event SET trace_id = 'trace \"7\" ✓' WHERE id = %s", event_id)
    assert relay.relay_batch() == 1
    built = broker.rpop("default")
    hot_table("UPDATE outbox_event SET status = 'pending' WHERE id = %s", event_id)
    assert relay.relay_batch() == 1
    filled = broker.rpop("default")
    assert "tests.record_effect" in relay._messages().sql_templates
    assert isinstance(built, bytes)
    assert isinstance(filled, bytes)
    assert decoded(filled) == decoded(built)
    kwargs = decoded(filled)["body"][1]
    assert kwargs == {**payload, "tenant_id": 7}
    assert json.loads(filled)["properties"]["delivery_tag"] != json.loads(built)["properties"]["delivery_tag"]


def test_a_celery_whose_envelope_orders_its_values_otherwise_gets_no_templates(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The claim fills slots in one order (outbox.queries.MESSAGE_SLOTS); another order means
    no template, so every message is built in Python rather than filled wrongly."""
    monkeypatch.setattr(queries, "MESSAGE_SLOTS", tuple(reversed(queries.MESSAGE_SLOTS)))
    with app.connection_for_write() as connection:
        messages = CeleryMessages(connection.default_channel)
        messages.prepare("tests.record_effect")
    assert messages.sql_templates == {}
