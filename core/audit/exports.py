"""Exports of the outbox history made in the background (adr/0021).

A filtered history small enough is streamed by the API in the request (`/api/audit/export.csv`).
A large one (a year of a large agency is tens of millions of events) is better made as a file
by a worker, with its progress on the page and a download link at the end:

    request_export       (request side)    a queued HistoryExport and its event, one transaction
    RunExport            (audit.run_export, batch queue; OutboxTask.run_job)
        claim   (own transaction)   queued -> running for this delivery
        work    (no transaction)    the export's chunks into a temporary file, progress noted
                                    as it goes, then the file into the default storage
        record  (task's effects())  running -> done, with its size and expiry
    expire_exports       (beat, hourly)    files past AUDIT_EXPORT_KEEP_DAYS deleted (expired);
                                           runs lost with their worker failed

A worker killed mid-export leaves the export running under its claim: the outbox delivers the
event again after the task's time limit, and that delivery starts the file again from the
beginning (the file's name is the export's, so a second delivery replaces, never adds, a file).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from core.accounts.models import Tenant, User
from core.audit import queries
from core.audit.models import HistoryExport
from core.audit.presenters import EXPORT_LINES, history_text
from core.platform.channels import tenant_channel
from core.platform.errors import Conflict, Invalid, NotFound, Unprocessable
from core.platform.storage import save_replacing
from outbox import jobs
from outbox.emit import emit
from outbox.selectors import HistoryFilter, PayloadMatch, export, history_count

EXPORT_TASK = "audit.run_export"
EXPORT_TIME_LIMIT_S = 600  # at the bench's export rate, well above AUDIT_EXPORT_MAX_ROWS
ABANDONED_EXPORT_S = EXPORT_TIME_LIMIT_S + 60
PROGRESS_EVERY_S = 1.0
LOST = "the worker running this export stopped before it finished, and no delivery resumed it"

Status = HistoryExport.Status


# --- the request -----------------------------------------------------------------------------------


def _stored(value: Any) -> Any:
    """A filter's value as JSON: a time in ISO 8601, a payload match as written (canonical: its
    PayloadMatch.parse gives the same match back), the rest as they are."""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value) if isinstance(value, PayloadMatch) else value


def _filters_json(filters: HistoryFilter) -> dict[str, Any]:
    return {name: _stored(value) for name, value in filters.__dict__.items() if value is not None}


def filters_of(export: HistoryExport) -> HistoryFilter:
    """The history filter an export was asked with."""
    stored = dict(export.filters)
    for name in ("since", "until"):
        if stored.get(name):
            stored[name] = datetime.fromisoformat(stored[name])
    if stored.get("payload"):
        stored["payload"] = PayloadMatch.parse(stored["payload"])
    return HistoryFilter(**stored)


@transaction.atomic(durable=True)
def request_export(user: User, filters: HistoryFilter, fmt: str) -> HistoryExport:
    """Queue an export of the agency's history matching `filters` as `fmt` (csv or jsonl).
    Invalid naming `format`; Unprocessable beyond AUDIT_EXPORT_MAX_ROWS (estimated); Conflict
    while the agency has AUDIT_EXPORTS_AT_ONCE unfinished."""
    if fmt not in HistoryExport.Format.values:
        raise Invalid(f"{fmt!r} is not an export format (csv or jsonl)", field="format")
    if user.tenant_id is None:
        raise NotFound("platform staff have no agency history to export")
    Tenant.objects.select_for_update().get(id=user.tenant_id)  # one request at a time per agency
    unfinished = HistoryExport.objects.filter(tenant_id=user.tenant_id,
                                              status__in=[Status.QUEUED, Status.RUNNING]).count()
    if unfinished >= settings.AUDIT_EXPORTS_AT_ONCE:
        raise Conflict(f"your agency has {unfinished} exports still being made; wait for one to finish")
    estimate = history_count(user.tenant_id, filters).events
    if estimate > settings.AUDIT_EXPORT_MAX_ROWS:
        raise Unprocessable(f"about {estimate:,} events match, more than one export holds "
                            f"({settings.AUDIT_EXPORT_MAX_ROWS:,}): narrow the time window", field="until")
    made = HistoryExport.objects.create(tenant_id=user.tenant_id, requested_by=user, filters=_filters_json(filters),
                                        format=fmt, rows_estimate=estimate)
    emit("audit.export_requested", aggregate_type="history_export", aggregate_id=made.id, task=EXPORT_TASK,
         tenant_id=made.tenant_id, actor_id=user.id,
         payload={"export_id": made.id, "format": fmt, "filters": made.filters})
    return made


# --- the job (audit.run_export) -------------------------------------------------------------------


@dataclass(frozen=True)
class Made:
    rows: int
    size_bytes: int
    file_name: str


def _storage_name(made: HistoryExport) -> str:
    return f"audit-exports/{made.tenant_id}/outbox-history-{made.id}.{made.format}"


@dataclass
class _Progress:
    """The rows an export has written so far, noted on it about once a second (its own
    statement, outside any transaction: progress, not a change of state)."""

    made: HistoryExport
    done: int = 0

    def counted(self, chunks: Iterator[list[str]]) -> Iterator[list[str]]:
        noted = time.monotonic()
        for chunk in chunks:
            self.done += len(chunk)
            yield chunk
            if time.monotonic() - noted >= PROGRESS_EVERY_S:
                self._note()
                noted = time.monotonic()
        self._note()

    def _note(self) -> None:
        HistoryExport.objects.filter(id=self.made.id, claimed_event=self.made.claimed_event).update(
            rows_done=self.done)


def write_export(made: HistoryExport) -> Made:
    """The export's file: every matching event in commit-safe order (outbox.selectors.export)
    into a temporary file, then into the default storage under the export's own name."""
    progress = _Progress(made)
    chunks = progress.counted(export(made.tenant_id, filters_of(made), EXPORT_LINES[made.format]))
    with tempfile.TemporaryFile() as scratch:
        for piece in history_text(chunks, made.format):
            scratch.write(piece.encode())
        size = scratch.tell()
        scratch.seek(0)
        name = _storage_name(made)
        stored = save_replacing(name, File(scratch, name=name))
    return Made(progress.done, size, stored)


def _announce(event_type: str, made: HistoryExport, **payload: Any) -> None:
    emit(event_type, aggregate_type="history_export", aggregate_id=made.id, tenant_id=made.tenant_id,
         channel=tenant_channel(made.tenant_id), payload={"export_id": made.id, **payload})


@dataclass(frozen=True)
class RunExport:
    export_id: int
    tenant_id: int

    def claim(self, event_id: str | None) -> HistoryExport | None:
        if jobs.claim(queries.HISTORY_EXPORTS, self.export_id, self.tenant_id, event_id, ABANDONED_EXPORT_S) is None:
            return None
        return HistoryExport.objects.get(id=self.export_id)

    def work(self, made: HistoryExport) -> Made:
        return write_export(made)

    def record(self, made: HistoryExport, result: Made) -> str:
        now = timezone.now()
        recorded = HistoryExport.objects.filter(id=made.id, status=Status.RUNNING, claimed_event=made.claimed_event)
        if not recorded.update(status=Status.DONE, rows_done=result.rows, size_bytes=result.size_bytes,
                               file_name=result.file_name, finished_at=now, claimed_event=None,
                               expires_at=now + timedelta(days=settings.AUDIT_EXPORT_KEEP_DAYS)):
            return "skipped"  # failed meanwhile as lost: its file goes with the next expiry run
        _announce("audit.export_finished", made, rows=result.rows, size_bytes=result.size_bytes)
        return "done"

    @transaction.atomic(durable=True)
    def failed(self, made: HistoryExport, error: BaseException, final: bool) -> None:
        """A final failure ends the export as failed with the reason; otherwise it stays running
        under its claim, and the retry starts the file again."""
        if final and HistoryExport.objects.filter(id=made.id, status=Status.RUNNING).update(
                status=Status.FAILED, finished_at=timezone.now(), claimed_event=None,
                error=f"{type(error).__name__}: {error}"[:2000]):
            _announce("audit.export_failed", made, error=type(error).__name__)


# --- expiry and lost runs (beat: audit.expire_exports) ---------------------------------------------


def expire_exports(now: datetime | None = None, batch: int = 200) -> dict[str, int]:
    """Delete the files of exports past their expiry (each then `expired`, with its event), and
    fail the runs lost with their worker (past their deadline). Returns the counts."""
    now = now or timezone.now()
    with transaction.atomic(durable=True), connection.cursor() as cursor:
        cursor.execute(queries.HISTORY_EXPORTS.abandon_statement(), {"error": LOST})
        failed = list(HistoryExport.objects.filter(id__in=[row[0] for row in cursor.fetchall()]))
        for made in failed:
            _announce("audit.export_failed", made, error="lost")
    expired = 0
    for made in HistoryExport.objects.filter(status=Status.DONE, expires_at__lt=now).order_by("expires_at")[:batch]:
        if made.file_name:
            default_storage.delete(made.file_name)
        with transaction.atomic(durable=True):
            if HistoryExport.objects.filter(id=made.id, status=Status.DONE).update(status=Status.EXPIRED,
                                                                                   file_name=""):
                _announce("audit.export_expired", made)
                expired += 1
    return {"expired": expired, "lost": len(failed)}


# --- reads --------------------------------------------------------------------------------------------


def exports_of(tenant_id: int) -> QuerySet[HistoryExport]:
    """The agency's exports, newest first."""
    return HistoryExport.objects.filter(tenant_id=tenant_id).select_related("requested_by")


def export_of(tenant_id: int, export_id: int) -> HistoryExport:
    """One of the agency's exports; NotFound for another agency's or none."""
    made = exports_of(tenant_id).filter(id=export_id).first()
    if made is None:
        raise NotFound(f"export {export_id} not found")
    return made


def file_of(tenant_id: int, export_id: int) -> tuple[HistoryExport, File]:
    """A finished export and its open file; NotFound if it is another agency's, not finished,
    or expired."""
    made = export_of(tenant_id, export_id)
    if made.status != Status.DONE or not made.file_name:
        raise NotFound(f"export {export_id} has no file ({made.status})")
    try:
        return made, default_storage.open(made.file_name, "rb")
    except FileNotFoundError:  # expiring at this moment (its file goes first, then its row)
        raise NotFound(f"export {export_id} has no file (expired)") from None
