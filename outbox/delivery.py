"""Delivery state changes of outbox events: complete, retry, kill, sweep, redrive, move.

Each is one named statement of outbox/queries.py; callers choose the transaction
(completion must share the consumer's, the others stand alone).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from django.conf import settings
from django.db import connection, transaction

from outbox import queries

log = structlog.get_logger(__name__)


def complete(outbox_id: int) -> None:
    """Mark an event completed; idempotent. Call inside the consumer's effects transaction."""
    with connection.cursor() as cursor:
        cursor.execute(queries.COMPLETE, {"outbox_id": outbox_id})


def backoff_s(attempt: int, base: float, cap: float, jitter: bool) -> float:
    """Exponential backoff before retry number `attempt` (1-based), with full jitter."""
    delay = min(cap, base * 2 ** max(0, attempt - 1))
    return random.uniform(0, delay) if jitter else delay  # noqa: S311 - spreading load, not secrecy


@transaction.atomic(durable=True)
def reschedule(outbox_id: int, error: str, delay_s: float) -> bool:
    """Put a relayed event back in the queue after `delay_s`; False if it was not relayed."""
    with connection.cursor() as cursor:
        cursor.execute(queries.RESCHEDULE, {"id": outbox_id, "error": error[:4000], "delay_s": delay_s})
        return cursor.fetchone() is not None


@transaction.atomic(durable=True)
def kill(outbox_id: int, error: str, traceback: str) -> bool:
    """Mark an event dead and write (or refresh) its dead letter; False if already settled."""
    with connection.cursor() as cursor:
        cursor.execute(queries.KILL, {"id": outbox_id, "error": error[:4000], "traceback": traceback[-8000:]})
        return cursor.fetchone() is not None


@dataclass(frozen=True)
class SweepResult:
    requeued: int
    dead: int

    @property
    def moved(self) -> int:
        return self.requeued + self.dead


@transaction.atomic(durable=True)
def sweep_stalled(limit: int = 1000, max_deliveries: int | None = None) -> SweepResult:
    """Redeliver task events relayed longer ago than their deadline and never completed.

    The generic heal beneath the domain heals: a message Redis lost after the relay
    marked it relayed (a flush, a crash without AOF) goes back to pending. Events already
    delivered `max_deliveries` times become dead letters instead. Handles at most `limit`
    events; call again while `moved == limit`.
    """
    max_deliveries = max_deliveries or settings.OUTBOX_MAX_DELIVERIES
    with connection.cursor() as cursor:
        cursor.execute(queries.SWEEP, {"limit": limit, "max_attempts": max_deliveries})
        statuses = [status for _id, status in cursor.fetchall()]
    result = SweepResult(requeued=statuses.count("pending"), dead=statuses.count("dead"))
    if result.moved:
        log.warning("outbox.swept_stalled_events", requeued=result.requeued, dead=result.dead)
    return result


@transaction.atomic  # joins the caller's transaction (core.ops.services records the action with it)
def redrive(dead_letter_ids: Sequence[int], actor_id: int | None) -> int:
    """Send dead events again; returns how many went back to pending. Idempotent."""
    with connection.cursor() as cursor:
        cursor.execute(queries.REDRIVE, {"ids": list(dead_letter_ids), "actor_id": actor_id})
        count = len(cursor.fetchall())
    log.info("outbox.redriven", dead_letters=len(dead_letter_ids), requeued=count, actor_id=actor_id)
    return count


@transaction.atomic  # joins the caller's transaction (core.ops.services counts it with its job)
def discard(dead_letter_ids: Sequence[int], actor_id: int | None) -> int:
    """Close dead letters without sending their events again; returns how many it closed.
    Idempotent: a letter already redriven or discarded is not counted."""
    with connection.cursor() as cursor:
        cursor.execute(queries.DISCARD, {"ids": list(dead_letter_ids), "actor_id": actor_id})
        count = len(cursor.fetchall())
    log.info("outbox.discarded", dead_letters=len(dead_letter_ids), discarded=count, actor_id=actor_id)
    return count
