"""Helpers for learning and ops tests: the story's people, content in a given state, and
running outbox events in-process the way a worker would."""

from __future__ import annotations

from typing import Any

from django.db import connection

from core.accounts.models import User
from core.config.celery import app
from core.learning import services
from core.learning.models import Content, Kind, Version
from core.platform.roles import Role
from outbox.consumers import ENVELOPE_HEADER
from outbox.models import OutboxEvent
from tests.integration.learning.fixtures import story_user

ADD_TESTS = "import solution\n\ndef test_adds():\n    assert solution.add(1, 2) == 3\n"


def header_of(event: OutboxEvent) -> dict[str, Any]:
    header: dict[str, Any] = {"id": event.id, "created_at": event.created_at.isoformat(),
                              "event_id": str(event.event_id), "event_type": event.event_type,
                              "trace_id": event.trace_id}
    return header


def execute(event: OutboxEvent) -> Any:
    """Execute one task event in-process, as a worker does with the relay's message."""
    assert event.task_name is not None
    headers: dict[str, Any] = {ENVELOPE_HEADER: header_of(event)}
    result = app.tasks[event.task_name].apply(
        kwargs={**event.payload, "tenant_id": event.tenant_id}, task_id=str(event.event_id), headers=headers)
    return result.result


def pending_tasks(*names: str) -> list[OutboxEvent]:
    events = OutboxEvent.objects.filter(status="pending", task_name__isnull=False).order_by("id")
    return list(events.filter(task_name__in=names) if names else events)


def deliver(*names: str, rounds: int = 5) -> int:
    """Execute pending task events (of `names`, or all) until none are left, including the ones
    they emit; returns how many ran."""
    ran = 0
    for _ in range(rounds):
        events = pending_tasks(*names)
        if not events:
            return ran
        for event in events:
            execute(event)
            ran += 1
    return ran


def events_of(event_type: str, **filters: Any) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(event_type=event_type, **filters).order_by("id"))


def document_row(content_id: int) -> tuple[Any, ...] | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT version_id, live_seq, title FROM learning_searchdocument WHERE content_id = %s",
                       [content_id])
        return cursor.fetchone()


def second_reviewer(author: User, reviewer: User) -> User:
    """`reviewer`, or when the author is the reviewer (nobody approves their own version), a
    colleague reviewer of the same agency, made on first use."""
    if author.pk != reviewer.pk:
        return reviewer
    assert author.tenant is not None
    colleague = User.objects.filter(tenant=author.tenant, username=f"{author.username}-colleague").first()
    return colleague or story_user(f"{author.username}-colleague", author.tenant, Role.REVIEWER)


def approved(author: User, reviewer: User, kind: str = Kind.LESSON, title: str = "Hand hygiene before wound care",
             body: str = "Wash hands for twenty seconds before touching a dressing.", tests: str = "") -> Version:
    """A new content whose first version is approved (not yet published)."""
    if kind == Kind.PROBLEM and not tests:
        tests = ADD_TESTS
    version = services.create_content(author, kind, title, body, tests)
    services.submit_for_review(version.id, author)
    services.review_version(version.id, second_reviewer(author, reviewer), "approve")
    return Version.objects.get(id=version.id)


def next_approved(content: Content, author: User, reviewer: User, title: str, body: str, tests: str = "") -> Version:
    if content.kind == Kind.PROBLEM and not tests:
        tests = ADD_TESTS
    version = services.create_version(content.id, author, title, body, tests)
    services.submit_for_review(version.id, author)
    services.review_version(version.id, second_reviewer(author, reviewer), "approve")
    return Version.objects.get(id=version.id)


def published(author: User, reviewer: User, **kwargs: Any) -> Version:
    version = approved(author, reviewer, **kwargs)
    services.publish_version(version.id, reviewer)
    return version
