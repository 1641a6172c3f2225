"""Named reads of the outbox: the auditors' history, an event's whole story, ops figures.

History pages are newest first by (created_at, id), keyset-paginated: each page is one index
range per monthly partition of outbox_history, read in page order, so page 1 and page 10,000
of a history of 100 million events cost the same, and a time window reads only its months
(adr/0021). Exports walk the filtered set oldest first in chunks, each its own short query,
below a horizon taken when they start, so they never hold the result in memory or a
transaction open, and never miss an event that committed before they started.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import F, Func, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL

from core.platform.errors import Invalid
from outbox import queries
from outbox.models import DeadLetter, DeliveryAttempt, InboxEntry, OutboxEvent


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
    return OutboxEvent.objects.filter(Q(tenant_id=tenant_id) & filters.q()).order_by("-created_at", "-id")


def _before(created_at: datetime, event_id: int) -> Q:
    """Rows before (created_at, event_id) in page order. The plain `created_at <=` lets the
    planner prune later partitions and bound the index range; the rest breaks the tie."""
    return Q(created_at__lte=created_at) & (Q(created_at__lt=created_at) | Q(id__lt=event_id))


def _after(created_at: datetime, event_id: int) -> Q:
    return Q(created_at__gte=created_at) & (Q(created_at__gt=created_at) | Q(id__gt=event_id))


def history_below(tenant_id: int, filters: HistoryFilter, before_id: int | None) -> QuerySet[OutboxEvent]:
    """The history below the event `before_id` (all of it if None), newest first. Invalid,
    naming `before`, if the tenant has no event `before_id`."""
    rows = history(tenant_id, filters)
    if before_id is None:
        return rows
    anchor = OutboxEvent.objects.filter(tenant_id=tenant_id, id=before_id).values_list("created_at", flat=True).first()
    if anchor is None:
        raise Invalid(f"no event {before_id} in this history to page from", field="before")
    return rows.filter(_before(anchor, before_id))


def history_page(tenant_id: int, filters: HistoryFilter, before_id: int | None,
                 limit: int) -> tuple[list[OutboxEvent], int | None]:
    """One page of the history below the event `before_id` (the first page if None), and the
    `before_id` of the next page (None on the last)."""
    page = list(history_below(tenant_id, filters, before_id)[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    return page, (page[-1].id if more and page else None)


# Up to this many matching events are counted exactly; beyond, the planner's estimate is shown.
EXACT_COUNT_UP_TO = 10_000


@dataclass(frozen=True)
class HistoryCount:
    """How many events match a filter: exact, or the planner's estimate ("about")."""

    events: int
    exact: bool


def history_count(tenant_id: int, filters: HistoryFilter) -> HistoryCount:
    """The number of matching events, counted up to EXACT_COUNT_UP_TO (a bounded index read);
    a larger set is not counted (that would read all of it) but estimated from the planner's
    statistics, never below what was counted."""
    rows = history(tenant_id, filters).order_by()
    counted = rows[: EXACT_COUNT_UP_TO + 1].count()
    if counted <= EXACT_COUNT_UP_TO:
        return HistoryCount(counted, exact=True)
    plan = json.loads(rows.explain(format="json"))
    return HistoryCount(max(counted, int(plan[0]["Plan"]["Plan Rows"])), exact=False)


# The keyset of an export, as text: PostgreSQL writes it faster than Python reads a timestamp.
_KEY_TIME = Func(F("created_at"), template=queries.ISO_UTC.format("%(expressions)s"), output_field=TextField())


def export(tenant_id: int, filters: HistoryFilter, line: str, chunk: int = 5000) -> Iterator[list[str]]:
    """Every event of the tenant matching `filters`, oldest first, as lists of up to `chunk`
    lines: `line` is the SQL expression that writes an event's line (constant text of the
    caller's, e.g. core.audit.queries.CSV_LINE; never input), so PostgreSQL formats and Python
    only joins.

    The horizon, taken once at the start, is the first transaction that may still add events
    (queries.EXPORT_HORIZON): every transaction below it had ended, so each chunk, a query of
    its own, sees all of their events, wherever they are by then (hot table or history: the
    view shows each once, and an event's (created_at, id) never changes), and the keyset
    moves past each once. Events of transactions at or above the horizon (still running when
    the export started) are left out: they belong to a later export.
    """
    with connection.cursor() as cursor:
        cursor.execute(queries.EXPORT_HORIZON)
        (horizon,) = cursor.fetchone()
    rows = history(tenant_id, filters).filter(txid__lt=horizon).annotate(
        key_time=_KEY_TIME, line=RawSQL(line, ())).order_by("created_at", "id")  # noqa: S611 (constant SQL)
    position: tuple[datetime, int] | None = None
    while True:
        page = rows if position is None else rows.filter(_after(*position))
        batch = list(page.values_list("key_time", "id", "line")[:chunk])
        if batch:
            yield [text for _, _, text in batch]
        if len(batch) < chunk:
            return
        position = (datetime.fromisoformat(batch[-1][0]), batch[-1][1])


@dataclass(frozen=True)
class EventStory:
    """Everything known about one event: the row, its consumer, its attempts, its dead letter."""

    event: OutboxEvent
    inbox: InboxEntry | None
    attempts: list[DeliveryAttempt]
    dead_letter: DeadLetter | None


def event_of(tenant_id: int, event_id: int) -> OutboxEvent | None:
    """One of the tenant's events (None for another tenant's, or none)."""
    return OutboxEvent.objects.filter(tenant_id=tenant_id, id=event_id).first()


def event_story(tenant_id: int, event_id: int) -> EventStory | None:
    event = event_of(tenant_id, event_id)
    return None if event is None else stories_of([event])[0]


# --- traces: everything one request set going (#19: one event's whole path) -------------------

# How far around its anchor a trace is looked for: a request's events commit together, and the
# work they set going (tasks, and the events those emit under the same trace id) follows within
# minutes. The window keeps the search an index range of the tenant's history.
TRACE_WINDOW = timedelta(hours=6)


@dataclass(frozen=True)
class Trace:
    """The events of one trace id, oldest first, each with its story; the window searched."""

    trace_id: str
    stories: list[EventStory]
    since: datetime
    until: datetime


def stories_of(events: list[OutboxEvent]) -> list[EventStory]:
    """Each event's story: its consumer's inbox row, attempts and dead letter (three queries)."""
    ids = [event.event_id for event in events]
    inbox = {entry.event_id: entry for entry in InboxEntry.objects.filter(event_id__in=ids)}
    letters = {letter.event_id: letter for letter in DeadLetter.objects.filter(event_id__in=ids)}
    attempts: dict[Any, list[DeliveryAttempt]] = {}
    for attempt in DeliveryAttempt.objects.filter(event_id__in=ids).order_by("event_id", "attempt"):
        attempts.setdefault(attempt.event_id, []).append(attempt)
    return [EventStory(event, inbox.get(event.event_id), attempts.get(event.event_id, []),
                       letters.get(event.event_id)) for event in events]


def trace(tenant_id: int, trace_id: str, around: datetime, limit: int = 200) -> Trace:
    """The tenant's events of `trace_id` within TRACE_WINDOW of `around`, oldest first (at most
    `limit`), with their stories."""
    since, until = around - TRACE_WINDOW, around + TRACE_WINDOW
    events = list(OutboxEvent.objects.filter(tenant_id=tenant_id, trace_id=trace_id, created_at__gte=since,
                                             created_at__lt=until).order_by("created_at", "id")[:limit])
    return Trace(trace_id, stories_of(events), since, until)


def open_dead_letters(tenant_id: int | None) -> QuerySet[DeadLetter]:
    """Dead letters not yet redriven; of one tenant, or of all (platform staff, None)."""
    letters = DeadLetter.objects.filter(redriven_at__isnull=True, discarded_at__isnull=True)
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


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which open dead letters an operator chooses; every field but the tenant is optional.
    tenant_id None is every tenant's (platform staff only). as_of leaves out letters that died
    after it: the set an operator saw counted is the set acted on."""

    tenant_id: int | None
    event_type: str | None = None
    task_name: str | None = None
    fingerprint: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    as_of: datetime | None = None

    def params(self) -> dict[str, Any]:
        return {"tenant_id": self.tenant_id, "event_type": self.event_type, "task_name": self.task_name,
                "fingerprint": self.fingerprint, "since": self.since, "until": self.until, "as_of": self.as_of}

    def to_dict(self) -> dict[str, Any]:
        """The filter as JSON (times in ISO 8601), without its empty fields."""
        return {key: value.isoformat() if isinstance(value, datetime) else value
                for key, value in self.params().items() if value is not None}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeadLetterFilter:
        times = {key: datetime.fromisoformat(data[key]) for key in ("since", "until", "as_of") if data.get(key)}
        return cls(tenant_id=data.get("tenant_id"), event_type=data.get("event_type"),
                   task_name=data.get("task_name"), fingerprint=data.get("fingerprint"), **times)


def count_dead_letters(chosen: DeadLetterFilter) -> int:
    """How many open dead letters the filter chooses (the preview of a bulk action)."""
    with connection.cursor() as cursor:
        cursor.execute(queries.COUNT_DEAD_LETTERS_MATCHING, chosen.params())
        return int(cursor.fetchone()[0])


def dead_letters_matching(chosen: DeadLetterFilter, after_id: int = 0, limit: int = 10_000) -> list[int]:
    """The ids of the open dead letters the filter chooses, in id order after `after_id`."""
    with connection.cursor() as cursor:
        cursor.execute(queries.DEAD_LETTERS_MATCHING, {**chosen.params(), "after_id": after_id, "limit": limit})
        return [int(row[0]) for row in cursor.fetchall()]
