"""The read audit's one write function: record that someone was shown patient data.

Called by every page and API operation that shows visits (core/dispatch/views.py, api.py),
after it has read them and before it answers. It is one INSERT on the request's connection,
in autocommit: a read opens no transaction, and opening one only for the record would cost
a BEGIN and a COMMIT on top of the INSERT (adr/0017-read-audit.md has the measured cost).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from core.platform.db import run_prepared
from core.platform.middleware import client_address
from core.privacy import queries
from core.privacy.models import ReadKind


@dataclass(frozen=True)
class Reader:
    """Who reads, from where, in which request."""

    tenant_id: int
    user_id: int
    request_id: str
    address: str


def reader_of(request: HttpRequest) -> Reader:
    """The signed-in user of a page or API call admitted by a role check (so of a tenant)."""
    user: Any = request.user
    assert user.tenant_id is not None, "patient data is read only by users of a tenant"
    return Reader(tenant_id=user.tenant_id, user_id=user.pk, request_id=getattr(request, "request_id", ""),
                  address=client_address(request)[:64])


def record_read(reader: Reader, kind: ReadKind, subject: str, visit_ids: Iterable[int]) -> int:
    """Record that `reader` was shown the visits `visit_ids` through `kind` (about `subject`:
    a date, a visit's or a plan's id); the record's id. One row per call, except the live
    board's re-fetches, which fold into the row of their window (READ_AUDIT_COLLAPSE_S)."""
    params = {"tenant_id": reader.tenant_id, "user_id": reader.user_id, "kind": kind.value,
              "subject": subject, "visit_ids": array_literal(visit_ids), "request_id": reader.request_id,
              "address": reader.address}
    if kind is ReadKind.DAY_BOARD:
        row = run_prepared(queries.RECORD_REFETCH, {**params, "window_s": settings.READ_AUDIT_COLLAPSE_S})
    else:
        row = run_prepared(queries.RECORD_READ, params)
    assert row is not None
    return int(row[0])


def array_literal(ids: Iterable[int]) -> str:
    """The ids, sorted and each once, as one PostgreSQL array literal ("{3,5,8}"): psycopg dumps
    a list element by element, which cost 0.4 µs a visit, more than the server's whole insert
    of a 60-visit record."""
    return "{" + ",".join(map(str, sorted(set(map(int, ids))))) + "}"
