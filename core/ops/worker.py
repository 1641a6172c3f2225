"""Queue pauses, applied by every worker to itself (adr/0022).

Postgres holds which queues are paused (ops_queuepause). Each worker's consumer runs this
step: at start it notes the queues it was started for, then every QUEUE_PAUSE_POLL_S it reads
the paused ones and cancels or adds its own consumers to match. Nothing is broadcast: a worker
started while a queue is paused never consumes from it, one that missed a change catches up
at its next look, and a broker that lost everything loses no pause. A worker only ever
resumes queues it was started for.

The read uses a connection of its own, opened and closed each time: the worker's main process
forks pool children, which must not inherit an open database connection.
"""

from __future__ import annotations

from typing import Any

import psycopg
import structlog
from celery import bootsteps
from django.conf import settings

from core.platform.db import conninfo

log = structlog.get_logger(__name__)

PAUSED_QUEUES = "SELECT queue FROM ops_queuepause"


def paused_queues() -> set[str] | None:
    """The paused queues, or None when the database did not answer (then nothing changes)."""
    try:
        with psycopg.connect(**conninfo(connect_timeout=2, application_name="ferry-worker-pauses")) as db:
            return {row[0] for row in db.execute(PAUSED_QUEUES)}
    except psycopg.Error as exc:
        log.warning("ops.queue_pauses_unread", error=f"{type(exc).__name__}: {exc}"[:200])
        return None


class QueuePauses(bootsteps.StartStopStep):
    """The consumer step that keeps this worker's consumers in line with the paused queues."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self.own: tuple[str, ...] = ()
        self.timer_entry: Any = None

    def start(self, c: Any) -> None:
        # Noted once: the step starts again after a lost broker connection, when a paused
        # queue is no longer among the consumer's, and it must still be resumed later.
        self.own = self.own or tuple(sorted(q.name for q in c.task_consumer.queues))
        self.apply(c)
        self.timer_entry = c.timer.call_repeatedly(settings.QUEUE_PAUSE_POLL_S, self.apply, (c,), priority=10)

    def stop(self, c: Any) -> None:
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    def apply(self, c: Any) -> None:
        paused = paused_queues()
        if paused is None or c.task_consumer is None:
            return
        for queue in self.own:
            consuming = c.task_consumer.consuming_from(queue)
            if queue in paused and consuming:
                c.cancel_task_queue(queue)
                log.warning("ops.queue_consumer_paused", queue=queue)
            elif queue not in paused and not consuming:
                c.add_task_queue(queue)
                log.warning("ops.queue_consumer_resumed", queue=queue)
