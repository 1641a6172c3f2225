"""The parts of the UI each role works in: what the main navigation links to and the home
page lists. The shell knows the domains only by their URL names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from core.platform.roles import Role


@dataclass(frozen=True)
class Section:
    """A part of the UI one or more roles work in: what the main navigation links to."""

    key: str
    label: str
    url_name: str
    roles: frozenset[Role]  # empty: platform staff only
    summary: str
    namespace: str
    url_names: frozenset[str] = frozenset()  # the namespace's pages that belong here; empty: all

    def admits(self, user: Any) -> bool:
        if not self.roles:
            return bool(user.is_staff)
        return bool(getattr(user, "tenant_id", None)) and bool(self.roles & user.roles)

    def contains(self, namespace: str, url_name: str) -> bool:
        return namespace == self.namespace and (not self.url_names or url_name in self.url_names)


_LEARNER_PAGES = frozenset({"index", "problem", "lesson"})

SECTIONS: tuple[Section, ...] = (
    Section("dispatch", "Dispatch", "dispatch:index", frozenset({Role.DISPATCHER}),
            "Clinicians and visits of a day, Optimize Day, routes as they arrive.", "dispatch"),
    Section("review", "Review", "learning:review_queue", frozenset({Role.REVIEWER}),
            "The review queue, drafts and their diffs; approve, publish, roll back.", "learning",
            frozenset({"review_queue", "new_content", "new_version", "version"})),
    # Reviewers read the published catalogue too (the learning pages admit them).
    Section("learn", "Learn", "learning:index", frozenset({Role.LEARNER, Role.REVIEWER}),
            "Published lessons and problems; submit code and see the grade live.", "learning", _LEARNER_PAGES),
    Section("search", "Search", "learning:search", frozenset({Role.LEARNER, Role.REVIEWER}),
            "Search published lessons and problems.", "learning", frozenset({"search"})),
    Section("audit", "Audit", "audit:history", frozenset({Role.AUDITOR}),
            "The outbox history: filter, open an event, export CSV or JSON lines.", "audit"),
    Section("ops", "Ops", "ops:index", frozenset({Role.OPS, Role.OPS_VIEWER}),
            "Outbox lag, queue depths, workers, dead letters, heal runs.", "ops"),
    Section("people", "People", "people:index", frozenset({Role.AGENCY_ADMIN}),
            "Invite people, set their roles, switch off leavers' accounts, the second-factor policy.", "people",
            frozenset({"index", "person"})),
    Section("admin", "Admin", "admin:index", frozenset(),
            "Django admin: everything, including periodic schedules.", "admin"),
)


def sections_for(user: Any) -> list[Section]:
    """The sections `user` may open, in navigation order (none for strangers)."""
    if not getattr(user, "is_authenticated", False):
        return []
    return [section for section in SECTIONS if section.admits(user)]


def current_section(request: HttpRequest | None) -> str:
    """The key of the section the request's page belongs to ("" if none)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return ""
    namespace, url_name = match.namespace or "", match.url_name or ""
    return next((s.key for s in SECTIONS if s.contains(namespace, url_name)), "")
