"""How records look to auditors: one plain dict per outbox event or patient-data read, shared
by the API, the pages and the exports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.urls import reverse

from core.accounts.models import User
from core.audit import queries
from core.audit.models import HistoryExport
from core.privacy.models import PatientRead
from outbox.models import OutboxEvent
from outbox.reader import cursor_of
from outbox.selectors import EventStory, HistoryCount

CSV_COLUMNS = ["id", "event_id", "cursor", "created_at", "event_type", "aggregate_type", "aggregate_id",
               "actor_id", "trace_id", "destination", "status", "attempts", "relayed_at", "completed_at",
               "last_error", "payload"]
READ_CSV_COLUMNS = ["id", "at", "last_at", "repeats", "user_id", "user", "kind", "subject", "visit_count",
                    "visit_ids", "request_id", "client_address"]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True)
class Actors:
    """Who acted in a set of events: names and current roles, read in two queries (actors_of)."""

    names: dict[int, str]
    roles: dict[int, list[str]]

    def name(self, event: OutboxEvent) -> str | None:
        """The event's actor by name, or None: an event of the system."""
        return None if event.actor_id is None else name_of(self.names, event.actor_id)

    def roles_of(self, event: OutboxEvent) -> list[str]:
        return [] if event.actor_id is None else self.roles.get(event.actor_id, [])

    def label(self, event: OutboxEvent) -> str | None:
        """The name with the person's roles today, for pages: "Alice Ng (dispatcher)"."""
        name, roles = self.name(event), self.roles_of(event)
        return f"{name} ({', '.join(roles)})" if name and roles else name


NO_ACTORS = Actors({}, {})


def actors_of(events: Iterable[OutboxEvent]) -> Actors:
    ids = {event.actor_id for event in events if event.actor_id is not None}
    return Actors(user_names(ids), user_roles(ids)) if ids else NO_ACTORS


def event_dict(event: OutboxEvent, actors: Actors = NO_ACTORS) -> dict[str, Any]:
    """The event as auditors see it; `actors` (actors_of) gives its actor's name and roles."""
    return {
        "id": event.id,
        "event_id": str(event.event_id),
        "cursor": str(cursor_of(event)),
        "created_at": _iso(event.created_at),
        "event_type": event.event_type,
        "aggregate_type": event.aggregate_type,
        "aggregate_id": event.aggregate_id,
        "actor_id": event.actor_id,
        "actor": actors.name(event),
        "actor_roles": actors.roles_of(event),
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


def matching_text(matching: HistoryCount) -> str:
    """"1 event matches." / "12,345 events match." / "About 1.2 million events match." """
    if matching.exact:
        one = matching.events == 1
        return f"{matching.events:,} event{'' if one else 's'} match{'es' if one else ''}."
    about = (f"{matching.events / 1e6:.1f} million" if matching.events >= 1_000_000
             else f"{round(matching.events, -3):,}")
    return f"About {about} events match (an estimate: counting them all would read them all)."


def export_dict(made: HistoryExport) -> dict[str, Any]:
    """A background export as the API and the exports page show it."""
    who = made.requested_by
    return {
        "id": made.id, "status": made.status, "format": made.format, "filters": made.filters,
        "requested_at": _iso(made.requested_at), "requested_by": (who.get_full_name() or who.username) if who else None,
        "rows_estimate": made.rows_estimate, "rows_done": made.rows_done, "size_bytes": made.size_bytes,
        "finished_at": _iso(made.finished_at), "expires_at": _iso(made.expires_at), "error": made.error,
        "download": reverse("api:download_export", kwargs={"export_id": made.id})
        if made.status == HistoryExport.Status.DONE else None,
    }


def _ms_after(start: datetime, moment: datetime | None) -> str:
    return "" if moment is None else f"+{(moment - start).total_seconds() * 1000:,.0f} ms"


def path_steps(story: EventStory) -> list[tuple[str, datetime, str, str]]:
    """One event's path as (step, when, offset from its commit, detail), in time order: committed,
    relayed, each delivery attempt (worker, how long, outcome), the consumer's effect, completed."""
    event, start = story.event, story.event.created_at
    steps: list[tuple[str, datetime, str, str]] = [("committed", start, "+0 ms", event.destination)]
    if event.relayed_at:
        steps.append(("relayed", event.relayed_at, _ms_after(start, event.relayed_at),
                      f"delivery {event.attempts}" if event.task_name else "published"))
    for attempt in story.attempts:
        took = (f"{(attempt.finished_at - attempt.started_at).total_seconds() * 1000:,.0f} ms"
                if attempt.finished_at else "did not finish")
        detail = f"on {attempt.worker}, {took}, {attempt.outcome}" + (f": {attempt.error}" if attempt.error else "")
        steps.append((f"attempt {attempt.attempt}", attempt.started_at, _ms_after(start, attempt.started_at), detail))
    if story.inbox:
        steps.append(("effect recorded", story.inbox.processed_at, _ms_after(start, story.inbox.processed_at),
                      f"{story.inbox.task_name} on {story.inbox.worker}"))
    if event.completed_at:
        steps.append(("completed", event.completed_at, _ms_after(start, event.completed_at), ""))
    if story.dead_letter:
        steps.append(("dead letter", story.dead_letter.created_at, _ms_after(start, story.dead_letter.created_at),
                      story.dead_letter.error))
    return sorted(steps, key=lambda step: step[1])


def user_names(user_ids: Iterable[int]) -> dict[int, str]:
    """Each user's name as auditors know them (full name, else username), in one query. A user
    who no longer exists has no entry: the record keeps the id."""
    users = User.objects.filter(pk__in=set(user_ids)).only("id", "username", "first_name", "last_name")
    return {user.pk: user.get_full_name() or user.username for user in users}


def user_roles(user_ids: Iterable[int]) -> dict[int, list[str]]:
    """Each user's roles today (their groups), in one query."""
    roles: dict[int, list[str]] = {}
    memberships = User.groups.through.objects.filter(user_id__in=set(user_ids)).values_list("user_id", "group__name")
    for user_id, role in memberships:
        roles.setdefault(user_id, []).append(role)
    return {user_id: sorted(names) for user_id, names in roles.items()}


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


# --- exports of the outbox history: chunks of lines PostgreSQL wrote (core/audit/queries.py) --

# The SQL that writes an event's line, by format (for outbox.selectors.export).
EXPORT_LINES = {"csv": queries.CSV_LINE, "jsonl": queries.JSONL_LINE}


def history_text(chunks: Iterable[list[str]], fmt: str) -> Iterator[str]:
    """An export's text, one string per chunk of lines: CSV (CSV_COLUMNS, after a header) or
    JSON lines (the fields of event_dict, without the actor's name)."""
    if fmt == "csv":
        yield ",".join(CSV_COLUMNS) + "\n"
    for chunk in chunks:
        yield "".join(chunk)
