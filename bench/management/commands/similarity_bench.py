from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench import similarity as bench


class Command(BaseCommand):
    help = ("Benchmark the similarity check: precision and recall on the labelled set, then the time to "
            f"check one submission against N earlier ones, indexed and pairwise, in a database of its own "
            f"({bench.BENCH_DB}, dropped afterwards).")

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = bench.BenchOptions()
        parser.add_argument("--sizes", default=",".join(map(str, defaults.sizes)),
                            help="earlier submissions in the index, comma-separated (default 1000,10000)")
        parser.add_argument("--checks", type=int, default=defaults.checks, help="checks timed at each size")
        parser.add_argument("--keep", action="store_true", help=f"keep {bench.BENCH_DB} afterwards")
        parser.add_argument("--inside", action="store_true", help="(internal) run inside the bench database")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            sizes = tuple(sorted(int(size) for size in options["sizes"].split(",")))
        except ValueError:
            raise CommandError("--sizes must be whole numbers separated by commas, e.g. 1000,10000") from None
        if not sizes or sizes[0] < 1 or options["checks"] < 1:
            raise CommandError("--sizes and --checks must be at least 1")
        settings = bench.BenchOptions(sizes=sizes, checks=options["checks"])
        if options["inside"]:
            bench.run_inside(settings, self.stdout.write)
            return
        bench.run_isolated(settings, options["keep"], self.stdout.write)
