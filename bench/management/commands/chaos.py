from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from bench.chaos.run import full, quick, run


class Command(BaseCommand):
    help = ("Start the whole topology on private servers, drive a mixed load through the API while "
            "injecting faults (relay and worker kills, Redis flush and restart, PostgreSQL restart, a "
            "paused worker), let the heals run, and report what was lost. Exits non-zero on any loss.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--minutes", type=float, default=3.0, help="minutes of load (default 3)")
        parser.add_argument("--quick", action="store_true", help="under a minute of load, each fault once")
        parser.add_argument("--seed", type=int, default=1, help="seeds the load and the fault schedule")

    def handle(self, *args: Any, **options: Any) -> None:
        config = quick(options["seed"]) if options["quick"] else full(options["minutes"], options["seed"])
        lost, _duplicates, _repairs = run(config, lambda line: self.stdout.write(line))
        if lost:
            raise CommandError(f"{lost} loss(es): see the report above")
