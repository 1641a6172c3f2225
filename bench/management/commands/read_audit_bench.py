from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench import read_audit as bench


class Command(BaseCommand):
    help = (f"Benchmark the read audit of patient data in a database of its own ({bench.BENCH_DB}, dropped "
            f"afterwards): what a record costs a patient page, and the search for one visit over a history.")

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = bench.BenchOptions()
        parser.add_argument("--visits", type=int, default=defaults.visits, help="visits of the day")
        parser.add_argument("--history", type=int, default=defaults.history, help="read records in the history")
        parser.add_argument("--calls", type=int, default=defaults.calls, help="records timed per figure")
        parser.add_argument("--keep", action="store_true", help=f"keep {bench.BENCH_DB} afterwards")
        parser.add_argument("--inside", action="store_true", help="(internal) run inside the bench database")

    def handle(self, *args: Any, **options: Any) -> None:
        if min(options["visits"], options["history"], options["calls"]) < 1:
            raise CommandError("--visits, --history and --calls must be at least 1")
        settings = bench.BenchOptions(visits=options["visits"], history=options["history"], calls=options["calls"])
        if options["inside"]:
            bench.run_inside(settings, self.stdout.write)
            return
        bench.run_isolated(settings, options["keep"], self.stdout.write)
