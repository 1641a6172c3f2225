"""Turning claimed outbox rows into Redis commands: Celery messages (pub/sub events ring a
doorbell, outbox/doorbell.py).

Celery messages are built with Celery's own protocol-2 builder (current_app.amqp.as_task_v2) and
wrapped in kombu's Redis envelope by kombu's channel helpers, so an unmodified worker
consumes them. Only the final write differs from kombu's publish path: the relay pushes
a whole batch with pipelined LPUSHes straight to the queue's list (kombu's per-message
path costs 200-500 µs, and routing through an exchange silently drops messages when a
FLUSHALL has removed its bindings).

Once a task name's envelope is known, PostgreSQL fills it in the claim itself (the template
is a parameter of outbox.queries.CLAIM, its `message` column): the relay's Python then only
pushes text, and the filling runs on the database's core, beside the relay's (ADR 0007).
"""

from __future__ import annotations

import itertools
import json
import re
import secrets
import socket
from datetime import datetime
from typing import Any, NamedTuple

from celery import current_app
from psycopg.cursor import BaseCursor
from psycopg.rows import RowMaker, class_row

from outbox import queries
from outbox.consumers import ENVELOPE_HEADER
from outbox.reader import Cursor


class ClaimedEvent(NamedTuple):
    """One row returned by outbox.queries.CLAIM, built from its columns by name (claimed_rows).
    A named tuple: a claim makes a thousand at a time, and a tuple is built in C (a frozen
    dataclass's __init__ was a quarter of the relay's Python time, measured with py-spy)."""

    id: int
    event_id: str
    tenant_id: int | None
    trace_id: str
    event_type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any] | None  # None when the claim built the message
    task_name: str | None
    queue: str | None
    channel: str | None
    priority: int
    created_at: datetime | None  # likewise
    txid: int
    attempts: int
    ordering_key: str | None = None
    # The whole message, when the claim filled the task's template (CeleryMessages.sql_templates).
    message: str | None = None
    # Of the whole claim: each tenant's share of it, and how many tenants shared it.
    batch_share: int = 0
    batch_tenants: int = 0

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.txid, self.id)


def claimed_rows(cursor: BaseCursor[Any, Any]) -> RowMaker[ClaimedEvent]:
    """Rows of CLAIM as ClaimedEvents, columns matched to fields by name as class_row does, but
    checked once per statement: when the columns are the fields in order, each row is built by
    position (class_row's per-row dict cost a tenth of a batch's time, measured with py-spy)."""
    names = tuple(column.name for column in cursor.description or ())
    if names != ClaimedEvent._fields:
        return class_row(ClaimedEvent)(cursor)  # by name: a missing or extra column is a TypeError
    return ClaimedEvent._make


ORIGIN = f"relay@{socket.gethostname()}"

# Message headers and bodies hold only JSON primitives (emit() validates payloads), so the
# standard library's C encoder serialises them exactly as kombu's JSON serializer would.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

# A stand-in task id: as_task_v2 is called once per task name with it, and every header that
# carries it is one the relay fills per message (checked when a template is built).
_TEMPLATE_ID = "00000000-0000-4000-8000-000000000000"
_PER_MESSAGE_HEADERS = frozenset({"id", "root_id"})

# Slots in an envelope template: a NUL-delimited name, which JSON encodes as "\u0000name\u0000"
# (no real value can look so: PostgreSQL text holds no NUL).
_SLOT = re.compile(r'"\\u0000(\w+)\\u0000"')


def _slot(name: str) -> str:
    return f"\x00{name}\x00"


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
        self._envelopes: dict[str, tuple[list[str], list[str], str]] = {}
        # Delivery tags only need to be unique (kombu keys unacked messages by them): a random
        # prefix per builder and a counter, instead of 16 random bytes per message (reading the
        # system's random source for each cost a sixth of a batch's time, measured with py-spy).
        self._tag_prefix = secrets.token_hex(8) + "."
        self._tags = itertools.count(1)
        self._claims = itertools.count(1)
        # Per task name, the envelope's texts around its slots and the body's embed: what the
        # claim fills (outbox.queries.MESSAGE_SLOTS; a Celery whose envelope has its values in
        # another order gets no templates, and the relay builds every message itself).
        self._sql: dict[str, list[str]] = {}
        # PostgreSQL encodes base64 (kombu's Redis default); with another body encoding, the
        # relay builds every message itself.
        self._sql_bodies = channel.body_encoding == "base64"

    @property
    def sql_templates(self) -> dict[str, list[str]]:
        """Templates for the claim to fill, by task name: those built here so far (a task
        name's first messages are built in Python, which makes its template). A copy: the claim
        ahead is sent from another thread while this thread builds."""
        return dict(self._sql)

    def prepare(self, task_name: str) -> None:
        """Make a task name's template now, before its first message."""
        self._envelope(task_name)

    def claim_tags(self) -> str:
        """A delivery tag prefix for one claim's messages, each tagged with it and its row id:
        unique, since no claim repeats an id and every claim gets its own prefix (two dots: never
        one of build()'s tags)."""
        return f"{self._tag_prefix}{next(self._claims):x}."

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

    def _envelope(self, task_name: str) -> tuple[list[str], list[str], str]:
        """The task's whole envelope as JSON, made once with Celery's headers and kombu's
        envelope, split around the slots each message fills: (literal texts, slot names between
        them, the body's embed as JSON). Encoding the whole envelope per message cost a third of
        a batch's time (py-spy); filling slots costs the few values that differ."""
        cached = self._envelopes.get(task_name)
        if cached is None:
            headers, properties, embed = self._template(task_name)
            channel = self._channel
            headers = {**headers, "id": _slot("id"), "root_id": _slot("id"), "kwargsrepr": _slot("kwargsrepr"),
                       ENVELOPE_HEADER: _slot("ferry")}
            wrapped = channel.prepare_message(_slot("body"), 0, "application/json", "utf-8", headers,
                                              {**properties, "correlation_id": _slot("id")})
            envelope = wrapped["properties"]
            envelope["body_encoding"] = channel.encode_body("", channel.body_encoding)[1]
            envelope["delivery_tag"] = _slot("tag")
            envelope["delivery_info"] = {"exchange": "", "routing_key": _slot("queue")}
            parts = _SLOT.split(_encode(wrapped))
            cached = self._envelopes[task_name] = (parts[0::2], parts[1::2], _encode(embed))
            if self._sql_bodies and tuple(cached[1]) == queries.MESSAGE_SLOTS:
                self._sql[task_name] = [*cached[0], cached[2]]
        return cached

    def build(self, event: ClaimedEvent) -> bytes:
        assert event.task_name is not None
        assert event.queue is not None
        assert event.payload is not None
        assert event.created_at is not None
        literals, slots, embed = self._envelope(event.task_name)
        kwargs = _encode({**event.payload, "tenant_id": event.tenant_id})
        channel = self._channel
        body = channel.encode_body(f"[[],{kwargs},{embed}]", channel.body_encoding)[0]
        values = {
            # kwargsrepr, what a worker logs and `inspect` shows, is the keyword arguments' JSON,
            # as the claim's fill makes it (SQL cannot write Python's repr).
            "body": _encode(body), "id": _encode(event.event_id), "kwargsrepr": _encode(kwargs[:256]),
            "ferry": _encode({"id": event.id, "created_at": event.created_at.isoformat(), "event_id": event.event_id,
                              "event_type": event.event_type, "trace_id": event.trace_id}),
            "tag": f'"{self._tag_prefix}{next(self._tags):x}"', "queue": _encode(event.queue),
        }
        filled = [literals[0]]
        for slot, literal in zip(slots, literals[1:], strict=True):
            filled += (values[slot], literal)
        return "".join(filled).encode()
