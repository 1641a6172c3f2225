"""The Celery application and its hygiene defaults, applied to every task.

Why each default (read once here, not repeated on tasks):

- acks_late + reject_on_worker_lost: a message is acknowledged only after its task
  finished, so a worker killed mid-task (OOM, SIGKILL, deploy) leaves the message to be
  redelivered instead of silently dropping it. Tasks are idempotent (outbox inbox), so
  the redelivery is harmless.
- max_retries with exponential backoff and jitter: transient failures (a Postgres
  restart, a Redis blip) are retried without a thundering herd; an exhausted task ends
  in a dead letter that ops can redrive.
- soft_time_limit < time_limit on every task: the soft limit raises inside the task so it
  can clean up; the hard limit kills a task that ignores it.
- ignore_result: job status lives in Postgres rows, read by the API and UI; there is no
  result backend.
- JSON only: tasks receive ids and primitives, never pickled objects.
- prefetch multiplier 1: with acks_late, a worker holds at most one unstarted message per
  process, so a long task does not sit on messages other workers could run.
- database connections kept across tasks (CELERY_DB_REUSE_MAX), and checked before and
  after each task as Django checks them around a request: one broken by a database restart,
  or older than CONN_MAX_AGE, is replaced, instead of a new connection for every task.
- visibility_timeout above the longest hard time limit: the Redis transport redelivers a
  message whose worker has not acked within it; shorter than a running task would mean
  a second, concurrent delivery of a healthy task.
- beat: exactly one sends, the leader; other beats stand by (core/platform/beat.py).
- queues can be paused by platform staff (ADR 0022): each worker checks Postgres every
  QUEUE_PAUSE_POLL_S and stops or starts its own consumers.
- queues by latency class (ADR 0003): interactive, default, batch. Tasks are defined with
  core.platform.tasks.ferry_task, which records each task's queue; the router sends it
  there, also when beat sends it by name.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, signals
from django.db import close_old_connections
from kombu import Queue

from core.ops.worker import QueuePauses
from core.platform.metrics import connect_beat_signals
from core.platform.tasks import QUEUES, FerryTask, route_by_declared_queue
from core.platform.worker_metrics import connect_worker_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.config.settings")

app = Celery("ferry", task_cls=FerryTask)

# Broker URL and transport options (visibility timeout) come from settings (CELERY_*),
# read lazily so importing this module does not load Django settings.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    broker_connection_retry_on_startup=True,
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    task_ignore_result=True,
    result_backend=None,
    task_serializer="json",
    accept_content=["json"],
    result_serializer="json",
    event_serializer="json",
    worker_prefetch_multiplier=1,
    task_soft_time_limit=120,
    task_time_limit=150,
    task_queues=[Queue(name, routing_key=name) for name in QUEUES],
    task_default_queue="default",
    task_create_missing_queues=False,
    task_routes=(route_by_declared_queue,),
    worker_hijack_root_logger=False,
    worker_cancel_long_running_tasks_on_connection_loss=True,
    # A pool process is replaced when it has grown past this (KiB, checked after each task),
    # which bounds memory creep in long-lived solver processes. Not after a fixed number of
    # tasks: each replacement stalls its worker for about a second and a half (measured:
    # replacing every 500 tasks halved a worker's rate of short tasks); the task bound is
    # only a backstop.
    worker_max_memory_per_child=768 * 1024,
    worker_max_tasks_per_child=20_000,
    # Any number of beats; the one holding a PostgreSQL advisory lock sends (adr/0015). It
    # writes each entry's last run after every send, for whichever beat leads next. The
    # measured one also says whether it leads and what it sent (its metrics).
    beat_scheduler="core.platform.beat_metrics:MeasuredLeaderScheduler",
    beat_sync_every=1,
    timezone="UTC",
    enable_utc=True,
)

app.autodiscover_tasks()

# Prometheus metrics of workers and beats, each on its port when one is set (docs/observability.md).
connect_worker_signals()
connect_beat_signals()
# Queues paused by platform staff: each worker stops and starts its own consumers (adr/0022).
app.steps["consumer"].add(QueuePauses)


@signals.task_prerun.connect
@signals.task_postrun.connect
def _check_database_connections(sender: Any = None, **_: Any) -> None:
    # Not around a task run in the caller's process (apply(), eager): the caller's connection,
    # perhaps inside its transaction, is not the task's to close.
    if not getattr(getattr(sender, "request", None), "is_eager", False):
        close_old_connections()
