from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.ops.selectors import paused_queues
from core.ops.services import command_actor_label, pause_queue, resume_queue
from core.platform.errors import DomainError
from core.platform.tasks import QUEUES


class Command(BaseCommand):
    help = ("Pause or resume a Celery queue for maintenance (platform staff). Workers stop taking its tasks "
            "within QUEUE_PAUSE_POLL_S; the relay keeps queueing them. Recorded in the operators' action log.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["list", "pause", "resume"])
        parser.add_argument("queue", nargs="?", choices=QUEUES)
        parser.add_argument("--reason", default="", help="why (shown on every agency's Ops page)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            paused = {p.queue: p for p in paused_queues()}
            for queue in QUEUES:
                p = paused.get(queue)
                self.stdout.write(f"{queue}: " + (f"paused since {p.paused_at:%Y-%m-%d %H:%M:%S} by {p.by}"
                                                  + (f" ({p.reason})" if p.reason else "") if p else "consuming"))
            return
        if not options["queue"]:
            raise CommandError(f"name the queue to {options['action']}: one of {', '.join(QUEUES)}")
        try:
            if options["action"] == "pause":
                pause_queue(options["queue"], command_actor_label(), options["reason"])
            else:
                resume_queue(options["queue"], command_actor_label())
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"queue {options['queue']} {options['action']}d; workers follow within seconds")
