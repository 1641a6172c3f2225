"""Turning claimed outbox rows into Redis commands: Celery messages (pub/sub events ring a
doorbell, outbox/doorbell.py).

Celery messages are built with Celery's own protocol-2 builder (current_app.amqp.as_task_v2) and
wrapped in kombu's Redis envelope by kombu's channel helpers, so an unmodified worker
consumes them. Only the final write differs from kombu's publish path: the relay pushes
a whole batch with pipelined LPUSHes straight to the queue's list (kombu's per-message
path costs 200-500 µs, and routing through an exchange silently drops messages when a
FLUSHALL has removed its bindings).
"""

from __future__ import annotations

import json
import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import current_app

from outbox.consumers import ENVELOPE_HEADER
from outbox.reader import Cursor


@dataclass(frozen=True)
class ClaimedEvent:
    """One row returned by outbox.queries.CLAIM, built from its columns by name (class_row)."""

    id: int
    event_id: str
    tenant_id: int | None
    trace_id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]
    task_name: str | None
    queue: str | None
    channel: str | None
    priority: int
    created_at: datetime
    txid: int
    attempts: int
    ordering_key: str | None = None
    # Of the whole claim: each tenant's share of it, and how many tenants shared it.
    batch_share: int = 0
    batch_tenants: int = 0

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.txid, self.id)


ORIGIN = f"relay@{socket.gethostname()}"

# Message headers and bodies hold only JSON primitives (emit() validates payloads), so the
# standard library's C encoder serialises them exactly as kombu's JSON serializer would.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

# A stand-in task id: as_task_v2 is called once per task name with it, and every header that
# carries it is one the relay fills per message (checked when a template is built).
_TEMPLATE_ID = "00000000-0000-4000-8000-000000000000"
_PER_MESSAGE_HEADERS = frozenset({"id", "root_id"})


class CeleryMessages:
    """Celery protocol-2 messages in kombu's Redis envelope, ready to LPUSH.

    Celery's own builder (current_app.amqp.as_task_v2) makes one message per task name; per event,
    only the task id, the keyword arguments and our envelope header differ, so those are
    filled into a copy (relays/tests check the result equals as_task_v2's own message).
    The envelope (body encoding, delivery info) is kombu's Redis channel's.
    """

    def __init__(self, channel: Any) -> None:
        self._channel = channel
        self._templates: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {}

    def _template(self, task_name: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        template = self._templates.get(task_name)
        if template is None:
            message = current_app.amqp.as_task_v2(_TEMPLATE_ID, task_name, args=(), kwargs={}, argsrepr="()",
                                          kwargsrepr="{}", origin=ORIGIN, ignore_result=True)
            per_message = {key for key, value in message.headers.items() if value == _TEMPLATE_ID}
            if per_message != _PER_MESSAGE_HEADERS:
                raise RuntimeError(f"Celery's message carries the task id in {sorted(per_message)}; "
                                   "relays/messages.py must fill those per message")
            template = self._templates[task_name] = (message.headers, message.properties, message.body[2])
        return template

    def build(self, event: ClaimedEvent) -> bytes:
        assert event.task_name is not None
        assert event.queue is not None
        headers, properties, embed = self._template(event.task_name)
        kwargs = {**event.payload, "tenant_id": event.tenant_id}
        headers = {**headers, "id": event.event_id, "root_id": event.event_id,
                   "kwargsrepr": repr(kwargs)[:256],
                   ENVELOPE_HEADER: {"id": event.id, "created_at": event.created_at.isoformat(),
                                     "event_id": event.event_id, "event_type": event.event_type,
                                     "trace_id": event.trace_id}}
        properties = {**properties, "correlation_id": event.event_id}
        channel = self._channel
        wrapped = channel.prepare_message(_encode(((), kwargs, embed)), 0, "application/json", "utf-8",
                                          headers, properties)
        wrapped["body"], body_encoding = channel.encode_body(wrapped["body"], channel.body_encoding)
        envelope = wrapped["properties"]
        envelope["body_encoding"] = body_encoding
        envelope["delivery_tag"] = secrets.token_hex(16)
        envelope["delivery_info"] = {"exchange": "", "routing_key": event.queue}
        return _encode(wrapped).encode()
