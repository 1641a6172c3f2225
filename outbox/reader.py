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

from django.db.models import F, Q
from django.db.models.expressions import RawSQL

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

# xmin of the statement's own snapshot (the same snapshot that reads the rows): every
# transaction below it has finished.
_HORIZON = RawSQL("pg_snapshot_xmin(pg_current_snapshot())::text::bigint", ())


def read_after(
    cursor: Cursor,
    *,
    channels: Sequence[str] | None = None,
    tenant_id: int | None = None,
    where: Q | None = None,
    limit: int = 500,
) -> list[OutboxEvent]:
    """Events after `cursor` in commit-safe order, optionally only on `channels`, of
    `tenant_id`, and matching `where`. The last event's (txid, id) is the next cursor."""
    events = OutboxEvent.objects.alias(horizon=_HORIZON).filter(
        Q(txid__gt=cursor.txid) | Q(txid=cursor.txid, id__gt=cursor.id), txid__lt=F("horizon"))
    if channels is not None:
        events = events.filter(channel__in=list(channels))
    if tenant_id is not None:
        events = events.filter(tenant_id=tenant_id)
    if where is not None:
        events = events.filter(where)
    return list(events.order_by("txid", "id")[:limit])


def cursor_of(event: OutboxEvent) -> Cursor:
    return Cursor(event.txid, event.id)
