"""The search index's one writer: make a content's document match the truth (ADR 0010).

Called by the index tasks inside their effects() transaction, so the document, the inbox
row and the event's completion commit together. Idempotent and order-proof:

- it ignores what the event said and reads the truth (the content's live version), under a
  row lock that a concurrent publish/unpublish/rollback also needs, so whichever indexer
  runs last after the last change writes that change;
- the write itself never moves a document backwards (a row written for a later change of
  the live version, a higher live_seq, is kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.db import connection

from core.learning import queries
from core.learning.rendering import plain_text

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
    with connection.cursor() as cursor:
        cursor.execute(queries.LOCK_CONTENT_FOR_INDEX, {"content_id": content_id, "tenant_id": tenant_id})
        row = cursor.fetchone()
        if row is None or row[4] is None:
            live_seq = row[3] if row is not None else _ANY_SEQ
            cursor.execute(queries.DELETE_DOCUMENT, {"content_id": content_id, "tenant_id": tenant_id,
                                                     "live_seq": live_seq})
            removed = cursor.fetchone()
            return IndexOutcome(IndexAction.REMOVED if removed else IndexAction.UNCHANGED, None)
        _id, _tenant, kind, live_seq, version_id, number, title, body = row
        cursor.execute(queries.UPSERT_DOCUMENT, {
            "content_id": content_id, "tenant_id": tenant_id, "kind": kind, "version_id": version_id,
            "version_number": number, "live_seq": live_seq, "title": title, "body_text": plain_text(body)})
        written = cursor.fetchone()
    return IndexOutcome(IndexAction.INDEXED if written else IndexAction.UNCHANGED, version_id)
