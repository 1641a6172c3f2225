"""A Celery worker's metrics: tasks received, succeeded, failed and retried (by task and
queue), their durations, and duplicate deliveries the inbox ignored.

Tasks run in the prefork pool's child processes, and a child's counters die with it (children
are replaced as they grow, worker_max_memory_per_child). So the worker uses prometheus_client's
multiprocess mode: at worker_init, in the main process and before the pool forks, it creates
a directory of its own (a fresh temporary one, so two workers on one host never mix files and
a restart starts from clean), points PROMETHEUS_MULTIPROC_DIR at it and switches
prometheus_client to memory-mapped values; every process of the worker then writes its own
file there. The main process serves them summed on WORKER_METRICS_PORT once the pool runs,
and removes the directory at shutdown. A child that exits is marked dead (mark_process_dead:
it only matters for live gauges; its counters stay in the sum, as counters must).

What counts as what:
- received: the main process took the message from the broker (task_received);
- succeeded / failed / retried: the child's outcome (task_postrun's state), except for outbox
  consumers, which catch their own failures and retry or dead-letter through the outbox
  (outbox/consumers.py): they say which it was with note_outcome(). A hard time limit, or a
  lost child whose message is not redelivered, is a failure the main process reports
  (task_failure there);
- duration: from task_prerun to task_postrun in the child (a child killed mid-task records
  none);
- duplicates: deliveries of an event the inbox already held (outbox/consumers.py).
With WORKER_METRICS_PORT 0 (the default) none of this is set up and every hook is a no-op.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import structlog
from celery import signals
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, values

from core.platform.metrics import serve
from core.platform.tasks import ROUTES

log = structlog.get_logger(__name__)

# task_postrun's state -> the counter it goes to (REJECTED/IGNORED and others go to none).
_OUTCOME_OF_STATE = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}
# Durations of Ferry's tasks run from milliseconds (a consumer's insert) to minutes (a solve,
# a grading run, a heal): up to the longest hard time limit.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 660)


class WorkerMetrics:
    """The counters and histogram; created after the switch to multiprocess values."""

    def __init__(self) -> None:
        # registry=None: in multiprocess mode the values live in files, collected by
        # MultiProcessCollector; nothing is registered in-process.
        labels = ["task", "queue"]
        self.received = Counter("ferry_worker_tasks_received", "Task messages taken from the broker",
                                labels, registry=None)
        self.outcomes = {
            "succeeded": Counter("ferry_worker_tasks_succeeded", "Task executions that succeeded",
                                 labels, registry=None),
            "failed": Counter("ferry_worker_tasks_failed",
                              "Task executions that failed for good (an outbox event dead-lettered)",
                              labels, registry=None),
            "retried": Counter("ferry_worker_tasks_retried",
                               "Task executions that failed and were scheduled to run again", labels, registry=None),
        }
        self.duration = Histogram("ferry_worker_task_duration_seconds", "Time a task execution took",
                                  ["task"], registry=None, buckets=DURATION_BUCKETS)
        self.duplicates = Counter("ferry_worker_duplicate_deliveries",
                                  "Deliveries of an event the inbox already held, ignored", ["task"], registry=None)


@dataclass
class _State:
    directory: str = ""
    metrics: WorkerMetrics | None = None
    main_pid: int = 0
    started: dict[str, float] = field(default_factory=dict)  # task id -> perf_counter at prerun
    noted: dict[str, str] = field(default_factory=dict)  # task id -> outcome said by the task


_state = _State()


def _queue_of(task_name: str, delivery_info: dict[str, Any] | None) -> str:
    """The queue the message came from; the task's declared queue when the request does not say
    (the main process's view of a timed-out task)."""
    return str((delivery_info or {}).get("routing_key") or ROUTES.get(task_name) or "unknown")


def note_outcome(task_id: str | None, outcome: str) -> None:
    """Count the current execution of `task_id` as `outcome` (succeeded, failed, retried) rather
    than by the state Celery sees: for tasks that handle their own failures."""
    if _state.metrics is not None and task_id:
        _state.noted[task_id] = outcome


def duplicate_delivery(task_name: str) -> None:
    if _state.metrics is not None:
        _state.metrics.duplicates.labels(task_name).inc()


# --- signal handlers --------------------------------------------------------------------------


def _on_worker_init(**_: Any) -> None:
    from django.conf import settings

    if not settings.WORKER_METRICS_PORT:
        return
    _state.directory = tempfile.mkdtemp(prefix="ferry-worker-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _state.directory
    # prometheus_client chose its value class when it was first imported (with no directory
    # set then); choose again now, before any worker metric exists and before the pool forks,
    # so every process of this worker writes its values to the directory.
    values.ValueClass = values.get_value_class()
    _state.metrics = WorkerMetrics()
    _state.main_pid = os.getpid()


def _on_worker_ready(**_: Any) -> None:
    from django.conf import settings

    if _state.metrics is None:
        return
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=_state.directory)
    try:
        serve(registry, settings.WORKER_METRICS_PORT, settings.METRICS_ADDR)
    except OSError as exc:  # another worker on this host took the port: say so, keep working
        log.error("metrics.port_unavailable", port=settings.WORKER_METRICS_PORT, error=str(exc))
        return
    log.info("metrics.serving", port=settings.WORKER_METRICS_PORT, directory=_state.directory)


def _on_worker_shutdown(**_: Any) -> None:
    if _state.directory and os.getpid() == _state.main_pid:
        shutil.rmtree(_state.directory, ignore_errors=True)


def _on_child_exit(pid: int | None = None, **_: Any) -> None:
    if _state.metrics is not None and pid:
        multiprocess.mark_process_dead(pid, _state.directory)


def _on_task_received(request: Any = None, **_: Any) -> None:
    if _state.metrics is not None and request is not None:
        _state.metrics.received.labels(request.name, _queue_of(request.name, request.delivery_info)).inc()


def _on_task_prerun(task_id: str | None = None, **_: Any) -> None:
    if _state.metrics is not None and task_id:
        _state.started[task_id] = time.perf_counter()


def _on_task_postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    if _state.metrics is None or not task_id or task is None:
        return
    started = _state.started.pop(task_id, None)
    outcome = _state.noted.pop(task_id, None) or _OUTCOME_OF_STATE.get(state or "")
    if started is not None:
        _state.metrics.duration.labels(task.name).observe(time.perf_counter() - started)
    if outcome is not None:
        queue = _queue_of(task.name, getattr(task.request, "delivery_info", None))
        _state.metrics.outcomes[outcome].labels(task.name, queue).inc()


def _on_task_failure(sender: Any = None, **_: Any) -> None:
    # In a child, task_postrun counts the failure; the main process reports only what no child
    # could (a hard time limit, a lost child whose message is not redelivered).
    if _state.metrics is None or os.getpid() != _state.main_pid or sender is None:
        return
    queue = _queue_of(sender.name, getattr(sender.request, "delivery_info", None))
    _state.metrics.outcomes["failed"].labels(sender.name, queue).inc()


def connect_worker_signals() -> None:
    """Hook the worker's metrics to Celery's signals (core/config/celery.py calls this)."""
    signals.worker_init.connect(_on_worker_init, weak=False)
    signals.worker_ready.connect(_on_worker_ready, weak=False)
    signals.worker_shutdown.connect(_on_worker_shutdown, weak=False)
    signals.worker_process_shutdown.connect(_on_child_exit, weak=False)
    signals.task_received.connect(_on_task_received, weak=False)
    signals.task_prerun.connect(_on_task_prerun, weak=False)
    signals.task_postrun.connect(_on_task_postrun, weak=False)
    signals.task_failure.connect(_on_task_failure, weak=False)
