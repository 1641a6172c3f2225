"""Reading the outbox "after cursor X" without skipping rows that commit late.

Ids come from a sequence when a row is inserted, not when it commits: a transaction that
took id 104 may commit after the one that took 105. A reader that remembers "I have seen
up to 105" would then skip 104 forever. Instead, each row carries the id of the
transaction that wrote it (txid), and readers:

- order rows by (txid, id), and
- return only rows whose transaction is older than the xmin of the reading snapshot:
  every transaction below xmin has finished, so no row can later appear below it.

A cursor is therefore the pair (txid, id) of the last row returned. Rows of transactions
still running (or committed but above an older running transaction) are returned by a
later read, in order. The cost is latency, not loss: a long-running writing transaction
holds back what readers see until it ends.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection
from psycopg import sql

from outbox.models import OutboxEvent


class InvalidCursor(ValueError):
    pass


_CURSOR = re.compile(r"^(\d{1,19})-(\d{1,19})$")


@dataclass(frozen=True, order=True)
class Cursor:
    """A position in commit-safe outbox order; its text form is "<txid>-<id>"."""

    txid: int
    id: int

    def __str__(self) -> str:
        return f"{self.txid}-{self.id}"

    @classmethod
    def parse(cls, text: str) -> Cursor:
        match = _CURSOR.match(text.strip())
        if not match:
            raise InvalidCursor(f"{text!r} is not an outbox cursor (expected <txid>-<id>)")
        return cls(int(match.group(1)), int(match.group(2)))


START = Cursor(0, 0)

_COLUMNS: list[sql.Composable] = [sql.Identifier(str(f.column)) for f in OutboxEvent._meta.concrete_fields]

# The safe horizon: xmin of the statement's own snapshot, the same snapshot that reads the rows.
_READ_AFTER = sql.SQL("""
SELECT {columns} FROM outbox_event
WHERE (txid, id) > (%(txid)s, %(id)s)
  AND txid < pg_snapshot_xmin(pg_current_snapshot())::text::bigint
  AND {filters}
ORDER BY txid, id
LIMIT %(limit)s
""")


def read_after(
    cursor: Cursor,
    *,
    channels: Sequence[str] | None = None,
    tenant_id: int | None = None,
    limit: int = 500,
) -> list[OutboxEvent]:
    """Events after `cursor` in commit-safe order, optionally only on `channels` and/or of
    `tenant_id`. The last event's (txid, id) is the cursor for the next call."""
    filters: list[sql.Composable] = [sql.SQL("true")]
    params: dict[str, Any] = {"txid": cursor.txid, "id": cursor.id, "limit": limit}
    if channels is not None:
        filters.append(sql.SQL("channel = ANY(%(channels)s)"))
        params["channels"] = list(channels)
    if tenant_id is not None:
        filters.append(sql.SQL("tenant_id = %(tenant_id)s"))
        params["tenant_id"] = tenant_id
    query = _READ_AFTER.format(
        columns=sql.Composed(_COLUMNS).join(", "),
        filters=sql.SQL(" AND ").join(filters),
    )
    connection.ensure_connection()
    return list(OutboxEvent.objects.raw(query.as_string(connection.connection), params))


def cursor_of(event: OutboxEvent) -> Cursor:
    return Cursor(event.txid, event.id)
