"""How records look to auditors: one plain dict per outbox event or patient-data read, shared
by the API, the pages and the exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from core.accounts.models import User
from core.privacy.models import PatientRead
from outbox.models import OutboxEvent
from outbox.reader import cursor_of

CSV_COLUMNS = ["id", "event_id", "cursor", "created_at", "event_type", "aggregate_type", "aggregate_id",
               "actor_id", "trace_id", "destination", "status", "attempts", "relayed_at", "completed_at",
               "last_error", "payload"]
READ_CSV_COLUMNS = ["id", "at", "last_at", "repeats", "user_id", "user", "kind", "subject", "visit_count",
                    "visit_ids", "request_id", "client_address"]


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


def user_names(user_ids: Iterable[int]) -> dict[int, str]:
    """Each user's name as auditors know them (full name, else username), in one query. A user
    who no longer exists has no entry: the record keeps the id."""
    users = User.objects.filter(pk__in=set(user_ids)).only("id", "username", "first_name", "last_name")
    return {user.pk: user.get_full_name() or user.username for user in users}


def name_of(names: dict[int, str], user_id: int) -> str:
    return names.get(user_id, f"user #{user_id}")


def read_dict(read: PatientRead, names: dict[int, str], with_visit_ids: bool = True) -> dict[str, Any]:
    row = {
        "id": read.id,
        "at": _iso(read.at),
        "last_at": _iso(read.last_at),
        "repeats": read.repeats,
        "user_id": read.user_id,
        "user": name_of(names, read.user_id),
        "kind": read.kind,
        "subject": read.subject,
        "visit_count": read.visit_count,
        "request_id": read.request_id,
        "client_address": read.client_address,
    }
    return {**row, "visit_ids": read.visit_ids} if with_visit_ids else row


def read_dicts(reads: list[PatientRead], with_visit_ids: bool = True) -> list[dict[str, Any]]:
    names = user_names(read.user_id for read in reads)
    return [read_dict(read, names, with_visit_ids) for read in reads]


def event_rows(events: Iterable[OutboxEvent]) -> Iterator[dict[str, Any]]:
    return (event_dict(event) for event in events)


def read_rows(chunks: Iterable[list[PatientRead]]) -> Iterator[dict[str, Any]]:
    """The export's rows, the names of each chunk's users looked up once for the chunk."""
    for chunk in chunks:
        yield from read_dicts(chunk)


def jsonl_lines(rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    for row in rows:
        yield json.dumps(row, separators=(",", ":")) + "\n"


def csv_lines(rows: Iterable[dict[str, Any]], columns: list[str]) -> Iterator[str]:
    """CSV text line by line: the header, then one row per dict (lists and dicts as JSON)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    def cell(value: Any) -> Any:
        if isinstance(value, dict | list):
            return json.dumps(value, separators=(",", ":"))
        return "" if value is None else value

    writer.writerow(columns)
    yield flush()
    for row in rows:
        writer.writerow([cell(row[column]) for column in columns])
        yield flush()
