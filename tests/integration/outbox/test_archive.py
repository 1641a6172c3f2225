"""Archival moves whole old months out of the live history, audited, and deletes nothing."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from outbox.archive import archivable, history_partitions
from outbox.models import ArchiveRun, OutboxEvent


@pytest.fixture
def old_month(outbox_db: None) -> Iterator[str]:
    """Fourteen months ago, with three completed events in it."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT outbox_ensure_partitions(14, 0)")
        cursor.execute("SELECT date_trunc('month', now() - interval '14 months')")
        month = cursor.fetchone()[0]
        cursor.execute("""
            INSERT INTO outbox_history (tenant_id, event_type, aggregate_type, aggregate_id, payload, channel,
                                        status, attempts, relayed_at, completed_at, created_at)
            SELECT 1, 'visit.updated', 'visit', g::text, jsonb_build_object('visit_id', g), 'tenant:1:events',
                   'completed', 1, %s, %s, %s + g * interval '1 hour'
            FROM generate_series(1, 3) g""", [month, month, month])
    name = f"outbox_history_y{month:%Y}m{month:%m}"
    yield name
    with connection.cursor() as cursor:  # outbox_db truncates what is still attached
        cursor.execute("DROP SCHEMA IF EXISTS outbox_archive CASCADE")


def test_an_old_month_is_exported_detached_kept_and_recorded(old_month: str, tmp_path: Path) -> None:
    cutoff = date.today().replace(day=1)
    assert old_month in [p.name for p in archivable(cutoff)]
    assert OutboxEvent.objects.filter(event_type="visit.updated").count() == 3

    call_command("outbox_archive", before=cutoff, export_dir=tmp_path, actor="oscar")

    run = ArchiveRun.objects.get(partition=old_month)
    assert (run.status, run.rows, run.actor) == ("done", 3, "oscar")
    exported = Path(run.export_path)
    assert hashlib.sha256(exported.read_bytes()).hexdigest() == run.sha256
    with gzip.open(exported) as export:
        lines = [json.loads(line) for line in export.read().splitlines()]
    assert [line["aggregate_id"] for line in lines] == ["1", "2", "3"]
    assert lines[0]["payload"] == {"visit_id": 1}
    # Gone from the live history and from what auditors read...
    assert old_month not in [p.name for p in history_partitions()]
    assert OutboxEvent.objects.filter(event_type="visit.updated").count() == 0
    # ...but kept, whole, in the archive schema.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM outbox_archive.{old_month}")
        assert cursor.fetchone()[0] == 3


def test_a_dry_run_archives_nothing(old_month: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("outbox_archive", before=date.today().replace(day=1), export_dir=tmp_path, dry_run=True)
    assert f"would archive {old_month}: 3 rows" in capsys.readouterr().out
    assert not ArchiveRun.objects.exists()
    assert OutboxEvent.objects.filter(event_type="visit.updated").count() == 3


def test_the_current_month_is_never_archivable(outbox_db: None) -> None:
    current = date.today().replace(day=1)
    assert all(p.start < current for p in archivable(current))


def test_the_hourly_retention_run_archives_expired_months_when_a_directory_is_set(
        old_month: str, tmp_path: Path, settings: Any) -> None:
    from outbox.tasks import enforce_retention

    enforce_retention()  # no directory: archival is left to the command
    assert old_month in [p.name for p in history_partitions()]

    settings.OUTBOX_ARCHIVE_DIR = str(tmp_path / "archive")
    settings.OUTBOX_HISTORY_KEEP_MONTHS = 15
    enforce_retention()
    assert old_month in [p.name for p in history_partitions()]  # fourteen months: still kept

    settings.OUTBOX_HISTORY_KEEP_MONTHS = 13
    enforce_retention()
    run = ArchiveRun.objects.get(partition=old_month)
    assert (run.status, run.rows, run.actor) == ("done", 3, "beat")
    assert Path(run.export_path).parent == tmp_path / "archive"
    assert old_month not in [p.name for p in history_partitions()]
