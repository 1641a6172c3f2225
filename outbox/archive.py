"""Audited archival of old outbox history: export, detach, keep; never silently delete.

A month of history leaves the live table as a whole partition: its rows are exported to a
gzipped JSON-lines file (with a SHA-256 digest), then the partition is detached from
outbox_history and moved to the `outbox_archive` schema, where it stays queryable. Every
run is recorded as an ArchiveRun (who, which partition, rows, file, digest). Dropping an
archived table is a deliberate act left to a human, outside this code.
"""

from __future__ import annotations

import gzip
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from django.db import connection, transaction
from django.utils import timezone

from outbox import queries
from outbox.models import ArchiveRun

_PARTITION = re.compile(r"^outbox_history_y(\d{4})m(\d{2})$")


@dataclass(frozen=True)
class Partition:
    name: str
    start: date
    end: date

    @property
    def range_start(self) -> datetime:
        return datetime(self.start.year, self.start.month, 1, tzinfo=UTC)

    @property
    def range_end(self) -> datetime:
        return datetime(self.end.year, self.end.month, 1, tzinfo=UTC)


def history_partitions() -> list[Partition]:
    """The monthly partitions attached to outbox_history, oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(queries.HISTORY_PARTITIONS)
        names = [row[0] for row in cursor.fetchall()]
    partitions = []
    for name in names:
        match = _PARTITION.match(name)
        if match:
            year, month = int(match.group(1)), int(match.group(2))
            end = date(year + month // 12, month % 12 + 1, 1)
            partitions.append(Partition(name, date(year, month, 1), end))
    return sorted(partitions, key=lambda p: p.start)


def archivable(before: date) -> list[Partition]:
    """Partitions whose whole month ends on or before `before`."""
    return [p for p in history_partitions() if p.end <= before]


def count_rows(partition: Partition) -> int:
    with connection.cursor() as cursor:
        cursor.execute(queries.count_partition(partition.name))
        return int(cursor.fetchone()[0])


def export(partition: Partition, directory: Path) -> tuple[Path, int, str]:
    """Stream the partition's rows, oldest first, to <directory>/<name>.jsonl.gz.

    Returns (path, rows, sha256 of the file). Streams through COPY: memory stays flat.
    """
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{partition.name}.jsonl.gz"
    rows = 0
    query = queries.export_partition(partition.name)
    connection.ensure_connection()
    with gzip.open(path, "wb") as out, connection.connection.cursor() as cursor, cursor.copy(query) as copy:
        for line in copy.rows():
            # COPY text format escapes backslashes; a JSON line has no tabs or newlines to escape.
            out.write(line[0].encode() + b"\n")
            rows += 1
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return path, rows, digest


@transaction.atomic(durable=True)
def detach(partition: Partition) -> str:
    """Detach the partition and keep it, read-only by convention, in the outbox_archive schema."""
    with connection.cursor() as cursor:
        cursor.execute(queries.ARCHIVE_SCHEMA)
        cursor.execute(queries.detach_partition(partition.name))
        cursor.execute(queries.move_to_archive(partition.name))
    return f"outbox_archive.{partition.name}"


def archive_partition(partition: Partition, directory: Path, actor: str) -> ArchiveRun:
    """Export, verify and detach one partition, recording the run whatever happens."""
    run = ArchiveRun.objects.create(partition=partition.name, range_start=partition.range_start,
                                    range_end=partition.range_end, actor=actor)
    try:
        expected = count_rows(partition)
        path, rows, digest = export(partition, directory)
        if rows != expected:
            raise RuntimeError(f"exported {rows} rows but the partition holds {expected}; nothing detached")
        run.archived_table = detach(partition)
        run.rows, run.export_path, run.sha256, run.status = rows, str(path), digest, "done"
    except Exception as exc:  # the failure is the run's outcome, recorded for ops
        run.status, run.error = "failed", f"{type(exc).__name__}: {exc}"
    run.finished_at = timezone.now()
    run.save()
    return run


def archive_expired(directory: Path, keep_months: int, actor: str = "beat") -> list[ArchiveRun]:
    """Archive every month that ended more than `keep_months` ago (the hourly retention run)."""
    today = timezone.now().date()
    months = today.year * 12 + today.month - 1 - keep_months
    before = date(months // 12, months % 12 + 1, 1)
    directory.mkdir(parents=True, exist_ok=True)
    return [archive_partition(partition, directory, actor) for partition in archivable(before)]
