from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench.chaos.run import full, quick, run


class Command(BaseCommand):
    help = ("Start the whole topology as hosts in network namespaces on private servers, drive a mixed "
            "load through the API while injecting faults (kills of relays, workers, Redis and PostgreSQL, "
            "paused workers and a flushed broker, a frozen relay, network partitions), let the system "
            "settle by its own schedules, and report what was lost, done twice or done by hand. Exits "
            "non-zero unless lost=0 duplicate_effects=0 forced=0.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--minutes", type=float, default=3.0, help="minutes of load (default 3)")
        parser.add_argument("--quick", action="store_true",
                            help="a minute of load, six fault kinds once (a partition and a flush among them)")
        parser.add_argument("--seed", type=int, default=1, help="seeds the load and the fault schedule")
        parser.add_argument("--keep-logs", type=Path, default=None,
                            help="copy every process's and server's log here (always kept after a failed run)")

    def handle(self, *args: Any, **options: Any) -> None:
        config = quick(options["seed"]) if options["quick"] else full(options["minutes"], options["seed"])
        lost, duplicates, forced = run(config, lambda line: self.stdout.write(line), options["keep_logs"])
        if lost or duplicates or forced:
            raise CommandError(f"lost={lost} duplicate_effects={duplicates} forced={forced}: see the report above")
