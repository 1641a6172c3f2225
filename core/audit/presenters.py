"""How events look to auditors: one plain dict per event, shared by the API, pages and exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from outbox.models import OutboxEvent
from outbox.reader import cursor_of

CSV_COLUMNS = ["id", "event_id", "cursor", "created_at", "event_type", "aggregate_type", "aggregate_id",
               "actor_id", "trace_id", "destination", "status", "attempts", "relayed_at", "completed_at",
               "last_error", "payload"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def event_dict(event: OutboxEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "event_id": str(event.event_id),
        "cursor": str(cursor_of(event)),
        "created_at": _iso(event.created_at),
        "event_type": event.event_type,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "actor_id": event.actor_id,
        "trace_id": event.trace_id,
        "destination": event.destination,
        "priority": event.priority,
        "status": event.status,
        "attempts": event.attempts,
        "available_at": _iso(event.available_at),
        "relayed_at": _iso(event.relayed_at),
        "completed_at": _iso(event.completed_at),
        "last_error": event.last_error,
        "payload": event.payload,
    }


def jsonl_lines(events: Iterable[OutboxEvent]) -> Iterator[str]:
    for event in events:
        yield json.dumps(event_dict(event), separators=(",", ":")) + "\n"


def csv_lines(events: Iterable[OutboxEvent]) -> Iterator[str]:
    """CSV text line by line: the header, then one row per event (payload as JSON)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for event in events:
        row = event_dict(event)
        row["payload"] = json.dumps(row["payload"], separators=(",", ":"))
        writer.writerow([row[column] if row[column] is not None else "" for column in CSV_COLUMNS])
        yield flush()
