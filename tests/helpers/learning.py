"""Learning content in a given state: drafted, approved (by a second reviewer), published."""

from __future__ import annotations

from typing import Any

from django.db import connection

from core.accounts.models import User
from core.learning import services
from core.learning.models import Content, Kind, Version
from core.platform.roles import Role
from tests.helpers.people import make_user

ADD_TESTS = "import solution\n\ndef test_adds():\n    assert solution.add(1, 2) == 3\n"


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
    return colleague or make_user(f"{author.username}-colleague", author.tenant, Role.REVIEWER)


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
