"""emit(): the one way to cause a side effect outside Postgres.

It writes one outbox row in the caller's transaction and never talks to Redis; the relay
publishes the row after the transaction commits, so a rolled back change publishes nothing.
The row is queued on the connection and sent with the COMMIT, in one pipeline
(core/platform/postgresql): an event costs the writer no round trip of its own
(adr/0014-outbox-ordering-fairness-cost.md).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

import structlog
from django.conf import settings
from django.db import connections
from psycopg.types.json import Jsonb

from core.platform.tasks import hard_time_limit_s, queue_of
from core.platform.tenancy import current_tenant_id
from outbox import queries


class OutboxError(Exception):
    """Base class of errors raised by emit()."""


class NotInTransaction(OutboxError):
    """emit() was called in autocommit mode, outside the state change's transaction."""


class InvalidEvent(OutboxError, ValueError):
    """An argument of emit() is unusable; the message names it."""


class InvalidPayload(InvalidEvent):
    """The payload is not JSON of primitives; the message names the offending key."""


@dataclass(frozen=True)
class EmittedEvent:
    """What the caller knows of an event it emitted: its id (the row is written at commit)."""

    event_id: uuid.UUID
    ordering_key: str | None = None


class _Current:
    """Marker: take the tenant from the current tenant context."""


CURRENT_TENANT: Final = _Current()

# Keys the relay adds to a task's keyword arguments; a payload must not set them.
RESERVED_KEYS = frozenset({"tenant_id"})


def validate_payload(value: Any, path: str = "payload") -> None:
    """Raise InvalidPayload unless `value` is JSON made of primitives, ids and strings.

    Tasks receive ids and re-read state, so a model instance, a datetime or a set in a
    payload is a bug; the error names where it is, e.g. payload['visit'].
    """
    if value is None or isinstance(value, bool | int | str):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidPayload(f"{path} is {value}, which JSON cannot represent")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidPayload(f"{path} has a non-string key {key!r}")
            validate_payload(item, f"{path}[{key!r}]")
        return
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            validate_payload(item, f"{path}[{index}]")
        return
    hint = " (serialise it, e.g. .isoformat())" if isinstance(value, datetime) else ""
    if hasattr(value, "_meta") and hasattr(value, "pk"):
        hint = " (pass its id; tasks re-read state)"
    raise InvalidPayload(f"{path} is a {type(value).__name__}, which is not JSON{hint}")


def _check_text(name: str, value: object, max_length: int) -> str:
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise InvalidEvent(f"{name} must be a non-empty string of at most {max_length} characters")
    return value


def _trace_id() -> str:
    context = structlog.contextvars.get_contextvars()
    return str(context.get("trace_id") or context.get("request_id") or "")[:64]


def _destination(task: str | None, channel: str | None) -> tuple[str | None, int | None]:
    """(queue, redeliver_after seconds) for a task; (None, None) for a channel."""
    if (task is None) == (channel is None):
        raise InvalidEvent("give exactly one destination: task=<task name> or channel=<pub/sub channel>")
    if channel is not None:
        _check_text("channel", channel, 200)
        return None, None
    try:
        queue = queue_of(_check_text("task", task, 200))
    except KeyError as exc:
        raise InvalidEvent(str(exc.args[0])) from None
    redeliver_after = hard_time_limit_s(str(task)) + settings.OUTBOX_REDELIVER_GRACE_S
    if settings.OUTBOX_REDELIVER_AFTER_MAX_S:
        redeliver_after = min(redeliver_after, settings.OUTBOX_REDELIVER_AFTER_MAX_S)
    return queue, redeliver_after


def emit(
    event_type: str,
    *,
    aggregate_type: str,
    aggregate_id: str | int,
    payload: Mapping[str, Any] | None = None,
    task: str | None = None,
    channel: str | None = None,
    tenant_id: int | _Current | None = CURRENT_TENANT,
    actor_id: int | None = None,
    delay_s: float = 0,
    priority: int = 5,
    ordering_key: str | None = None,
    if_dead: Literal["hold", "pass"] = "hold",
    using: str = "default",
) -> EmittedEvent:
    """Record that `event_type` happened to (aggregate_type, aggregate_id), for delivery
    to a Celery `task` (its payload becomes the task's keyword arguments, plus tenant_id)
    or to a pub/sub `channel`.

    Must run inside the transaction that makes the state change: raises NotInTransaction
    in autocommit. Delivery is at-least-once, after commit, not before `delay_s` seconds;
    lower `priority` (0-9) is relayed first. Events with the same `ordering_key` (the
    aggregate is the natural one, e.g. "content:12") take effect one at a time, in commit
    order; if one ends as a dead letter, `if_dead` says whether the key's later events wait
    until it is redriven ("hold") or go on ("pass"). Raises InvalidEvent/InvalidPayload
    naming the bad argument or key.
    """
    connection = connections[using]
    if connection.get_autocommit():
        raise NotInTransaction(
            f"emit({event_type!r}) must run inside the transaction of its state change "
            "(transaction.atomic); in autocommit the event and the change could diverge"
        )
    payload = dict(payload or {})
    validate_payload(payload)
    if reserved := RESERVED_KEYS & payload.keys():
        key = sorted(reserved)[0]
        raise InvalidPayload(f"payload[{key!r}] is reserved: the relay sets it from the event")
    queue, redeliver_after = _destination(task, channel)
    if not isinstance(priority, int) or not 0 <= priority <= 9:
        raise InvalidEvent(f"priority must be an integer from 0 (first) to 9, not {priority!r}")
    if not isinstance(delay_s, int | float) or delay_s < 0 or not math.isfinite(delay_s):
        raise InvalidEvent(f"delay_s must be a non-negative number of seconds, not {delay_s!r}")
    if ordering_key is not None:
        _check_text("ordering_key", ordering_key, 200)
    if if_dead not in ("hold", "pass"):
        raise InvalidEvent(f'if_dead must be "hold" or "pass", not {if_dead!r}')
    event_id = uuid.uuid4()
    params: dict[str, Any] = {
        "event_id": event_id,
        "tenant_id": current_tenant_id() if isinstance(tenant_id, _Current) else tenant_id,
        "actor_id": actor_id,
        "trace_id": _trace_id(),
        "event_type": _check_text("event_type", event_type, 100),
        "aggregate_type": _check_text("aggregate_type", aggregate_type, 50),
        "aggregate_id": _check_text("aggregate_id", str(aggregate_id), 64),
        "payload": Jsonb(payload),
        "task_name": task,
        "queue": queue,
        "channel": channel,
        "redeliver_after": redeliver_after,
        "priority": priority,
        "delay_s": float(delay_s),
        "ordering_key": ordering_key,
        "key_holds": if_dead == "hold" if ordering_key is not None else None,
    }
    _write(connection, queries.EMIT_KEYED if ordering_key is not None else queries.EMIT, params)
    return EmittedEvent(event_id=event_id, ordering_key=ordering_key)


def _write(connection: Any, statement: str, params: dict[str, Any]) -> None:
    """Queue the row (and the relay's wake-up, in the same statement) for the commit; a
    connection that cannot defer (another database backend) writes it at once."""
    defer = getattr(connection, "defer", None)
    if defer is not None:
        defer(statement, params)
        return
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
