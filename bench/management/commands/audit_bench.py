from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench import audit as bench


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part.replace("_", "")) for part in text.split(","))
    except ValueError:
        raise CommandError(f"--history: {text!r} is not a number of rows (or numbers, comma-separated)") from None
    if not sizes or min(sizes) < 10_000:
        raise CommandError("--history: each size must be at least 10000 rows")
    return tuple(sorted(sizes))


class Command(BaseCommand):
    help = (f"Benchmark the auditors' history in a database of its own ({bench.BENCH_DB}, dropped afterwards): "
            "a page of 50 per filter for a large and a small agency, a month's export, table and index sizes, "
            "for each history size given.")

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = bench.BenchOptions()
        parser.add_argument("--history", default=",".join(map(str, defaults.sizes)),
                            help="history rows, or several sizes comma-separated (built in turn, shown side "
                                 "by side), e.g. 10000000,100000000")
        parser.add_argument("--calls", type=int, default=defaults.calls, help="requests timed per filter and agency")
        parser.add_argument("--export-days", type=int, default=defaults.export_days,
                            help="days of the large agency exported")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument("--keep", action="store_true", help=f"keep {bench.BENCH_DB} afterwards")
        parser.add_argument("--reuse", action="store_true",
                            help=f"measure again the history a --keep run left in {bench.BENCH_DB} (its largest "
                                 "size), after applying new migrations; nothing is built or dropped")
        parser.add_argument("--inside", action="store_true", help="(internal) run inside the bench database")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["calls"] < 2 or not 1 <= options["export_days"] <= 365:
            raise CommandError("--calls must be at least 2 and --export-days between 1 and 365")
        settings = bench.BenchOptions(sizes=_sizes(options["history"]), calls=options["calls"],
                                      export_days=options["export_days"])

        def progress(line: str) -> None:  # stderr: with --json, stdout holds the JSON alone
            print(line, file=sys.stderr, flush=True)

        if options["inside"]:
            bench.run_inside(settings, options["json"], self.stdout.write, progress, reuse=options["reuse"])
            return
        bench.run_isolated(settings, options["keep"], options["json"], progress, reuse=options["reuse"])
