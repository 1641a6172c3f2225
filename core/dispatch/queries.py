"""The Optimize Day job's state machine, one conditional statement per move.

Each move names the states it may start from in its WHERE clause and reports, by returning
a row or not, whether it happened; callers never read a status, decide in Python, then
write. That is what makes two racing requests, a redelivered task and a late retry safe:
whichever statement runs second finds the row already moved and changes nothing.

    queued --START--> running --FINISH--> done
       ^                 |
       +----RETRY--------+--FAIL--> failed      (ABANDON: queued|running, silent too long -> failed)
"""

from __future__ import annotations

# A new job for (tenant, date) unless one is queued or running: the partial unique index
# dispatch_one_active_job_per_day arbitrates concurrent requests (the loser waits for the
# winner's commit, then inserts nothing and reads the winner's job).
INSERT_JOB = """
INSERT INTO dispatch_optimizejob (tenant_id, date, requested_by_id, status, error, attempts,
                                  created_at, status_changed_at)
VALUES (%(tenant_id)s, %(date)s, %(actor_id)s, 'queued', '', 0, now(), now())
ON CONFLICT (tenant_id, date) WHERE status IN ('queued', 'running') DO NOTHING
RETURNING id
"""

# A worker takes the job. From running too: the previous worker died mid-solve and the
# event was redelivered; whichever delivery commits its effects first wins (the other's
# FINISH finds the job done and its inbox insert conflicts).
START_JOB = """
UPDATE dispatch_optimizejob
SET status = 'running', started_at = now(), status_changed_at = now(), attempts = attempts + 1
WHERE id = %(id)s AND tenant_id = %(tenant_id)s AND status IN ('queued', 'running')
RETURNING id, tenant_id, date, attempts
"""

FINISH_JOB = """
UPDATE dispatch_optimizejob
SET status = 'done', finished_at = now(), status_changed_at = now(), error = ''
WHERE id = %(id)s AND status = 'running'
RETURNING tenant_id, date
"""

# A failed attempt that will be retried: queued again, keeping the error for the dispatcher.
RETRY_JOB = """
UPDATE dispatch_optimizejob
SET status = 'queued', error = %(error)s, status_changed_at = now()
WHERE id = %(id)s AND status = 'running'
RETURNING tenant_id, date
"""

FAIL_JOB = """
UPDATE dispatch_optimizejob
SET status = 'failed', error = %(error)s, finished_at = now(), status_changed_at = now()
WHERE id = %(id)s AND status IN ('queued', 'running')
RETURNING tenant_id, date
"""

# Jobs of (tenant, date) whose status has not moved for longer than any delivery, retry or
# redelivery could take: their worker is gone for good, so they stop blocking new requests.
ABANDON_STALE_JOBS = """
UPDATE dispatch_optimizejob
SET status = 'failed', finished_at = now(), status_changed_at = now(),
    error = 'abandoned: no progress for ' || %(stale_s)s || ' s (the worker was lost)'
WHERE tenant_id = %(tenant_id)s AND date = %(date)s AND status IN ('queued', 'running')
  AND status_changed_at < now() - %(stale_s)s * interval '1 second'
RETURNING id
"""
