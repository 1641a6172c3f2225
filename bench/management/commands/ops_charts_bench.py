from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench import ops_charts as bench


class Command(BaseCommand):
    help = (f"Benchmark the Ops page's charts in a database of its own ({bench.BENCH_DB}, dropped afterwards): "
            "N days of per-minute figures for M agencies, then the chart panel of each range through the page, "
            "and the 7-day chart from hours beside the same chart from minutes (the baseline).")

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = bench.BenchOptions()
        parser.add_argument("--agencies", type=int, default=defaults.agencies)
        parser.add_argument("--days", type=int, default=defaults.days)
        parser.add_argument("--series", type=int, default=defaults.series,
                            help=f"series (event type, task, queue) per agency and minute, 1 to {len(bench.SERIES)}")
        parser.add_argument("--calls", type=int, default=defaults.calls, help="requests timed per range")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--keep", action="store_true", help=f"keep {bench.BENCH_DB} afterwards")
        parser.add_argument("--inside", action="store_true", help="(internal) run inside the bench database")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["agencies"] < 1 or not 1 <= options["days"] <= 30 or options["calls"] < 2:
            raise CommandError("--agencies must be at least 1, --days between 1 and 30, --calls at least 2")
        if not 1 <= options["series"] <= len(bench.SERIES):
            raise CommandError(f"--series must be between 1 and {len(bench.SERIES)}")
        settings = bench.BenchOptions(agencies=options["agencies"], days=options["days"], series=options["series"],
                                      calls=options["calls"])

        def progress(line: str) -> None:  # stderr: with --json, stdout holds the JSON alone
            print(line, file=sys.stderr, flush=True)

        if options["inside"]:
            if not bench.run_inside(settings, options["json"], self.stdout.write, progress):
                raise CommandError("the 7-day chart missed its target")
            return
        bench.run_isolated(settings, options["keep"], options["json"], progress)
