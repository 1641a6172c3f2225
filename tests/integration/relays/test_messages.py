"""The relay's Celery messages are exactly what Celery itself would build."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from core.config.celery import app
from relays.messages import ORIGIN, CeleryMessages, ClaimedEvent


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
                                   kwargsrepr=repr(kwargs), origin=ORIGIN, ignore_result=True)
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
