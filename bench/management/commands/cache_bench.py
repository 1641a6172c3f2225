from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench import learning_cache as bench


class Command(BaseCommand):
    help = (f"Benchmark the published-document cache in a database of its own ({bench.BENCH_DB}, dropped "
            "afterwards): a problem page with a warm cache, a cold cache and no cache, in the same run.")

    def add_arguments(self, parser: CommandParser) -> None:
        defaults = bench.BenchOptions()
        parser.add_argument("--requests", type=int, default=defaults.requests, help="requests of each kind")
        parser.add_argument("--body-kb", type=int, default=defaults.body_kb, help="size of the problem statement")
        parser.add_argument("--keep", action="store_true", help=f"keep {bench.BENCH_DB} afterwards")
        parser.add_argument("--inside", action="store_true", help="(internal) run inside the bench database")

    def handle(self, *args: Any, **options: Any) -> None:
        if min(options["requests"], options["body_kb"]) < 1:
            raise CommandError("--requests and --body-kb must be at least 1")
        settings = bench.BenchOptions(requests=options["requests"], body_kb=options["body_kb"])
        if options["inside"]:
            bench.run_inside(settings, self.stdout.write)
            return
        bench.run_isolated(settings, options["keep"], self.stdout.write)
