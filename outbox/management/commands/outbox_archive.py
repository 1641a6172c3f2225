from __future__ import annotations

import getpass
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from outbox.archive import archivable, archive_partition, count_rows


class Command(BaseCommand):
    help = ("Archive whole months of outbox history ending on or before --before: export to "
            "gzipped JSON lines with a SHA-256, detach, keep in schema outbox_archive. Audited.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--before", required=True, type=date.fromisoformat, help="YYYY-MM-DD")
        parser.add_argument("--export-dir", type=Path, default=Path("archive"))
        parser.add_argument("--actor", default=None, help="who runs it (default: the OS user)")
        parser.add_argument("--dry-run", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        partitions = archivable(options["before"])
        if not partitions:
            self.stdout.write("nothing to archive")
            return
        actor = options["actor"] or getpass.getuser()
        for partition in partitions:
            if options["dry_run"]:
                self.stdout.write(f"would archive {partition.name}: {count_rows(partition)} rows")
                continue
            run = archive_partition(partition, options["export_dir"], actor)
            if run.status != "done":
                raise CommandError(f"{partition.name}: {run.error} (run #{run.id})")
            self.stdout.write(f"archived {partition.name}: {run.rows} rows -> {run.export_path} "
                              f"sha256 {run.sha256}; table kept as {run.archived_table} (run #{run.id})")
