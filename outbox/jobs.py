"""Long-running consumers: claim a job, work outside any transaction, record the result.

Some consumers take seconds or minutes (Optimize Day's solve, a grading run, a heal): they
must not hold a transaction, a lock or a claimed outbox row for that long. Each keeps its
job in a table with the same lifecycle columns (status, attempts, claimed_event,
started_at, deadline_at, finished_at, error) and goes through the same steps
(OutboxTask.run_job):

    queued --claim--> running --record--> done (the table's own final statuses)
       ^                 |
       +----retry--------+----fail------> failed
    queued|running past deadline_at --abandon--> failed

- claim: one conditional UPDATE takes a queued job, or the running job this same event
  already holds (a redelivery after its worker died resumes it). The claim's lease sets
  the deadline: past it, nobody can still be working on the job.
- work: no transaction; may take as long as the task's time limit allows.
- record: inside the task's effects() transaction, with the inbox row and the event's
  completion, conditional on the job still running under this claim.
- abandon: jobs past their deadline are failed with the reason (JobTable.abandon_statement;
  dispatch and ops reap them before new work; submissions have a richer heal,
  heal_pending_gradings, which enqueues them again).

The statements are composed here, per table, with psycopg.sql (adr/0013-layers.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from django.db import connection
from psycopg import sql

C = TypeVar("C")
R = TypeVar("R")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True)
class JobTable:
    """A table of jobs with the lifecycle columns. `abandoned_status` is where a job past its
    deadline ends; `on_abandon` adds constant assignments of the table's own (SQL)."""

    name: str
    abandoned_status: str = "failed"
    on_abandon: str = ""
    claim_statement: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "claim_statement", sql.SQL("""
UPDATE {table}
SET status = 'running', attempts = attempts + 1, claimed_event = %(event_id)s, started_at = now(),
    deadline_at = now() + make_interval(secs => %(lease_s)s)
WHERE id = %(id)s AND tenant_id IS NOT DISTINCT FROM %(tenant_id)s
  AND (status = 'queued' OR (status = 'running' AND claimed_event = %(event_id)s))
RETURNING attempts
""").format(table=sql.Identifier(self.name)).as_string())

    def abandon_statement(self, scope: str = "") -> str:
        """Fail the jobs past their deadline (within `scope`, constant SQL over the table's
        columns and the statement's parameters); returns their ids."""
        extra = sql.SQL(", " + self.on_abandon) if self.on_abandon else sql.SQL("")
        where = sql.SQL(" AND " + scope) if scope else sql.SQL("")
        return sql.SQL("""
UPDATE {table}
SET status = {abandoned}, finished_at = now(), claimed_event = NULL, error = %(error)s{extra}
WHERE status IN ('queued', 'running') AND deadline_at < now(){where}
RETURNING id
""").format(table=sql.Identifier(self.name), abandoned=sql.Literal(self.abandoned_status), extra=extra,
            where=where).as_string()


def claim(table: JobTable, job_id: int, tenant_id: int | None, event_id: str | None, lease_s: float) -> int | None:
    """Take job `job_id` for the delivery of `event_id` (queued, or running under that same
    event) until `lease_s` from now. Returns the attempt number, or None if the job is
    finished, another tenant's, or held by another delivery."""
    with connection.cursor() as cursor:
        cursor.execute(table.claim_statement, {"id": job_id, "tenant_id": tenant_id, "event_id": event_id,
                                               "lease_s": lease_s})
        row = cursor.fetchone()
    return int(row[0]) if row else None


class Job(Protocol[C, R, T_co]):
    """One long-running consumer's work (OutboxTask.run_job runs it).

    claim (its own transaction): the claim, or None if there is nothing to do;
    work (no transaction): the result, however long it takes;
    record (inside the task's effects() transaction): what the task returns;
    failed (its own transaction): note a failure on the job; `final` when the event will
    be dead-lettered rather than retried.
    """

    def claim(self, event_id: str | None) -> C | None: ...

    def work(self, claimed: C) -> R: ...

    def record(self, claimed: C, result: R) -> T_co: ...

    def failed(self, claimed: C, error: BaseException, final: bool) -> None: ...
