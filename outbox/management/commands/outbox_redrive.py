from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from outbox.delivery import redrive
from outbox.selectors import open_dead_letters


class Command(BaseCommand):
    help = "Send dead-lettered events again (by dead-letter id, or all that were not redriven)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="dead-letter ids")
        parser.add_argument("--all", action="store_true", help="every dead letter not yet redriven")

    def handle(self, *args: Any, **options: Any) -> None:
        ids: list[int] = options["ids"]
        if options["all"]:
            ids = list(open_dead_letters(None).values_list("id", flat=True))
        if not ids:
            raise CommandError("give dead-letter ids, or --all")
        count = redrive(ids, actor_id=None)
        self.stdout.write(f"{count} of {len(ids)} dead events are pending again")
