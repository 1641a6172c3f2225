from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench import export as bench


class Command(BaseCommand):
    help = ("Benchmark an open-content export bundle in a database of its own "
            f"({bench.BENCH_DB}, dropped afterwards): fanned out to a real relay and batch worker, and "
            "made sequentially by one process (the baseline), in the same run.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--items", type=int, default=bench.BenchOptions().items,
                            help="contents in the bundle (at most EXPORT_MAX_ITEMS)")
        parser.add_argument("--keep", action="store_true", help=f"keep {bench.BENCH_DB} afterwards")
        parser.add_argument("--inside", action="store_true", help="(internal) run inside the bench database")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["items"] < 2:
            raise CommandError("--items must be at least 2")
        settings = bench.BenchOptions(items=options["items"])
        if options["inside"]:
            bench.run_inside(settings, self.stdout.write)
            return
        bench.run_isolated(settings, options["keep"], self.stdout.write)
