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
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import F, Func, JSONField, Q, QuerySet, TextField, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast

from core.platform.errors import Invalid
from outbox import queries
from outbox.models import DeadLetter, DeliveryAttempt, InboxEntry, OutboxEvent

# --- the payload filter: `payload.visit_id = 42` (adr/0024) --------------------------------------

PAYLOAD_FILTER_CHARS = 1000
PAYLOAD_PATH_KEYS = 8
PAYLOAD_PATH_CHARS = 200
# A number's power of ten is kept within this: PostgreSQL's numeric refuses 1e200000 (an error,
# not a refusal), and no payload holds such a number.
PAYLOAD_NUMBER_EXPONENT = 1000

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
# A value starting like a number must be one ("007", "1,5", "+3" and ".5" are refused, not
# taken for text); a bare word is text without spaces, quotes, backslashes or JSON's brackets.
_LIKE_A_NUMBER = re.compile(r"[-+.0-9]")
_BARE_WORD = re.compile(r"[^\s\"'\\{}\[\],]+")
# What PostgreSQL cannot store in text or jsonb: NUL, and lone surrogates (not UTF-8).
_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")
_LITERALS: dict[str, bool | None] = {"true": True, "false": False, "null": None}

_HOW_TO_WRITE = "write it as payload.KEY = VALUE, e.g. payload.visit_id = 42"

JsonScalar = str | int | Decimal | bool | None


def _json_text(value: JsonScalar) -> str:
    """The value as JSON; a decimal exactly as written (json would make it a float)."""
    return str(value) if isinstance(value, Decimal) else json.dumps(value, ensure_ascii=False)


def _refused(message: str) -> Invalid:
    return Invalid(message, field="payload")


@dataclass(frozen=True)
class PayloadMatch:
    """Events whose payload holds `value` at `path` (keys from the payload's top), written
    `payload.visit_id = 42` or `payload.address.city = "Salem"`.

    It matches by JSON containment, `payload @> '{"visit_id": 42}'` (nested for a dotted path),
    which the history's GIN index answers (outbox/sql/0005). So a number matches only a number
    (42 and 42.0 alike, never "42"), a string only a string, null only a key present with null;
    and a value inside an array is not found by its key's path.
    """

    path: tuple[str, ...]
    value: JsonScalar

    @classmethod
    def parse(cls, text: str) -> PayloadMatch:
        """`payload.PATH = VALUE` read; Invalid naming `payload`, saying what is wrong, if it is
        not: PATH is up to 8 keys (letters, digits, _; not starting with a digit) joined by dots;
        VALUE a JSON number, true, false, null, a JSON string in double quotes, or a bare word
        (taken as a string)."""
        if len(text) > PAYLOAD_FILTER_CHARS:
            raise _refused(f"the filter is longer than {PAYLOAD_FILTER_CHARS} characters")
        if _UNSTORABLE.search(text):
            raise _refused("the filter holds a NUL character or a lone surrogate")
        written_path, equals, written_value = text.partition("=")
        if not equals:
            raise _refused(f"there is no '=': {_HOW_TO_WRITE}")
        return cls(_path(written_path.strip()), _value(written_value.strip()))

    def __str__(self) -> str:
        """The filter as written, in one canonical form (PayloadMatch.parse reads it back)."""
        return f"payload.{'.'.join(self.path)} = {_json_text(self.value)}"

    def containment(self) -> str:
        """The JSON a matching payload contains: {"visit_id": 42}, nested for a dotted path."""
        document = _json_text(self.value)
        for key in reversed(self.path):
            document = f"{{{json.dumps(key)}: {document}}}"
        return document

    def q(self) -> Q:
        """payload @> the containment document, passed as a parameter (cast to jsonb)."""
        return Q(payload__contains=Cast(Value(self.containment()), JSONField()))


def _path(written: str) -> tuple[str, ...]:
    if not written:
        raise _refused(f"the path before '=' is empty: {_HOW_TO_WRITE}")
    top, dot, keys = written.partition(".")
    if top != "payload":
        raise _refused(f"the path {written!r} does not start with 'payload.': {_HOW_TO_WRITE}")
    if not dot or not keys:
        raise _refused(f"the path names no key after 'payload.': {_HOW_TO_WRITE}")
    if len(keys) > PAYLOAD_PATH_CHARS:
        raise _refused(f"the path is longer than {PAYLOAD_PATH_CHARS} characters after 'payload.'")
    path = tuple(keys.split("."))
    if len(path) > PAYLOAD_PATH_KEYS:
        raise _refused(f"the path has {len(path)} keys, more than {PAYLOAD_PATH_KEYS}")
    for key in path:
        if not key:
            raise _refused("the path has an empty key (two dots together, or a dot at the end)")
        if not _KEY.fullmatch(key):
            raise _refused(f"{key!r} is not a key the filter can name: letters, digits and _, not starting "
                           "with a digit")
    return path


def _value(written: str) -> JsonScalar:
    if not written:
        raise _refused("there is no value after '='")
    if written.startswith('"'):
        return _quoted(written)
    if written in _LITERALS:
        return _LITERALS[written]
    if _LIKE_A_NUMBER.match(written):
        return _number(written)
    if _BARE_WORD.fullmatch(written):
        return written
    raise _refused(f"{written!r} is not a value: give a number, true, false, null, one word, "
                   'or text in double quotes ("like this")')


def _quoted(written: str) -> str:
    try:
        value: str = json.loads(written)  # JSON that starts with a quote is a string, or refused
    except ValueError:
        raise _refused(f"{written!r} is not a string in double quotes (a \" or \\ inside one is "
                       "written \\\" or \\\\)") from None
    if _UNSTORABLE.search(value):
        raise _refused("the string holds a NUL character or a lone surrogate")
    return value


def _number(written: str) -> int | Decimal:
    if not _NUMBER.fullmatch(written):
        raise _refused(f"{written!r} starts like a number but is not a JSON number; "
                       f"to match text, quote it: {json.dumps(written, ensure_ascii=False)}")
    if not any(mark in written for mark in ".eE"):
        return int(written)
    number = Decimal(written)
    if abs(number.adjusted()) > PAYLOAD_NUMBER_EXPONENT:
        raise _refused(f"{written!r} is beyond the numbers a payload holds")
    return number


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
    payload: PayloadMatch | None = None

    def q(self) -> Q:
        conditions = Q()
        for field, value in (("created_at__gte", self.since), ("created_at__lt", self.until),
                             ("event_type", self.event_type), ("aggregate_type", self.aggregate_type),
                             ("aggregate_id", self.aggregate_id), ("status", self.status),
                             ("actor_id", self.actor_id)):
            if value is not None:
                conditions &= Q(**{field: value})
        if self.payload is not None:
            conditions &= self.payload.q()
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
