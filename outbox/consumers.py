"""The base class of tasks that consume outbox events: dedupe, completion, retries, dead letters.

A task event arrives as a Celery message built by the relay: the payload is the task's
keyword arguments (plus tenant_id), the task id is the event id, and the message header
`ferry` carries the outbox row's id and creation time. The plumbing lives here once:

- an event already in the inbox is a duplicate delivery: the task does nothing and says so;
- `with self.effects():` opens the transaction in which the task writes its effects; the
  inbox row and the event's completion commit in that same transaction;
- a failure is retried through the outbox (back to pending with exponential backoff and
  jitter, ADR 0006), and after max_retries it becomes a dead letter;
- every execution is recorded as a delivery attempt, so a message that kills its worker
  each time (never reaching the failure handler) still ends as a dead letter;
- a long-running consumer (a solve, a grading run, a heal) is a Job run by `run_job`:
  claim, work outside any transaction, record inside effects() (outbox/jobs.py).
"""

from __future__ import annotations

import traceback as tb
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import structlog
from django.db import connection, transaction

from core.platform import worker_metrics
from core.platform.db import run_prepared
from core.platform.tasks import FerryTask
from outbox import delivery, queries
from outbox.jobs import Job
from outbox.models import DeliveryAttempt

C = TypeVar("C")
R = TypeVar("R")
T = TypeVar("T")

log = structlog.get_logger(__name__)

ENVELOPE_HEADER = "ferry"


class DuplicateDelivery(Exception):
    """The event was already processed; raised inside effects() to roll back."""


class PermanentFailure(Exception):
    """Raise from a task to dead-letter its event at once, without retrying."""


@dataclass(frozen=True)
class Envelope:
    """What a consumer knows about the event it is executing."""

    outbox_id: int
    created_at: datetime
    event_id: uuid.UUID
    event_type: str
    trace_id: str
    tenant_id: int | None

    @classmethod
    def from_header(cls, header: dict[str, Any], tenant_id: int | None) -> Envelope:
        return cls(
            outbox_id=int(header["id"]),
            created_at=datetime.fromisoformat(header["created_at"]),
            event_id=uuid.UUID(header["event_id"]),
            event_type=str(header.get("event_type", "")),
            trace_id=str(header.get("trace_id", "")),
            tenant_id=tenant_id,
        )

    def to_header(self) -> dict[str, Any]:
        return {"id": self.outbox_id, "created_at": self.created_at.isoformat(),
                "event_id": str(self.event_id), "event_type": self.event_type,
                "trace_id": self.trace_id}


@dataclass
class _Execution:
    envelope: Envelope
    task_name: str
    worker: str
    attempt_id: int = 0
    attempt: int = 0
    recorded: bool = field(default=False)


_execution: ContextVar[_Execution | None] = ContextVar("ferry_outbox_execution", default=None)


class OutboxTask(FerryTask):
    """Base class for tasks that receive outbox events (use with bind=True)."""

    abstract = True
    # Retries go through the outbox (pending again, with a backoff), not Celery's retry:
    # the schedule then lives in Postgres, not in a worker's memory or Redis.
    autoretry_for = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # A worker exposes custom message headers as request attributes; task.apply() (used by
        # tests and tools that replay an event in-process) passes them in request.headers.
        header = getattr(self.request, ENVELOPE_HEADER, None) or (self.request.headers or {}).get(ENVELOPE_HEADER)
        if not header:
            return super().__call__(*args, **kwargs)  # called directly, not from the outbox
        execution = _Execution(Envelope.from_header(header, kwargs.get("tenant_id")), self.name,
                               worker=str(self.request.hostname or "worker"))
        envelope = execution.envelope
        with structlog.contextvars.bound_contextvars(
            event_id=str(envelope.event_id), outbox_id=envelope.outbox_id, trace_id=envelope.trace_id,
            tenant_id=envelope.tenant_id, task=self.name, task_id=self.request.id,
        ):
            return self._execute(execution, args, kwargs)

    def _execute(self, execution: _Execution, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        envelope = execution.envelope
        own = connection.get_autocommit()  # a worker's: not inside a caller's transaction
        started = run_prepared(queries.ATTEMPT_START_OWN if own else queries.ATTEMPT_START, {
            "outbox_id": envelope.outbox_id, "event_id": envelope.event_id, "worker": execution.worker})
        if started is None:  # the inbox holds the event: an earlier delivery took effect
            log.info("outbox.duplicate_delivery_ignored", reason="inbox already holds the event")
            worker_metrics.duplicate_delivery(self.name)
            with transaction.atomic(durable=True):
                delivery.complete(envelope.outbox_id)
            return None
        execution.attempt_id, execution.attempt = started
        if execution.attempt > (self.max_retries or 0) + 2:
            # Earlier executions ended without reaching the failure handler: the worker died.
            self._fail(execution, PermanentFailure(
                f"{execution.attempt - 1} executions ended without an outcome (worker lost)"), "")
            return None
        token = _execution.set(execution)
        try:
            result = super().__call__(*args, **kwargs)
        except DuplicateDelivery:
            self._finish(execution, DeliveryAttempt.Outcome.DUPLICATE)
            log.info("outbox.duplicate_delivery_ignored", reason="inbox already holds the event")
            worker_metrics.duplicate_delivery(self.name)
            return None
        except Exception as exc:  # every failure is recorded, retried or dead-lettered
            self._fail(execution, exc, tb.format_exc())
            return None
        finally:
            _execution.reset(token)
        if not execution.recorded:  # a task that wrote no effects of its own
            with transaction.atomic(durable=True):
                key = self._record(execution)
                if key is not None:
                    run_prepared(queries.ADVANCE_KEY, {"ordering_key": key[0], "key_seq": key[1]})
        # Committed: the line that follows a request's trace_id to its effect (core/platform/middleware.py).
        log.info("outbox.effect_recorded", attempt=execution.attempt)
        return result

    @property
    def attempt(self) -> int:
        """Which execution of the current event this is (1 for the first); 1 outside the outbox."""
        execution = _execution.get()
        return execution.attempt if execution is not None else 1

    @property
    def event_id(self) -> str | None:
        """The id of the outbox event being executed (the Celery task id the relay gives it)."""
        task_id = self.request.id
        return str(task_id) if task_id else None

    def will_dead_letter(self, exc: BaseException) -> bool:
        """Whether this failure ends the event as a dead letter rather than a retry (_fail's rule)."""
        return isinstance(exc, PermanentFailure) or self.attempt > (self.max_retries or 0)

    def run_job(self, job: Job[C, R, T]) -> T | None:
        """Claim, work outside any transaction, record inside effects() (outbox/jobs.py).

        Returns what `record` returned, or None when the claim found nothing to do (the event
        is then simply completed). A failure is noted on the job (`failed`, final when the
        event will be dead-lettered) and re-raised, so the outbox retries or dead-letters it;
        the retry's claim resumes the job.
        """
        claimed = job.claim(self.event_id)
        if claimed is None:
            with self.effects():
                return None
        try:
            result = job.work(claimed)
            with self.effects():
                return job.record(claimed, result)
        except DuplicateDelivery:
            raise  # another delivery of this event committed first: nothing to note
        except Exception as exc:
            job.failed(claimed, exc, final=self.will_dead_letter(exc))
            raise

    @contextmanager
    def effects(self) -> Iterator[None]:
        """The transaction for the task's effects, its inbox row and the event's completion.

        Raises DuplicateDelivery (handled by the base class) if another delivery of the
        same event committed first; the effects then roll back.
        """
        execution = _execution.get()
        with transaction.atomic(durable=True):
            key = self._record(execution) if execution is not None else None
            yield
            if key is not None:  # last, after the task's own locks (queries.RECORD_EFFECT)
                run_prepared(queries.ADVANCE_KEY, {"ordering_key": key[0], "key_seq": key[1]})
        if execution is not None:
            execution.recorded = True

    def _record(self, execution: _Execution) -> tuple[str, int] | None:
        """Record the effect's inbox row and completion; the event's (ordering key, sequence)
        if it has a key to advance."""
        envelope = execution.envelope
        recorded = run_prepared(queries.RECORD_EFFECT, {
            "event_id": envelope.event_id, "outbox_id": envelope.outbox_id, "task_name": execution.task_name,
            "tenant_id": envelope.tenant_id, "attempt": execution.attempt, "worker": execution.worker,
            "attempt_id": execution.attempt_id})
        if not recorded or not recorded[0]:
            raise DuplicateDelivery(str(envelope.event_id))
        execution.recorded = True
        ordering_key, key_seq = recorded[1], recorded[2]
        return (str(ordering_key), int(key_seq)) if ordering_key is not None and key_seq is not None else None

    def _finish(self, execution: _Execution, outcome: str, error: str = "") -> None:
        run_prepared(queries.ATTEMPT_FINISH, {"id": execution.attempt_id, "outcome": outcome, "error": error})

    def _fail(self, execution: _Execution, exc: BaseException, trace: str) -> None:
        envelope = execution.envelope
        error = f"{type(exc).__name__}: {exc}"[:4000]
        if isinstance(exc, PermanentFailure) or execution.attempt > (self.max_retries or 0):
            delivery.kill(envelope.outbox_id, error, trace)
            self._finish(execution, DeliveryAttempt.Outcome.DEAD, error)
            log.error("outbox.dead_letter", error=error, attempt=execution.attempt)
            worker_metrics.note_outcome(self.request.id, "failed")
            return
        delay = delivery.backoff_s(execution.attempt, float(self.retry_backoff or 1),
                                   float(self.retry_backoff_max or 600), bool(self.retry_jitter))
        delivery.reschedule(envelope.outbox_id, error, delay)
        self._finish(execution, DeliveryAttempt.Outcome.RETRYING, error)
        log.warning("outbox.retry_scheduled", error=error, attempt=execution.attempt, delay_s=round(delay, 2))
        # The task returns normally; for the metrics it failed and will run again.
        worker_metrics.note_outcome(self.request.id, "retried")

