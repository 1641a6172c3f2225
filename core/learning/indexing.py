"""The search index's one writer: make a content's document match the truth (ADR 0010).

Called by the index tasks inside their effects() transaction, so the document, the inbox
row and the event's completion commit together. Idempotent and order-proof:

- it ignores what the event said and reads the truth (the content's live version), under a
  row lock that a concurrent publish/unpublish/rollback also needs, so whichever indexer
  runs last after the last change writes that change (the lock and the version are read by
  two statements: see queries.LOCK_CONTENT_FOR_INDEX for why one would not do);
- it renders nothing: the version's text was rendered when the version was written;
- the write itself never moves a document backwards (a row written for a later change of
  the live version, a higher live_seq, is kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db import connection

from core.learning import queries

# live_seq for a content that does not exist (in this tenant): anything indexed for it goes.
_ANY_SEQ = 2**31 - 1


class IndexAction(StrEnum):
    INDEXED = "indexed"
    REMOVED = "removed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class IndexOutcome:
    action: IndexAction
    version_id: int | None


def sync_search_document(content_id: int, tenant_id: int) -> IndexOutcome:
    """Write, replace or remove the search document of `content_id` of `tenant_id` so it shows
    the live version, or nothing when none is live. Must run inside a transaction (the task's
    effects()); touches only rows of `tenant_id`."""
    if connection.get_autocommit():
        raise RuntimeError("sync_search_document must run inside the task's effects() transaction")
    key = {"content_id": content_id, "tenant_id": tenant_id}
    with connection.cursor() as cursor:
        cursor.execute(queries.LOCK_CONTENT_FOR_INDEX, key)
        content = cursor.fetchone()
        if content is None:  # no such content in this tenant: anything indexed for it goes
            return _remove(cursor, key, _ANY_SEQ)
        kind, live_seq, version_id = content
        live = None
        if version_id is not None:  # a statement of its own: a fresh snapshot (ADR 0010)
            cursor.execute(queries.LIVE_VERSION_FOR_INDEX, {"version_id": version_id, "content_id": content_id})
            live = cursor.fetchone()
        if live is None:
            return _remove(cursor, key, live_seq)
        number, title, body_text, render_revision = live
        cursor.execute(queries.UPSERT_DOCUMENT, {
            **key, "kind": kind, "version_id": version_id, "version_number": number, "live_seq": live_seq,
            "title": title, "body_text": body_text, "render_revision": render_revision})
        written = cursor.fetchone()
    return IndexOutcome(IndexAction.INDEXED if written else IndexAction.UNCHANGED, version_id)


def _remove(cursor: Any, key: dict[str, int], live_seq: int) -> IndexOutcome:
    cursor.execute(queries.DELETE_DOCUMENT, {**key, "live_seq": live_seq})
    return IndexOutcome(IndexAction.REMOVED if cursor.fetchone() else IndexAction.UNCHANGED, None)
