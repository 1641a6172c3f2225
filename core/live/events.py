"""Live events as a stream sends them: the one place where an event becomes the browser's
document (the relay only rings a doorbell, outbox/doorbell.py).

The reads are blocking and run in the hub's small thread pool. Each returns its database
connection (to the web process's pool) before it returns, so a connection is held for the
length of one query, never for the life of a stream.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.db import connection

from core.platform.channels import STREAM_ENDING_EVENTS
from outbox.reader import ChannelEvent, Cursor, current_position, read_channels_after


@dataclass(frozen=True)
class LiveEvent:
    """One event of a channel, with its SSE message ready to send to any number of streams."""

    cursor: Cursor
    channel: str
    frame: bytes
    # The user whose streams end with this event (core.platform.channels.STREAM_ENDING_EVENTS).
    ends_streams_of: int | None = None


def message_of(event: ChannelEvent) -> dict[str, Any]:
    """The JSON a stream sends as an event's data."""
    return {
        "cursor": str(event.cursor),
        "event_id": event.event_id,
        "type": event.event_type,
        "tenant_id": event.tenant_id,
        "aggregate": {"type": event.aggregate_type, "id": event.aggregate_id},
        "payload": event.payload,
        "created_at": event.created_at.astimezone(UTC).isoformat(),
    }


def frame_of(event: ChannelEvent) -> bytes:
    """`id: <cursor>` makes the browser send it back as Last-Event-ID when it reconnects.
    (JSON from json.dumps holds no newline, so one data line carries it.)"""
    data = json.dumps(message_of(event), separators=(",", ":"))
    return f"id: {event.cursor}\ndata: {data}\n\n".encode()


def _ends_streams_of(event: ChannelEvent) -> int | None:
    if event.event_type not in STREAM_ENDING_EVENTS or not isinstance(event.payload, dict):
        return None
    user_id = event.payload.get("user_id")
    return user_id if isinstance(user_id, int) else None


def live_event(event: ChannelEvent) -> LiveEvent:
    return LiveEvent(cursor=event.cursor, channel=event.channel, frame=frame_of(event),
                     ends_streams_of=_ends_streams_of(event))


def read_events(after: Cursor, channels: Sequence[str], limit: int) -> list[LiveEvent]:
    """Events of `channels` after `after`, in commit-safe order, at most `limit` (blocking)."""
    try:
        return [live_event(event) for event in read_channels_after(after, channels, limit)]
    finally:
        connection.close()


def read_range(after: Cursor, upto: Cursor, channels: Sequence[str], page: int,
               most: int) -> tuple[list[LiveEvent], Cursor]:
    """Events of `channels` in (after, upto], read page by page, at most about `most` of them
    (blocking). Returns them and how far they cover: `upto` when complete, else the cursor of
    the last event read (every event of the channels up to it is in the list)."""
    found: list[LiveEvent] = []
    cursor = after
    try:
        while cursor < upto:
            batch = [event for event in (live_event(e) for e in read_channels_after(cursor, channels, page))
                     if event.cursor <= upto]
            found.extend(batch)
            if len(batch) < page:
                return found, upto
            cursor = batch[-1].cursor
            if len(found) >= most:
                return found, cursor
        return found, upto
    finally:
        connection.close()


def horizon() -> Cursor:
    """The current position (outbox.reader.current_position) from the hub's threads: the
    connection goes back to the pool."""
    try:
        return current_position()
    finally:
        connection.close()
