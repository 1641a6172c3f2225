"""Reading the outbox "after cursor X" without skipping rows that commit late.

Ids come from a sequence when a row is inserted, not when it commits: a transaction that
took id 104 may commit after the one that took 105. A reader that remembers "I have seen
up to 105" would then skip 104 forever. Instead, each row carries the id of the
transaction that wrote it (txid), and readers:

- order rows by (txid, id), and
- return only rows whose transaction is older than the reading snapshot's horizon: the
  oldest transaction of this database it sees running (its xmin, less other databases'
  transactions, which cannot write the outbox). Every transaction below it has finished, so
  no row can later appear below it.

A cursor is therefore the pair (txid, id) of the last row returned. Rows of transactions
still running (or committed but above an older running transaction) are returned by a
later read, in order. The cost is latency, not loss: a long-running writing transaction
holds back what readers see until it ends.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import F, Q
from django.db.models.expressions import RawSQL

from core.platform.db import fetch_as
from outbox import queries
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

# As of the statement's own snapshot (the same snapshot that reads the rows), every transaction
# of this database below it has finished (queries.HORIZON).
_HORIZON = RawSQL(queries.HORIZON, ())  # noqa: S611 - a constant of the repository, no input


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


# --- channels: what live streams read (ADR 0009) --------------------------------------------

# The largest outbox id: (txid, MAX_ID) sorts after every event of transaction txid.
MAX_ID = 2**63 - 1


@dataclass(frozen=True)
class ChannelEvent:
    """An event published on a pub/sub channel, as queries.READ_CHANNELS_AFTER reads it."""

    id: int
    txid: int
    event_id: str
    tenant_id: int | None
    event_type: str
    aggregate_type: str
    aggregate_id: str
    payload: Any
    channel: str
    created_at: datetime

    @property
    def cursor(self) -> Cursor:
        return Cursor(self.txid, self.id)


def read_channels_after(after: Cursor, channels: Sequence[str], limit: int) -> list[ChannelEvent]:
    """Events of `channels` after `after`, in commit-safe order, at most `limit`.

    Horizon as queries.READ_CHANNELS_AFTER explains (transactions of other databases on the
    server do not hold it back). The payload is decoded here: Django's connections hand
    jsonb over as text.
    """
    events = fetch_as(ChannelEvent, queries.READ_CHANNELS_AFTER, {
        "channels": list(channels), "txid": after.txid, "id": after.id, "limit": limit})
    return [_decoded(event) for event in events]


def _decoded(event: ChannelEvent) -> ChannelEvent:
    payload = json.loads(event.payload) if isinstance(event.payload, str) else event.payload
    return ChannelEvent(**{**event.__dict__, "payload": payload})


def current_position() -> Cursor:
    """The current position: every event after this cursor is still to be seen, none before.

    A page reads it before the data it renders and hands it to its stream as last_event_id:
    whatever commits after the page's read then reaches the page (perhaps also already in it).
    """
    with connection.cursor() as cursor:
        cursor.execute(queries.CURRENT_POSITION)
        (txid,) = cursor.fetchone()
    return Cursor(int(txid), MAX_ID)
