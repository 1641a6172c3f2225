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
- visibility_timeout above the longest hard time limit: the Redis transport redelivers a
  message whose worker has not acked within it; shorter than a running task would mean
  a second, concurrent delivery of a healthy task.
- queues by latency class (ADR 0003): interactive, default, batch. Every task is defined
  with `ferry_task(name=..., queue=..., soft_time_limit=..., time_limit=...)`, which
  records its route; the router sends it there, also when beat sends it by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from celery import Celery
from kombu import Queue

from core.tenancy import TenantTask

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "core.settings")

QUEUES = ("interactive", "default", "batch")


class FerryTask(TenantTask):
    """Base of every Ferry task: tenant context (core.tenancy) and the retry policy."""

    abstract = True
    max_retries: int = 5
    retry_backoff: int = 2  # seconds before the first retry, doubled each time
    retry_backoff_max: int = 300
    retry_jitter: bool = True


app = Celery("ferry", task_cls=FerryTask)


# Task name -> queue, filled by ferry_task() as task modules are imported.
ROUTES: dict[str, str] = {}


def route_by_declared_queue(name: str, args: Any, kwargs: Any, options: dict[str, Any],
                            task: Any = None, **_: Any) -> dict[str, str] | None:
    """Send a task to the queue its definition declares, also when sent by name."""
    queue = ROUTES.get(name)
    return {"queue": queue} if queue else None


def queue_of(task_name: str) -> str:
    """The queue a task is routed to; KeyError names the task if it was never defined."""
    if task_name not in ROUTES:
        # Task modules register their routes when imported; import them once, on demand
        # (this costs milliseconds, so never on the hot path of a known task).
        app.loader.import_default_modules()
    try:
        return ROUTES[task_name]
    except KeyError:
        raise KeyError(f"unknown task {task_name!r}: define it with core.celery.ferry_task") from None


def ferry_task(*, name: str, queue: str, soft_time_limit: int, time_limit: int,
               **options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Define a Celery task with its queue and time limits stated where it is written.

    Fails at import time if the queue does not exist or the limits are inconsistent, so a
    misconfigured task never reaches a worker.
    """
    from django.conf import settings

    if queue not in QUEUES:
        raise ValueError(f"task {name}: queue {queue!r} is not one of {QUEUES}")
    if not 0 < soft_time_limit < time_limit <= settings.CELERY_MAX_TIME_LIMIT:
        raise ValueError(f"task {name}: need 0 < soft_time_limit < time_limit <= "
                         f"CELERY_MAX_TIME_LIMIT ({settings.CELERY_MAX_TIME_LIMIT})")
    ROUTES[name] = queue
    return app.task(name=name, soft_time_limit=soft_time_limit, time_limit=time_limit, **options)


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
    worker_max_tasks_per_child=500,  # bounds memory creep in long-lived solver processes
    beat_scheduler="django_celery_beat.schedulers:DatabaseScheduler",
    timezone="UTC",
    enable_utc=True,
)

app.autodiscover_tasks()
