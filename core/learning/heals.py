"""The learning heals: compare the truth in PostgreSQL with what should have followed from it,
and emit fresh outbox events for every gap (ADR 0012). They are registered by name with
core.platform.heals when the app is ready; core/ops records and schedules runs.

- heal_search_index: every live content is indexed at its live version (and the current
  rendering of it), and nothing else is.
  One set-based statement finds the gaps (queries.SEARCH_INDEX_GAPS); each gap becomes a
  learning.reindex_content event on the batch queue.
- heal_pending_gradings: every submission queued or running past its deadline, whose
  grading event is not still waiting for the relay (none pending: see queries.STUCK), is
  enqueued again (a fresh learning.grade_submission event), or, after GRADING_MAX_ATTEMPTS
  enqueues, errored with the reason and the learner told. A relay backlog is not stuck.

A dry run examines the same way, emits and changes nothing, and reports what it would do.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, transaction
from psycopg import sql

from core.learning import queries
from core.learning.models import Submission
from core.learning.rendering import RENDER_REVISION
from core.platform.channels import user_channel
from core.platform.heals import HealResult, Repair
from outbox.emit import emit

T = TypeVar("T")

# Emits per transaction when repairing: bounds a transaction's size on a large repair.
EMIT_CHUNK = 500
# Stuck submissions moved per statement; the loop continues while batches come back full.
REQUEUE_BATCH = 500
# A dry run lists at most this many of the stuck submissions it would move.
DRY_RUN_LIST_MAX = 10_000


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _execute(statement: sql.Composable, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(connection.connection), params)
        return list(cursor.fetchall())


# --- heal_search_index -------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexGap:
    content_id: int
    tenant_id: int
    gap: str
    live_version_id: int | None
    indexed_version_id: int | None


def find_search_index_gaps(tenant_id: int | None = None) -> tuple[dict[int, int], list[IndexGap]]:
    """(examined per tenant, gaps) between live content and the search index, in one statement
    over both tables; `tenant_id` restricts it to one tenant."""
    statement = queries.SEARCH_INDEX_GAPS.format(
        content_filter=queries.tenant_filter(queries.CONTENT_TENANT_FILTER, tenant_id),
        document_filter=queries.tenant_filter(queries.DOCUMENT_TENANT_FILTER, tenant_id))
    (examined, gaps), = _execute(statement, {"tenant_id": tenant_id, "render_revision": RENDER_REVISION})
    examined = json.loads(examined) if isinstance(examined, str) else examined
    gaps = json.loads(gaps) if isinstance(gaps, str) else gaps
    return ({int(k): int(v) for k, v in examined.items()},
            [IndexGap(int(c), int(t), str(g), lv, iv) for c, t, g, lv, iv in gaps])


@transaction.atomic(durable=True)
def emit_index_repairs(gaps: Sequence[IndexGap], heal_run_id: int | None, actor_id: int | None) -> None:
    """One learning.reindex_content event (batch queue) per gap, in one transaction. Not under
    the content's ordering key: a repair must not wait behind the very event whose message was
    lost (its key is held until the sweep redelivers it), and the indexer is order-proof, so a
    repair running beside a keyed index event cannot move the document backwards."""
    for gap in gaps:
        emit("search.repair_requested", aggregate_type="content", aggregate_id=gap.content_id,
             task="learning.reindex_content", tenant_id=gap.tenant_id, actor_id=actor_id,
             payload={"content_id": gap.content_id, "gap": gap.gap, "heal_run_id": heal_run_id})


def heal_search_index(*, dry_run: bool = False, tenant_id: int | None = None, heal_run_id: int | None = None,
                      actor_id: int | None = None) -> HealResult:
    """Find every live content missing from the index or indexed at another version, and every
    document whose content is not live; emit a reindex event for each (unless dry_run)."""
    examined, gaps = find_search_index_gaps(tenant_id)
    if not dry_run:
        for chunk in _chunks(gaps, EMIT_CHUNK):
            emit_index_repairs(chunk, heal_run_id, actor_id)
    return HealResult(examined, [Repair(g.tenant_id, f"content:{g.content_id}", g.gap, "reindex") for g in gaps])


# --- heal_pending_gradings ----------------------------------------------------------------------


def _submission_params(tenant_id: int | None, limit: int) -> dict[str, Any]:
    return {"tenant_id": tenant_id, "limit": limit, "max_enqueues": settings.GRADING_MAX_ATTEMPTS,
            "deadline_s": settings.GRADING_DEADLINE_S}


def _submission_statement(statement: sql.SQL, tenant_id: int | None) -> sql.Composable:
    tenant_filter = queries.tenant_filter(queries.SUBMISSION_TENANT_FILTER, tenant_id)
    return statement.format(tenant_filter=tenant_filter, stuck=queries.STUCK)


def pending_submissions(tenant_id: int | None = None) -> dict[int, int]:
    """Submissions queued or running, per tenant: what heal_pending_gradings examines."""
    rows = _execute(_submission_statement(queries.PENDING_SUBMISSIONS, tenant_id), {"tenant_id": tenant_id})
    return {int(t): int(n) for t, n in rows}


def stuck_submissions(tenant_id: int | None = None, limit: int = DRY_RUN_LIST_MAX) -> list[Repair]:
    """What heal_pending_gradings would do now, changing nothing."""
    rows = _execute(_submission_statement(queries.STUCK_SUBMISSIONS, tenant_id), _submission_params(tenant_id, limit))
    return [Repair(int(t), f"submission:{i}", f"stuck_{status}", action) for i, t, status, action, _n in rows]


@transaction.atomic(durable=True)
def requeue_stuck_batch(tenant_id: int | None, actor_id: int | None, heal_run_id: int | None,
                        limit: int = REQUEUE_BATCH) -> list[Repair]:
    """Move up to `limit` stuck submissions (one statement) and emit what follows: a fresh grading
    event for each re-enqueued one, a live event to the learner of each errored one."""
    rows = _execute(_submission_statement(queries.REQUEUE_STUCK, tenant_id), _submission_params(tenant_id, limit))
    repairs = []
    for submission_id, tenant, learner_id, problem_id, was, status, error in rows:
        if status == "queued":
            emit("submission.regrade_requested", aggregate_type="submission", aggregate_id=submission_id,
                 task="learning.grade_submission", tenant_id=tenant, actor_id=actor_id,
                 payload={"submission_id": submission_id})
        else:
            emit("submission.graded", aggregate_type="submission", aggregate_id=submission_id,
                 channel=user_channel(tenant, learner_id), tenant_id=tenant, actor_id=actor_id,
                 payload={"submission_id": submission_id, "problem_id": problem_id, "status": status,
                          "attempt": None, "duration_ms": None, "passed": 0, "total": 0, "error": error[:300]})
        repairs.append(Repair(int(tenant), f"submission:{submission_id}", f"stuck_{was}",
                              "requeue" if status == "queued" else "error"))
    return repairs


def heal_pending_gradings(*, dry_run: bool = False, tenant_id: int | None = None, heal_run_id: int | None = None,
                          actor_id: int | None = None) -> HealResult:
    """Re-enqueue every submission queued or running past its deadline, or error it after
    GRADING_MAX_ATTEMPTS enqueues (unless dry_run)."""
    examined = pending_submissions(tenant_id)
    if dry_run:
        return HealResult(examined, stuck_submissions(tenant_id))
    repairs: list[Repair] = []
    while True:
        # Moved rows get a fresh deadline, so the next batch never sees them again.
        batch = requeue_stuck_batch(tenant_id, actor_id, heal_run_id)
        repairs.extend(batch)
        if len(batch) < REQUEUE_BATCH:
            return HealResult(examined, repairs)


# --- confirmation: which repairs took effect (core.platform.heals.Confirm) ----------------


def confirm_index_repairs(repairs: Sequence[Repair]) -> list[Repair]:
    """A reindex took effect when its content is no longer a gap (indexed at its live version,
    or gone from the index if not live)."""
    tenants = {r.tenant_id for r in repairs}
    # One scan: of the one tenant, or of all of them (a platform-wide run), never one per tenant.
    _examined, gaps = find_search_index_gaps(next(iter(tenants)) if len(tenants) == 1 else None)
    still = {f"content:{gap.content_id}" for gap in gaps}
    return [r for r in repairs if r.target not in still]


def confirm_grading_repairs(repairs: Sequence[Repair]) -> list[Repair]:
    """A re-enqueued submission took effect once graded (finished); an errored one already has."""
    ids = [int(r.target.split(":", 1)[1]) for r in repairs if r.target.startswith("submission:")]
    pending = set(Submission.objects.filter(id__in=ids, status__in=Submission.PENDING).values_list("id", flat=True))
    return [r for r in repairs if int(r.target.split(":", 1)[1]) not in pending]
