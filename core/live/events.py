"""Live events as the stream sends them, read from Postgres in commit-safe order.

The functions here are blocking and run in the hub's small thread pool. Each returns its
database connection (to the web process's pool) before it returns, so a connection is held
for the length of one query, never for the life of a stream.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from django.db import connection

from core.live import queries
from outbox.reader import Cursor

# The largest outbox id: (txid, MAX_ID) sorts after every event of transaction txid.
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class StoredEvent:
    """The columns of an outbox event a stream sends (queries.READ_CHANNELS_AFTER's order)."""

    id: int
    txid: int
    event_id: str
    tenant_id: int | None
    event_type: str
    aggregate_type: str
    aggregate_id: str
    payload: Any
    channel: str
    created_at: datetime

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.txid, self.id)


@dataclass(frozen=True)
class LiveEvent:
    """One event of a channel, with its SSE message ready to send to any number of streams."""

    cursor: Cursor
    channel: str
    frame: bytes


def message_of(event: StoredEvent) -> dict[str, Any]:
    """The JSON a stream sends as an event's data: the same document the relay publishes
    on the channel (relays.messages.pubsub_message), so clients handle one shape."""
    return {
        "cursor": str(event.cursor),
        "event_id": event.event_id,
        "type": event.event_type,
        "tenant_id": event.tenant_id,
        "aggregate": {"type": event.aggregate_type, "id": event.aggregate_id},
        "payload": event.payload,
        "created_at": event.created_at.astimezone(UTC).isoformat(),
    }


def frame_of(event: StoredEvent) -> bytes:
    """`id: <cursor>` makes the browser send it back as Last-Event-ID when it reconnects.
    (JSON from json.dumps holds no newline, so one data line carries it.)"""
    data = json.dumps(message_of(event), separators=(",", ":"))
    return f"id: {event.cursor}\ndata: {data}\n\n".encode()


def live_event(event: StoredEvent) -> LiveEvent:
    return LiveEvent(cursor=event.cursor, channel=event.channel, frame=frame_of(event))


def stored_event(row: Sequence[Any]) -> StoredEvent:
    """A READ_CHANNELS_AFTER row; the payload comes as JSON text (queries cast it: Django's
    connections hand jsonb to JSONField as text)."""
    event = StoredEvent(*row)
    return replace(event, payload=json.loads(event.payload))


def read_events(after: Cursor, channels: Sequence[str], limit: int) -> list[LiveEvent]:
    """Events of `channels` after `after`, in commit-safe order, at most `limit` (blocking)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(queries.READ_CHANNELS_AFTER, {"channels": list(channels), "txid": after.txid,
                                                         "id": after.id, "limit": limit})
            rows = cursor.fetchall()
        return [live_event(stored_event(row)) for row in rows]
    finally:
        connection.close()


def current_position() -> Cursor:
    """The current position: every event after this cursor is still to be seen, none before.

    A page reads it before the data it renders and hands it to its stream as last_event_id:
    whatever commits after the page's read then reaches the page (perhaps also already in it).
    """
    with connection.cursor() as cursor:
        cursor.execute(queries.HORIZON)
        (txid,) = cursor.fetchone()
    return Cursor(int(txid), MAX_ID)


def horizon() -> Cursor:
    """current_position() from the hub's threads: the connection goes back to the pool."""
    try:
        return current_position()
    finally:
        connection.close()
