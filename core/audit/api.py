"""The auditors' JSON API: the outbox history of the caller's tenant (read-only)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router, Schema
from pydantic import Field, model_validator

from core.accounts.access import RoleAuth, tenant_id_of
from core.audit.presenters import csv_lines, event_dict, jsonl_lines
from core.platform.errors import NotFound
from core.platform.roles import Role
from core.platform.schemas import Instant, Text, answers
from outbox import selectors
from outbox.selectors import HistoryFilter

router = Router(tags=["audit"])
READERS = RoleAuth(Role.AUDITOR, Role.OPS)


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


def _export_answers(content_type: str) -> dict[str, Any]:
    """The export's 200 is a stream of `content_type`, not JSON: documented by hand."""
    return {"responses": {200: {"description": "OK", "content": {content_type: {"schema": {"type": "string"}}}}}}


class HistoryQuery(Schema):
    since: Instant | None = None
    until: Instant | None = None
    event_type: Text | None = Field(None, max_length=100)
    aggregate_type: Text | None = Field(None, max_length=50)
    aggregate_id: Text | None = Field(None, max_length=64)
    status: Literal["pending", "relayed", "completed", "dead"] | None = None
    actor_id: int | None = Field(None, ge=1, le=2**62)

    @model_validator(mode="after")
    def window_is_ordered(self) -> HistoryQuery:
        if self.since and self.until and self.until <= self.since:
            raise ValueError("until must be after since")
        return self

    def filters(self) -> HistoryFilter:
        return HistoryFilter(**self.model_dump(include=set(HistoryQuery.model_fields)))


class PageQuery(HistoryQuery):
    before: int | None = Field(None, ge=1, le=2**62, description="the next_before of the previous page")
    limit: int = Field(50, ge=1, le=500)


@router.get("/events", response=answers({200: EventPage}, 400), auth=READERS)
def list_events(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    """The tenant's events, newest first, filtered; keyset-paginated with `before`."""
    page, next_before = selectors.history_page(tenant_id_of(request), query.filters(), query.before, query.limit)
    return {"events": [event_dict(e) for e in page], "next_before": next_before}


@router.get("/events/{event_id}", response=answers({200: EventStoryOut}, 400, 404), auth=READERS)
def get_event(request: HttpRequest, event_id: int) -> dict[str, Any]:
    """One event with its consumer's inbox record, delivery attempts and dead letter."""
    story = selectors.event_story(tenant_id_of(request), event_id)
    if story is None:
        raise NotFound(f"event {event_id} not found")
    letter = story.dead_letter
    return {
        **event_dict(story.event),
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


def _export(request: HttpRequest, query: HistoryQuery, fmt: Literal["csv", "jsonl"]) -> StreamingHttpResponse:
    events = selectors.export(tenant_id_of(request), query.filters())
    lines = csv_lines(events) if fmt == "csv" else jsonl_lines(events)
    content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
    body = streamed(lines) if isinstance(request, ASGIRequest) else lines
    response = StreamingHttpResponse(body, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="outbox-history.{fmt}"'
    return response


@router.get("/export.csv", response=answers({200: None}, 400), auth=READERS, openapi_extra=_export_answers("text/csv"))
def export_csv(request: HttpRequest, query: Query[HistoryQuery]) -> StreamingHttpResponse:
    """The filtered history as CSV, streamed in commit order."""
    return _export(request, query, "csv")


@router.get("/export.jsonl", response=answers({200: None}, 400), auth=READERS,
            openapi_extra=_export_answers("application/x-ndjson"))
def export_jsonl(request: HttpRequest, query: Query[HistoryQuery]) -> StreamingHttpResponse:
    """The filtered history as JSON lines, streamed in commit order."""
    return _export(request, query, "jsonl")
