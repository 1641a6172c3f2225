"""Named reads of the outbox: the auditors' history, an event's whole story, ops figures.

History pages are keyset-paginated by id, newest first: each page is an index range scan
(outbox_history's (tenant_id, ...) indexes, the small hot table), equally fast on page 1
and page 10,000 of a history of millions. Exports walk the filtered set in commit-safe
order (outbox.reader) in chunks, so they never hold the whole result in memory and never
miss an event that committed late.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Q, QuerySet

from core.platform.pages import newest_first_page
from outbox import queries
from outbox.models import DeadLetter, DeliveryAttempt, InboxEntry, OutboxEvent
from outbox.reader import START, Cursor, cursor_of, read_after


@dataclass(frozen=True)
class HistoryFilter:
    """What an auditor narrows the history to; every field is optional."""

    since: datetime | None = None
    until: datetime | None = None
    event_type: str | None = None
    aggregate_type: str | None = None
    aggregate_id: str | None = None
    status: str | None = None
    actor_id: int | None = None

    def q(self) -> Q:
        conditions = Q()
        for field, value in (("created_at__gte", self.since), ("created_at__lt", self.until),
                             ("event_type", self.event_type), ("aggregate_type", self.aggregate_type),
                             ("aggregate_id", self.aggregate_id), ("status", self.status),
                             ("actor_id", self.actor_id)):
            if value is not None:
                conditions &= Q(**{field: value})
        return conditions


def history(tenant_id: int, filters: HistoryFilter) -> QuerySet[OutboxEvent]:
    """A tenant's events matching `filters`, newest first (an unevaluated queryset)."""
    return OutboxEvent.objects.filter(Q(tenant_id=tenant_id) & filters.q()).order_by("-id")


def history_page(tenant_id: int, filters: HistoryFilter, before_id: int | None,
                 limit: int) -> tuple[list[OutboxEvent], int | None]:
    """One page of the history, and the `before_id` of the next page (None on the last)."""
    return newest_first_page(history(tenant_id, filters), before_id, limit)


def export(tenant_id: int, filters: HistoryFilter, chunk: int = 2000) -> Iterator[OutboxEvent]:
    """Every event of the tenant matching `filters`, in commit-safe order, chunk by chunk.

    Events of transactions still running when the export reaches them are not included
    (they are after the export's horizon); nothing that committed earlier is skipped.
    """
    cursor: Cursor = START
    while True:
        batch = read_after(cursor, tenant_id=tenant_id, limit=chunk, where=filters.q())
        yield from batch
        if len(batch) < chunk:
            return
        cursor = cursor_of(batch[-1])


@dataclass(frozen=True)
class EventStory:
    """Everything known about one event: the row, its consumer, its attempts, its dead letter."""

    event: OutboxEvent
    inbox: InboxEntry | None
    attempts: list[DeliveryAttempt]
    dead_letter: DeadLetter | None


def event_story(tenant_id: int, event_id: int) -> EventStory | None:
    event = OutboxEvent.objects.filter(tenant_id=tenant_id, id=event_id).first()
    if event is None:
        return None
    return EventStory(
        event=event,
        inbox=InboxEntry.objects.filter(event_id=event.event_id).first(),
        attempts=list(DeliveryAttempt.objects.filter(event_id=event.event_id).order_by("attempt")),
        dead_letter=DeadLetter.objects.filter(event_id=event.event_id).first(),
    )


def open_dead_letters(tenant_id: int | None) -> QuerySet[DeadLetter]:
    """Dead letters not yet redriven; of one tenant, or of all (platform staff, None)."""
    letters = DeadLetter.objects.filter(redriven_at__isnull=True)
    return letters if tenant_id is None else letters.filter(tenant_id=tenant_id)


def outbox_figures() -> dict[str, Any]:
    """Pending, due, lag and in-flight counts (the hot table only: cheap)."""
    with connection.cursor() as cursor:
        cursor.execute(queries.PENDING_STATS)
        pending, due, oldest_age, inflight, _dead = cursor.fetchone()
    return {"pending": pending, "due": due, "lag_s": round(float(oldest_age), 3), "inflight": inflight}


def tenant_outbox_figures(tenant_id: int) -> dict[str, Any]:
    """One agency's share of the backlog: pending, due, and the age of its oldest due event."""
    with connection.cursor() as cursor:
        cursor.execute(queries.TENANT_PENDING_STATS, {"tenant_id": tenant_id})
        pending, due, oldest_age = cursor.fetchone()
    return {"pending": int(pending), "due": int(due), "lag_s": float(oldest_age)}


@dataclass(frozen=True)
class DeadLetterGroup:
    """Open dead letters of one cause: the same task, exception class and normalised message."""

    fingerprint: str
    task_name: str | None
    exception: str
    message: str
    letters: int
    first_seen: datetime
    last_seen: datetime
    sample: DeadLetter  # the newest of the group

    @property
    def traceback_tail(self) -> str:
        """The sample's last traceback line (where it failed, and why)."""
        lines = [line for line in self.sample.traceback.strip().splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""


def dead_letter_groups(tenant_id: int | None, limit: int = 20) -> list[DeadLetterGroup]:
    """Open dead letters grouped by fingerprint, largest group first (two queries)."""
    with connection.cursor() as cursor:
        cursor.execute(queries.DEAD_LETTER_GROUPS, {"tenant_id": tenant_id, "limit": limit})
        rows = cursor.fetchall()
    samples = DeadLetter.objects.in_bulk([row[7] for row in rows])
    return [DeadLetterGroup(fingerprint, task, exception, message, int(count), first, last, samples[sample])
            for fingerprint, task, exception, message, count, first, last, sample in rows if sample in samples]


def dead_letters_of_fingerprint(tenant_id: int | None, fingerprint: str, limit: int = 10_000) -> list[int]:
    """The ids of the open dead letters of one group."""
    with connection.cursor() as cursor:
        cursor.execute(queries.DEAD_LETTERS_OF_FINGERPRINT, {"tenant_id": tenant_id, "fingerprint": fingerprint,
                                                            "limit": limit})
        return [int(row[0]) for row in cursor.fetchall()]
