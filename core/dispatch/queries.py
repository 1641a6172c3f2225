"""The Optimize Day job's state machine, one conditional statement per move.

Each move names the states it may start from in its WHERE clause and reports, by returning
a row or not, whether it happened; callers never read a status, decide in Python, then
write. That is what makes two racing requests, a redelivered task and a late retry safe:
whichever statement runs second finds the row already moved and changes nothing.

    queued --claim--> running --FINISH--> done
       ^                 |
       +----RETRY--------+--FAIL--> failed      (abandon: queued|running past deadline_at -> failed)

The claim and the abandonment are the shared lifecycle statements of outbox/jobs.py.
"""

from __future__ import annotations

from outbox.jobs import JobTable

OPTIMIZE_JOBS = JobTable("dispatch_optimizejob")

# A new job for (tenant, date) unless one is queued or running: the partial unique index
# dispatch_one_active_job_per_day arbitrates concurrent requests (the loser waits for the
# winner's commit, then inserts nothing and reads the winner's job).
INSERT_JOB = """
INSERT INTO dispatch_optimizejob (tenant_id, date, requested_by_id, status, error, attempts, created_at, deadline_at,
                                  as_of, reason)
VALUES (%(tenant_id)s, %(date)s, %(actor_id)s, 'queued', '', 0, now(),
        now() + make_interval(secs => %(stale_s)s), %(as_of)s, %(reason)s)
ON CONFLICT (tenant_id, date) WHERE status IN ('queued', 'running') DO NOTHING
RETURNING id
"""

# What a claimed job is about (after OPTIMIZE_JOBS' claim took it).
CLAIMED_JOB = "SELECT id, tenant_id, date, attempts, as_of, reason FROM dispatch_optimizejob WHERE id = %(id)s"

FINISH_JOB = """
UPDATE dispatch_optimizejob
SET status = 'done', finished_at = now(), claimed_event = NULL, error = ''
WHERE id = %(id)s AND status = 'running'
RETURNING tenant_id, date, reason
"""

# A failed attempt that will be retried: queued again, keeping the error for the dispatcher,
# with a fresh deadline for the retry to claim it.
RETRY_JOB = """
UPDATE dispatch_optimizejob
SET status = 'queued', error = %(error)s, claimed_event = NULL,
    deadline_at = now() + make_interval(secs => %(stale_s)s)
WHERE id = %(id)s AND status = 'running'
RETURNING tenant_id, date
"""

FAIL_JOB = """
UPDATE dispatch_optimizejob
SET status = 'failed', error = %(error)s, finished_at = now(), claimed_event = NULL
WHERE id = %(id)s AND status IN ('queued', 'running')
RETURNING tenant_id, date
"""

# Jobs of (tenant, date) past their deadline: longer than any delivery, retry or redelivery
# could take, so their worker is gone for good and they stop blocking new requests.
ABANDON_STALE_JOBS = OPTIMIZE_JOBS.abandon_statement("tenant_id = %(tenant_id)s AND date = %(date)s")
