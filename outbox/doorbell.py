"""The doorbell: what the relay publishes on an event's pub/sub channel.

Pub/sub is not how events travel to browsers; it only says "there is news on this channel,
up to this cursor". The listener (core/live's hub) reads the events themselves from
PostgreSQL in commit-safe order (outbox.reader), so a doorbell Redis drops costs latency,
never an event, and the event's document is built in one place (core/live/events.py).
"""

from __future__ import annotations

import json
from typing import Any

from outbox.reader import Cursor, InvalidCursor


def ring(cursor: Cursor) -> bytes:
    """The message published on the channel of the event at `cursor`."""
    return json.dumps({"cursor": str(cursor)}, separators=(",", ":")).encode()


def cursor_in(data: Any) -> Cursor | None:
    """The cursor a doorbell carries, or None if the message is not a readable doorbell."""
    try:
        return Cursor.parse(json.loads(data)["cursor"])
    except (TypeError, ValueError, KeyError, InvalidCursor):
        return None
