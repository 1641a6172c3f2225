"""Celery messages built by the relay equal Celery's own, in kombu's envelope.

Built on kombu's in-memory transport, whose channel shares the envelope code of the Redis
channel (kombu.transport.virtual), so no server is needed; the integration tier checks the
same against real Redis (tests/integration/relays/test_messages.py).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

from kombu import Connection

from core.config.celery import app
from relays.messages import ORIGIN, CeleryMessages, ClaimedEvent


def claimed(**overrides: object) -> ClaimedEvent:
    fields = {"id": 42, "event_id": "3f2b6e1c-0a4e-4c7e-9a51-1b8e6c0f5d21", "tenant_id": 7, "trace_id": "req-1",
              "event_type": "visit.updated", "aggregate_type": "visit", "aggregate_id": "9",
              "payload": {"visit_id": 9, "dates": ["2026-03-10"]}, "task_name": "learning.notify",
              "queue": "default", "channel": None, "priority": 5,
              "created_at": datetime(2026, 11, 21, 12, 0, tzinfo=UTC), "txid": 900, "attempts": 1}
    return ClaimedEvent(**{**fields, **overrides})  # type: ignore[arg-type]


def test_the_message_carries_the_payload_the_tenant_and_the_outbox_envelope() -> None:
    event = claimed()
    with Connection("memory://") as connection:
        envelope = json.loads(CeleryMessages(connection.default_channel).build(event))
    args, kwargs, _embed = json.loads(base64.b64decode(envelope["body"]))
    assert (args, kwargs) == ([], {"visit_id": 9, "dates": ["2026-03-10"], "tenant_id": 7})
    headers = envelope["headers"]
    assert (headers["task"], headers["id"], headers["root_id"]) == ("learning.notify", event.event_id, event.event_id)
    assert headers["ferry"] == {"id": 42, "created_at": "2026-11-21T12:00:00+00:00", "event_id": event.event_id,
                                "event_type": "visit.updated", "trace_id": "req-1"}
    assert envelope["properties"]["delivery_info"] == {"exchange": "", "routing_key": "default"}


def test_every_header_but_the_per_message_ones_is_celerys_own() -> None:
    event = claimed()
    with Connection("memory://") as connection:
        headers = json.loads(CeleryMessages(connection.default_channel).build(event))["headers"]
    kwargs = {**(event.payload or {}), "tenant_id": 7}
    expected = app.amqp.as_task_v2(event.event_id, "learning.notify", args=(), kwargs=kwargs, argsrepr="()",
                                   kwargsrepr=json.dumps(kwargs, separators=(",", ":")), origin=ORIGIN,
                                   ignore_result=True).headers
    headers.pop("ferry")
    assert headers == json.loads(json.dumps(expected))
