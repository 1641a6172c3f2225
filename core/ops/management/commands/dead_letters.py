from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.ops.management.commands.heal import resolve_tenant
from core.ops.models import BulkAction
from core.ops.services import execute_bulk_action, finish_bulk_action, start_command_bulk_action
from core.platform.errors import DomainError
from outbox.selectors import DeadLetterFilter, count_dead_letters


def instant(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date and time in ISO 8601 (like 2026-03-10T09:00:00Z)") from None
    if value.tzinfo is None:
        raise CommandError(f"{text!r}: give the UTC offset (like 2026-03-10T09:00:00Z)")
    return value


class Command(BaseCommand):
    help = ("Count, redrive or discard open dead letters by filter, in this process (for platform staff: every "
            "tenant, or one with --tenant). Recorded in the operators' action log like an operator's bulk action.")

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["count", *BulkAction.Kind.values])
        parser.add_argument("--tenant", help="only this tenant (slug or id); default: every tenant")
        parser.add_argument("--type", dest="event_type", help="event type")
        parser.add_argument("--task", dest="task_name", help="task name")
        parser.add_argument("--fingerprint", help="a cause (the fingerprint of a group on the Ops page)")
        parser.add_argument("--since", type=instant, help="died at or after (ISO 8601 with offset)")
        parser.add_argument("--until", type=instant, help="died before (ISO 8601 with offset)")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = resolve_tenant(options["tenant"])
        chosen = DeadLetterFilter(tenant.id if tenant else None, event_type=options["event_type"],
                                  task_name=options["task_name"], fingerprint=options["fingerprint"],
                                  since=options["since"], until=options["until"])
        if options["action"] == "count":
            self.stdout.write(f"{count_dead_letters(chosen)} open dead letters match")
            return
        try:
            job = start_command_bulk_action(options["action"], chosen)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"bulk action #{job.id}: {job.action} of {job.matched} dead letters")
        job = finish_bulk_action(job.id, execute_bulk_action(job))
        self.stdout.write(f"bulk action #{job.id} {job.status}: {job.acted} of {job.matched} "
                          f"{'discarded' if job.action == 'discard' else 'pending again'}"
                          + (f"; {job.error}" if job.error else ""))
        if job.status == BulkAction.Status.FAILED:
            raise CommandError(job.error or "failed")
