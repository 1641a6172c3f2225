"""The auditors' JSON API: the outbox history and the read audit of patient data of the
caller's tenant (read-only)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import FileResponse, HttpRequest, StreamingHttpResponse
from ninja import Query, Router, Schema, Status
from ninja.schema import DjangoGetter
from pydantic import Field, model_validator

from core.accounts.access import RoleAuth, tenant_id_of, tenant_user
from core.audit import exports
from core.audit.presenters import (
    EXPORT_LINES,
    READ_CSV_COLUMNS,
    actors_of,
    csv_lines,
    event_dict,
    export_dict,
    history_text,
    jsonl_lines,
    read_dicts,
    read_rows,
)
from core.platform.errors import NotFound
from core.platform.roles import Role
from core.platform.schemas import Text, TimeWindowQuery, Whole, answers, file_answers
from core.privacy import selectors as reads
from core.privacy.models import ReadKind
from core.privacy.selectors import ReadFilter
from outbox import selectors
from outbox.selectors import HistoryFilter, PayloadMatch

router = Router(tags=["audit"])
READERS = RoleAuth(Role.AUDITOR, Role.OPS, Role.OPS_VIEWER)
# Who saw which patient's visits is for auditors alone (adr/0017): ops run the system and
# read its history, but have no need to know who looked at whom.
READ_AUDITORS = RoleAuth(Role.AUDITOR)


def Timestamp(**kwargs: Any) -> Any:  # reads as a type in the schemas below
    """An ISO 8601 date-time string as the presenters write it (documented as such)."""
    return Field(json_schema_extra={"format": "date-time"}, **kwargs)


class EventOut(Schema):
    id: int
    event_id: str
    cursor: str
    created_at: str = Timestamp()
    event_type: str
    aggregate_type: str
    aggregate_id: str
    actor_id: int | None
    actor: str | None = Field(description="the actor's name (full name, else username), if the event has one")
    actor_roles: list[str] = Field(description="the actor's roles today (not necessarily when they acted)")
    trace_id: str
    destination: str
    priority: int
    status: str
    attempts: int
    available_at: str = Timestamp()
    relayed_at: str | None = Timestamp()
    completed_at: str | None = Timestamp()
    last_error: str
    payload: dict[str, Any]


class EventPage(Schema):
    events: list[EventOut]
    next_before: int | None


class InboxOut(Schema):
    task_name: str
    worker: str
    attempt: int
    processed_at: str = Timestamp()


class DeliveryAttemptOut(Schema):
    attempt: int
    worker: str
    started_at: str = Timestamp()
    finished_at: str | None = Timestamp()
    outcome: str
    error: str


class DeadLetterOut(Schema):
    id: int
    error: str
    attempts: int
    created_at: str = Timestamp()
    redriven_at: str | None = Timestamp()


class EventStoryOut(EventOut):
    inbox: InboxOut | None
    delivery_attempts: list[DeliveryAttemptOut]
    dead_letter: DeadLetterOut | None


class KeysetPage(Schema):
    before: int | None = Field(None, ge=1, le=2**62, description="the next_before of the previous page")
    limit: int = Field(50, ge=1, le=500)


class HistoryQuery(TimeWindowQuery):
    event_type: Text | None = Field(None, max_length=100)
    aggregate_type: Text | None = Field(None, max_length=50)
    aggregate_id: Text | None = Field(None, max_length=64)
    status: Literal["pending", "relayed", "completed", "dead"] | None = None
    actor_id: Whole | None = Field(None, ge=1, le=2**62)
    # Read in filters(), not by pydantic: its refusal then names `payload` (Invalid, 400).
    payload: str | None = Field(None, description=(
        "events whose payload holds a value at a path: `payload.KEY = VALUE`, e.g. `payload.visit_id = 42` or "
        "`payload.address.city = \"Salem\"` (up to 8 keys joined by dots; the value a JSON number, true, false, "
        "null, a string in double quotes, or one bare word taken as a string). A number matches only a number: "
        "42 is not \"42\" (docs/audit.md)"))

    def filters(self) -> HistoryFilter:
        """The filter asked for; Invalid naming `payload` if that cannot be read."""
        given = self.model_dump(include=set(HistoryQuery.model_fields) - {"payload"})
        return HistoryFilter(**given, payload=None if self.payload is None else PayloadMatch.parse(self.payload))


class PageQuery(HistoryQuery, KeysetPage):
    pass


@router.get("/events", response=answers({200: EventPage}, 400), auth=READERS)
def list_events(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    """The tenant's events, newest first, filtered; keyset-paginated with `before`."""
    page, next_before = selectors.history_page(tenant_id_of(request), query.filters(), query.before, query.limit)
    actors = actors_of(page)
    return {"events": [event_dict(e, actors) for e in page], "next_before": next_before}


class CountOut(Schema):
    events: int
    exact: bool = Field(description="false: the planner's estimate, the set being too large to count cheaply")


@router.get("/events/count", response=answers({200: CountOut}, 400), auth=READERS)
def count_events(request: HttpRequest, query: Query[HistoryQuery]) -> dict[str, Any]:
    """How many events match the filters: exact up to 10,000, an estimate beyond."""
    matching = selectors.history_count(tenant_id_of(request), query.filters())
    return {"events": matching.events, "exact": matching.exact}


@router.get("/events/{event_id}", response=answers({200: EventStoryOut}, 400, 404), auth=READERS)
def get_event(request: HttpRequest, event_id: int) -> dict[str, Any]:
    """One event with its consumer's inbox record, delivery attempts and dead letter."""
    story = selectors.event_story(tenant_id_of(request), event_id)
    if story is None:
        raise NotFound(f"event {event_id} not found")
    letter = story.dead_letter
    return {
        **event_dict(story.event, actors_of([story.event])),
        "inbox": None if story.inbox is None else {
            "task_name": story.inbox.task_name, "worker": story.inbox.worker,
            "attempt": story.inbox.attempt, "processed_at": story.inbox.processed_at.isoformat()},
        "delivery_attempts": [{"attempt": a.attempt, "worker": a.worker, "started_at": a.started_at.isoformat(),
                               "finished_at": a.finished_at.isoformat() if a.finished_at else None,
                               "outcome": a.outcome, "error": a.error} for a in story.attempts],
        "dead_letter": None if letter is None else {
            "id": letter.id, "error": letter.error, "attempts": letter.attempts,
            "created_at": letter.created_at.isoformat(),
            "redriven_at": letter.redriven_at.isoformat() if letter.redriven_at else None},
    }


def streamed(lines: Iterator[str], lines_per_chunk: int = 500) -> AsyncIterator[str]:
    """`lines` as an async iterator, for ASGI: Django would read a plain iterator whole into a
    list before sending a byte. Each chunk is read in the thread where the request's database
    connection lives (thread_sensitive), one short query per chunk; no transaction is held
    between chunks, so a client that goes away leaves nothing open."""

    def take() -> str:
        return "".join(itertools.islice(lines, lines_per_chunk))

    async def chunks() -> AsyncIterator[str]:
        while chunk := await sync_to_async(take, thread_sensitive=True)():
            yield chunk

    return chunks()


def _stream(request: HttpRequest, rows: Iterator[dict[str, Any]], columns: list[str], fmt: Literal["csv", "jsonl"],
            name: str) -> StreamingHttpResponse:
    """`rows` as a CSV or JSON-lines attachment `name`.`fmt`, streamed."""
    lines = csv_lines(rows, columns) if fmt == "csv" else jsonl_lines(rows)
    return _attachment(request, lines, 500, fmt, name)


def _attachment(request: HttpRequest, pieces: Iterator[str], per_chunk: int, fmt: Literal["csv", "jsonl"],
                name: str) -> StreamingHttpResponse:
    """`pieces` of text as the attachment `name`.`fmt`, streamed `per_chunk` pieces at a time."""
    content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
    body = streamed(pieces, per_chunk) if isinstance(request, ASGIRequest) else pieces
    response = StreamingHttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


def _export(request: HttpRequest, query: HistoryQuery, fmt: Literal["csv", "jsonl"]) -> StreamingHttpResponse:
    """The history's export: a string per chunk of events (thousands of rows), not per row."""
    chunks = selectors.export(tenant_id_of(request), query.filters(), EXPORT_LINES[fmt])
    body = history_text(chunks, fmt)
    return _attachment(request, body, 1, fmt, "outbox-history")


@router.get("/export.csv", response=answers({200: None}, 400), auth=READERS, openapi_extra=file_answers("text/csv"))
def export_csv(request: HttpRequest, query: Query[HistoryQuery]) -> StreamingHttpResponse:
    """The filtered history as CSV, streamed in commit order."""
    return _export(request, query, "csv")


@router.get("/export.jsonl", response=answers({200: None}, 400), auth=READERS,
            openapi_extra=file_answers("application/x-ndjson"))
def export_jsonl(request: HttpRequest, query: Query[HistoryQuery]) -> StreamingHttpResponse:
    """The filtered history as JSON lines, streamed in commit order."""
    return _export(request, query, "jsonl")


# --- exports made in the background (core/audit/exports.py, adr/0021) ------------------------------

# Who may have an export made: auditors and ops (the read-only ops role looks, it changes nothing).
EXPORTERS = RoleAuth(Role.AUDITOR, Role.OPS)


class ExportRequest(HistoryQuery):
    format: Literal["csv", "jsonl"] = "csv"

    @model_validator(mode="before")
    @classmethod
    def is_an_object(cls, data: Any) -> Any:
        """Every field has a default, so anything but an object (`true`, `[]`) must be refused here."""
        given = data._obj if isinstance(data, DjangoGetter) else data  # how ninja hands a body over
        if not isinstance(given, dict):
            raise ValueError("the body must be a JSON object")
        return data


class ExportOut(Schema):
    id: int
    status: str
    format: str
    filters: dict[str, Any]
    requested_at: str = Timestamp()
    requested_by: str | None
    rows_estimate: int | None
    rows_done: int
    size_bytes: int
    finished_at: str | None = Timestamp()
    expires_at: str | None = Timestamp()
    error: str
    download: str | None = Field(description="the file's address, once done (until it expires)")


@router.post("/exports", response=answers({202: ExportOut}, 400, 409, 422), auth=EXPORTERS)
def create_export(request: HttpRequest, body: ExportRequest) -> Status[dict[str, Any]]:
    """Have the filtered history made into a file in the background: 202 with the export; follow
    its progress at GET /api/audit/exports/{id}, download it from its `download` address."""
    made = exports.request_export(tenant_user(request), body.filters(), body.format)
    return Status(202, export_dict(made))


@router.get("/exports", response=answers({200: list[ExportOut]}), auth=READERS)
def list_exports(request: HttpRequest) -> list[dict[str, Any]]:
    """The agency's last 50 exports, newest first."""
    return [export_dict(made) for made in exports.exports_of(tenant_id_of(request))[:50]]


@router.get("/exports/{export_id}", response=answers({200: ExportOut}, 400, 404), auth=READERS)
def get_export(request: HttpRequest, export_id: int) -> dict[str, Any]:
    """One export: its status and progress (rows so far, of about `rows_estimate`)."""
    return export_dict(exports.export_of(tenant_id_of(request), export_id))


@router.get("/exports/{export_id}/file", response=answers({200: None}, 400, 404), auth=READERS,
            openapi_extra=file_answers("text/csv", "application/x-ndjson"))
def download_export(request: HttpRequest, export_id: int) -> FileResponse:
    """A finished export's file (404 before it is done, or after it expired)."""
    made, opened = exports.file_of(tenant_id_of(request), export_id)
    return FileResponse(opened, as_attachment=True, filename=f"outbox-history-{made.id}.{made.format}",
                        content_type="text/csv" if made.format == "csv" else "application/x-ndjson")


# --- the read audit of patient data (core/privacy, adr/0017) ---------------------------------


class ReadOut(Schema):
    id: int
    at: str = Timestamp()
    last_at: str = Timestamp(description="the last live re-fetch folded into this record (= at if none)")
    repeats: int
    user_id: int
    user: str
    kind: str
    subject: str
    visit_count: int
    request_id: str
    client_address: str


class ReadDetailOut(ReadOut):
    visit_ids: list[int]


class ReadPage(Schema):
    reads: list[ReadOut]
    next_before: int | None


class ReadQuery(TimeWindowQuery):
    user_id: int | None = Field(None, ge=1, le=2**62)
    kind: ReadKind | None = None
    subject: Text | None = Field(None, max_length=64, description="a date (YYYY-MM-DD), a visit's or a plan's id")
    visit_id: int | None = Field(None, ge=1, le=2**62, description="the records that showed this visit")

    def filters(self) -> ReadFilter:
        return ReadFilter(**self.model_dump(include=set(ReadQuery.model_fields)))


class ReadPageQuery(ReadQuery, KeysetPage):
    pass


@router.get("/reads", response=answers({200: ReadPage}, 400), auth=READ_AUDITORS)
def list_reads(request: HttpRequest, query: Query[ReadPageQuery]) -> dict[str, Any]:
    """Who was shown patient data, newest first, filtered; keyset-paginated with `before`."""
    page, next_before = reads.reads_page(tenant_id_of(request), query.filters(), query.before, query.limit)
    return {"reads": read_dicts(page, with_visit_ids=False), "next_before": next_before}


def _export_reads(request: HttpRequest, query: ReadQuery, fmt: Literal["csv", "jsonl"]) -> StreamingHttpResponse:
    chunks = reads.export(tenant_id_of(request), query.filters())
    return _stream(request, read_rows(chunks), READ_CSV_COLUMNS, fmt, "patient-data-reads")


@router.get("/reads/export.csv", response=answers({200: None}, 400), auth=READ_AUDITORS,
            openapi_extra=file_answers("text/csv"))
def export_reads_csv(request: HttpRequest, query: Query[ReadQuery]) -> StreamingHttpResponse:
    """The filtered read audit as CSV (visit ids as a JSON array), streamed oldest first."""
    return _export_reads(request, query, "csv")


@router.get("/reads/export.jsonl", response=answers({200: None}, 400), auth=READ_AUDITORS,
            openapi_extra=file_answers("application/x-ndjson"))
def export_reads_jsonl(request: HttpRequest, query: Query[ReadQuery]) -> StreamingHttpResponse:
    """The filtered read audit as JSON lines, streamed oldest first."""
    return _export_reads(request, query, "jsonl")


@router.get("/reads/{read_id}", response=answers({200: ReadDetailOut}, 400, 404), auth=READ_AUDITORS)
def get_read(request: HttpRequest, read_id: int) -> dict[str, Any]:
    """One record, with the ids of the visits it showed."""
    record = reads.read_record(tenant_id_of(request), read_id)
    if record is None:
        raise NotFound(f"read {read_id} not found")
    return read_dicts([record])[0]
