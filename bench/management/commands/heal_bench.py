from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench import heal as bench


class Command(BaseCommand):
    help = (f"Benchmark heal_search_index: N published documents with M missing from the index, in a database of "
            f"its own ({bench.BENCH_DB}, dropped afterwards). Prints the examination time and checks that exactly "
            f"M repairs are emitted.")

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = bench.BenchOptions()
        parser.add_argument("--documents", type=int, default=defaults.documents)
        parser.add_argument("--missing", type=int, default=defaults.missing)
        parser.add_argument("--rounds", type=int, default=defaults.rounds, help="examinations to time")
        parser.add_argument("--keep", action="store_true", help=f"keep {bench.BENCH_DB} afterwards")
        parser.add_argument("--inside", action="store_true", help="(internal) run inside the bench database")

    def handle(self, *args: Any, **options: Any) -> None:
        if not 0 < options["missing"] <= options["documents"]:
            raise CommandError("need 0 < --missing <= --documents")
        if options["rounds"] < 1:
            raise CommandError("--rounds must be at least 1")
        settings = bench.BenchOptions(documents=options["documents"], missing=options["missing"],
                                      rounds=options["rounds"])
        if options["inside"]:
            if not bench.run_inside(settings, self.stdout.write):
                raise CommandError("a target was missed")
            return
        bench.run_isolated(settings, options["keep"], self.stdout.write)
