from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from outbox.tasks import sweep_all


class Command(BaseCommand):
    help = "Redeliver task events relayed longer ago than their deadline and never completed."

    def handle(self, *args: Any, **options: Any) -> None:
        result = sweep_all()
        self.stdout.write(f"requeued {result.requeued}, dead-lettered {result.dead}")
