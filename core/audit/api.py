"""The auditors' JSON API: the outbox history of the caller's tenant (read-only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Query, Router, Schema
from pydantic import Field, model_validator

from core.access import RoleAuth, tenant_id_of
from core.audit.presenters import csv_lines, event_dict, jsonl_lines
from core.errors import NotFound
from core.roles import Role
from outbox import selectors
from outbox.selectors import HistoryFilter

router = Router(tags=["audit"])
READERS = RoleAuth(Role.AUDITOR, Role.OPS)


class HistoryQuery(Schema):
    since: datetime | None = None
    until: datetime | None = None
    event_type: str | None = Field(None, max_length=100)
    aggregate_type: str | None = Field(None, max_length=50)
    aggregate_id: str | None = Field(None, max_length=64)
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


@router.get("/events", auth=READERS)
def list_events(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    """The tenant's events, newest first, filtered; keyset-paginated with `before`."""
    page, next_before = selectors.history_page(tenant_id_of(request), query.filters(), query.before, query.limit)
    return {"events": [event_dict(e) for e in page], "next_before": next_before}


@router.get("/events/{event_id}", auth=READERS)
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


def _export(request: HttpRequest, query: HistoryQuery, fmt: Literal["csv", "jsonl"]) -> StreamingHttpResponse:
    events = selectors.export(tenant_id_of(request), query.filters())
    lines = csv_lines(events) if fmt == "csv" else jsonl_lines(events)
    content_type = "text/csv" if fmt == "csv" else "application/x-ndjson"
    response = StreamingHttpResponse(lines, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="outbox-history.{fmt}"'
    return response


@router.get("/export.csv", auth=READERS)
def export_csv(request: HttpRequest, query: Query[HistoryQuery]) -> StreamingHttpResponse:
    """The filtered history as CSV, streamed in commit order."""
    return _export(request, query, "csv")


@router.get("/export.jsonl", auth=READERS)
def export_jsonl(request: HttpRequest, query: Query[HistoryQuery]) -> StreamingHttpResponse:
    """The filtered history as JSON lines, streamed in commit order."""
    return _export(request, query, "jsonl")
