"""Named reads of the read audit: an auditor's filtered pages, one record, the export.

A tenant's records, newest first, are a range of the (tenant_id, id) index, so a page costs
the same at the top of the history and a year down. Filters narrow that range as it is read:
a visit filter tests each row's visit ids (there is no index of the ids: adr/0017 weighs its
cost on every read against the auditor's occasional search), and a time window adds the BRIN
index on `at`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q, QuerySet

from core.platform.pages import newest_first_page
from core.privacy.models import PatientRead


@dataclass(frozen=True)
class ReadFilter:
    """What an auditor narrows the read audit to; every field is optional."""

    since: datetime | None = None
    until: datetime | None = None
    user_id: int | None = None
    kind: str | None = None
    subject: str | None = None
    visit_id: int | None = None  # the records that showed this visit

    def q(self) -> Q:
        conditions = Q()
        for field, value in (("at__gte", self.since), ("at__lt", self.until), ("user_id", self.user_id),
                             ("kind", self.kind), ("subject", self.subject)):
            if value is not None:
                conditions &= Q(**{field: value})
        if self.visit_id is not None:
            conditions &= Q(visit_ids__contains=[self.visit_id])
        return conditions


def reads(tenant_id: int, filters: ReadFilter) -> QuerySet[PatientRead]:
    """A tenant's read records matching `filters`, newest first (an unevaluated queryset)."""
    return PatientRead.objects.filter(Q(tenant_id=tenant_id) & filters.q()).order_by("-id")


def reads_page(tenant_id: int, filters: ReadFilter, before_id: int | None,
               limit: int) -> tuple[list[PatientRead], int | None]:
    """One page of the read audit, and the `before_id` of the next page (None on the last)."""
    return newest_first_page(reads(tenant_id, filters), before_id, limit)


def read_record(tenant_id: int, read_id: int) -> PatientRead | None:
    """One record of the tenant; None for another tenant's, as for one that does not exist."""
    return PatientRead.objects.filter(tenant_id=tenant_id, id=read_id).first()


def export(tenant_id: int, filters: ReadFilter, chunk: int = 2000) -> Iterator[list[PatientRead]]:
    """The tenant's records matching `filters`, oldest first, in chunks of at most `chunk`
    (one short query each, keyset by id). Every record committed before the export began is
    in it; one committing meanwhile may or may not be, as if the export had begun later."""
    rows = PatientRead.objects.filter(Q(tenant_id=tenant_id) & filters.q()).order_by("id")
    after = 0
    while True:
        batch = list(rows.filter(id__gt=after)[:chunk])
        if batch:
            yield batch
        if len(batch) < chunk:
            return
        after = batch[-1].id
