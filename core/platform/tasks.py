"""How a Ferry task is defined: its queue and time limits where it is written, the tenant
context it runs in, and the retry policy. The Celery app itself is configured in
core/config/celery.py; tasks bind to it through Celery's shared_task, so nothing here
imports the configuration.

Queues by latency class (ADR 0003): interactive, default, batch. Every task is defined with
`ferry_task(name=..., queue=..., soft_time_limit=..., time_limit=...)`, which records its
route; the router (route_by_declared_queue) sends it there, also when beat sends it by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import Task, current_app, shared_task

from core.platform.tenancy import TenantTask

QUEUES = ("interactive", "default", "batch")


class FerryTask(TenantTask):
    """Base of every Ferry task: tenant context (core.platform.tenancy) and the retry policy."""

    abstract = True
    max_retries: int = 5
    retry_backoff: int = 2  # seconds before the first retry, doubled each time
    retry_backoff_max: int = 300
    retry_jitter: bool = True


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
        current_app.loader.import_default_modules()
    try:
        return ROUTES[task_name]
    except KeyError:
        raise KeyError(f"unknown task {task_name!r}: define it with core.platform.tasks.ferry_task") from None


def task_named(task_name: str) -> Task:
    """The registered task `task_name` (after queue_of has found it)."""
    task: Task = current_app.tasks[task_name]
    return task


def hard_time_limit_s(task_name: str) -> int:
    """The task's hard time limit in seconds (its own, or the app's default)."""
    return int(task_named(task_name).time_limit or current_app.conf.task_time_limit)


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
    options.setdefault("base", FerryTask)
    return shared_task(name=name, soft_time_limit=soft_time_limit, time_limit=time_limit, **options)
