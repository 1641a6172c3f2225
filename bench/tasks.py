"""Tasks the relay benchmark's workers run (bench/relay_e2e.py). Defined in the benchmark's own
app, so a worker of this project can run them; nothing in the product sends them."""

from __future__ import annotations

from django.db import connection, transaction

from bench import queries
from core.platform.tasks import ferry_task
from outbox.consumers import OutboxTask


@ferry_task(name="bench.noop", queue="default", soft_time_limit=30, time_limit=60, base=OutboxTask, bind=True)
def noop(self: OutboxTask, tenant_id: int | None, seq: int) -> None:
    """A consumer with no effect of its own: its inbox row and the event's completion."""
    with self.effects():
        pass


@ferry_task(name="bench.ordered", queue="default", soft_time_limit=30, time_limit=60, base=OutboxTask, bind=True)
def ordered(self: OutboxTask, tenant_id: int | None, key: int, seq: int) -> None:
    """Records that event `seq` of key `key` took effect (the order of the rows is the order of effect)."""
    with self.effects(), connection.cursor() as cursor:
        cursor.execute(queries.RECORD_ORDERED, {"key": key, "seq": seq})


@ferry_task(name="bench.plain", queue="default", soft_time_limit=30, time_limit=60)
def plain(seq: int, tenant_id: int | None = None) -> None:
    """Plain Celery's consumer (sent with delay() on commit): records its effect."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(queries.RECORD_PLAIN, {"seq": seq})
