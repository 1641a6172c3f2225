"""Every hand-written SQL statement of the outbox and the relay, by name.

Statements are plain constants. Where one repeats a fragment (the relay's wake-up check, the
dead letter's columns, the readers' horizon) it is composed once, here, with psycopg.sql, and
kept as the resulting text; nothing is ever formatted with values (those are parameters).

The tables are described in outbox/sql/*.sql (applied in order by the migrations, and by
relay_bench in its own database). Each statement that moves an event between states does
it in one statement, so no reader sees an event in two states or in none, and no caller
reads, decides in Python, then writes. Guards on `status` make every move idempotent.
"""

from __future__ import annotations

from pathlib import Path

from psycopg import sql

SQL_DIR = Path(__file__).parent / "sql"


def schema_files() -> list[Path]:
    """The outbox DDL files, in order. Released files are never edited; changes add a file."""
    return sorted(SQL_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


# The advisory lock an idle relay holds while it waits for NOTIFY (see WAKE_RELAY).
RELAY_IDLE_LOCK = 7395160
NOTIFY_CHANNEL = "ferry_outbox"


# Waking an idle relay at commit, without a NOTIFY in every commit (ADR 0007). A NOTIFY
# serialises all committing transactions on one lock; so writers send one only when a
# relay is idle and listening. An idle relay holds the exclusive advisory lock
# RELAY_IDLE_LOCK; a writer's shared try-lock fails only then, and only then does the
# writer NOTIFY. A writer whose try-lock succeeds holds the shared lock until it commits,
# so a relay going idle waits for it and then sees its row: no wake-up is lost. (CASE
# evaluates pg_notify only in its ELSE branch.)
WAKE_RELAY = sql.SQL("CASE WHEN pg_try_advisory_xact_lock_shared({lock}) THEN false "
                     "ELSE pg_notify({channel}, '')::text = '' END").format(
    lock=sql.Literal(RELAY_IDLE_LOCK), channel=sql.Literal(NOTIFY_CHANNEL)).as_string()

# One insert into the small hot table, and the wake-up check.
EMIT = sql.SQL("""
INSERT INTO outbox_event (tenant_id, actor_id, trace_id, event_type, aggregate_type, aggregate_id,
                          payload, task_name, queue, channel, redeliver_after, priority, available_at)
VALUES (%(tenant_id)s, %(actor_id)s, %(trace_id)s, %(event_type)s, %(aggregate_type)s, %(aggregate_id)s,
        %(payload)s, %(task_name)s, %(queue)s, %(channel)s, %(redeliver_after)s, %(priority)s,
        now() + %(delay_s)s * interval '1 second')
RETURNING id, event_id, created_at, {wake_relay}
""").format(wake_relay=sql.SQL(WAKE_RELAY)).as_string()

# Claim a batch for relaying: due pending rows in (priority, id) order, skipping rows another
# relay holds, marked relayed with their redelivery deadline (task events) or completed (pub/sub
# events are complete once published). The relay publishes them, then commits.
#
# The keyset condition `(priority, id) > cursor` keeps a long drain from re-walking the dead
# index entries of rows it already claimed; the relay resets the cursor to (-1, 0) whenever a
# claim comes back short, which also picks up rows that committed late with smaller ids.
# Rows are updated by ctid, a TID scan of exactly the rows the subquery locked. The columns
# returned are named as the fields of relays.messages.ClaimedEvent, which is built from them
# by name; the event id goes into messages as text, so Postgres renders it.
CLAIM = """
WITH claimed AS (
    UPDATE outbox_event e
    SET status = CASE WHEN e.task_name IS NULL THEN 'completed' ELSE 'relayed' END,
        attempts = e.attempts + 1,
        relayed_at = now(),
        redeliver_at = now() + make_interval(secs => e.redeliver_after),
        completed_at = CASE WHEN e.task_name IS NULL THEN now() END
    WHERE e.ctid = ANY(ARRAY(
        SELECT ctid FROM outbox_event
        WHERE status = 'pending' AND available_at <= now()
          AND (priority, id) > (%(after_priority)s, %(after_id)s)
        ORDER BY priority, id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    ))
    RETURNING e.id, e.event_id::text AS event_id, e.tenant_id, e.trace_id, e.event_type, e.aggregate_type,
              e.aggregate_id, e.payload, e.task_name, e.queue, e.channel, e.priority, e.created_at, e.txid,
              e.attempts
)
SELECT * FROM claimed ORDER BY priority, id
"""

# How long until the relay may next find work: the earliest deferred pending row.
NEXT_DUE = "SELECT min(available_at) - now() FROM outbox_event WHERE status = 'pending'"

RELAY_LISTEN = sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)).as_string()
RELAY_TRY_IDLE = "SELECT pg_advisory_lock(%s)"
RELAY_END_IDLE = "SELECT pg_advisory_unlock(%s)"

# Move completed events from the hot table to the history, oldest first, in one statement.
# (outbox_history is created LIKE outbox_event: the column order of `*` is the same.)
MOVE_COMPLETED = """
WITH moved AS (
    DELETE FROM outbox_event
    WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM outbox_event WHERE status = 'completed' AND redeliver_at IS NULL
        ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
    ))
    RETURNING *
)
INSERT INTO outbox_history SELECT * FROM moved
"""

# A worker starts executing an event: record the attempt; its number counts executions,
# including ones whose worker died without a trace (a poison message is caught by it).
ATTEMPT_START = """
INSERT INTO outbox_attempt (outbox_id, event_id, attempt, worker, started_at, outcome, error)
SELECT %(outbox_id)s, %(event_id)s, count(*) + 1, %(worker)s, now(), 'running', ''
FROM outbox_attempt WHERE event_id = %(event_id)s
RETURNING id, attempt
"""
ATTEMPT_FINISH = """
UPDATE outbox_attempt SET finished_at = now(), outcome = %(outcome)s, error = %(error)s
WHERE id = %(id)s
"""

# A consumer's effects commit with its inbox row; a duplicate delivery inserts nothing.
INBOX_RECORD = """
INSERT INTO outbox_inbox (event_id, outbox_id, task_name, tenant_id, attempt, worker, processed_at)
VALUES (%(event_id)s, %(outbox_id)s, %(task_name)s, %(tenant_id)s, %(attempt)s, %(worker)s, now())
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

# Mark an event completed; idempotent. A pending event (the sweep queued a redelivery meanwhile)
# completes too, so it is not relayed again; so does a dead one that finally succeeded.
COMPLETE = """
UPDATE outbox_event
SET status = 'completed', completed_at = now(), redeliver_at = NULL, last_error = ''
WHERE id = %(id)s AND status IN ('pending', 'relayed', 'dead')
"""

# A delivery failed and may be retried: pending again after a backoff, keeping the error.
# Only a relayed event moves; a completed, swept or dead one stays as it is.
RESCHEDULE = """
UPDATE outbox_event
SET status = 'pending', available_at = now() + %(delay_s)s * interval '1 second',
    redeliver_at = NULL, last_error = %(error)s
WHERE id = %(id)s AND status = 'relayed'
RETURNING id
"""

_DEAD_LETTER_COLUMNS = sql.SQL(
    "outbox_id, event_id, tenant_id, task_name, event_type, error, traceback, attempts, created_at")

# A delivery failed for good: dead, with a dead letter ops can redrive.
KILL = sql.SQL("""
WITH dead AS (
    UPDATE outbox_event SET status = 'dead', redeliver_at = NULL, last_error = %(error)s
    WHERE id = %(id)s AND status IN ('pending', 'relayed')
    RETURNING id, event_id, tenant_id, task_name, event_type, attempts
)
INSERT INTO outbox_deadletter ({columns})
SELECT id, event_id, tenant_id, task_name, event_type, %(error)s, %(traceback)s, attempts, now()
FROM dead
ON CONFLICT (event_id) DO UPDATE
    SET error = EXCLUDED.error, traceback = EXCLUDED.traceback, attempts = EXCLUDED.attempts,
        created_at = EXCLUDED.created_at, redriven_at = NULL, redriven_by_id = NULL
RETURNING id
""").format(columns=_DEAD_LETTER_COLUMNS).as_string()

# The generic redelivery sweep: task events relayed longer ago than their deadline and never
# completed go back to pending, or die once they have been delivered max_attempts times.
# Returns (id, status) of each event it moved.
SWEEP = sql.SQL("""
WITH due AS (
    SELECT id FROM outbox_event
    WHERE status = 'relayed' AND redeliver_at <= now()
    ORDER BY redeliver_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE outbox_event e
    SET status = CASE WHEN e.attempts >= %(max_attempts)s THEN 'dead' ELSE 'pending' END,
        available_at = now(), redeliver_at = NULL,
        last_error = format('not completed within %%s s of delivery %%s', e.redeliver_after, e.attempts)
    FROM due WHERE e.id = due.id
    RETURNING e.id, e.status, e.event_id, e.tenant_id, e.task_name, e.event_type, e.attempts, e.last_error
), dead_letters AS (
    INSERT INTO outbox_deadletter ({columns})
    SELECT id, event_id, tenant_id, task_name, event_type, last_error, '', attempts, now()
    FROM moved WHERE status = 'dead'
    ON CONFLICT (event_id) DO NOTHING
)
SELECT id, status FROM moved
""").format(columns=_DEAD_LETTER_COLUMNS).as_string()

# Redrive dead events: pending again, with their dead letters marked redriven.
REDRIVE = """
WITH letters AS (
    UPDATE outbox_deadletter SET redriven_at = now(), redriven_by_id = %(actor_id)s
    WHERE id = ANY(%(ids)s) AND redriven_at IS NULL
    RETURNING outbox_id
)
UPDATE outbox_event e SET status = 'pending', available_at = now(), last_error = ''
FROM letters l
WHERE e.id = l.outbox_id AND e.status = 'dead'
RETURNING e.id
"""

# Figures for ops and the relay's metrics (the hot table only holds live rows, so this is cheap).
PENDING_STATS = """
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'pending' AND available_at <= now()) AS due,
       coalesce(extract(epoch FROM now() - min(created_at)
                FILTER (WHERE status = 'pending' AND available_at <= now())), 0) AS oldest_due_age_s,
       count(*) FILTER (WHERE status = 'relayed') AS inflight
FROM outbox_event
"""


# --- reading channels in commit-safe order (outbox/reader.py, ADR 0008 and 0009) ------------
#
# Both follow the commit-safe order of outbox/reader.py: events sort by (txid, id), and a
# read returns only events of transactions below a horizon such that every transaction of
# this database below it has finished as of the statement's own snapshot. No event can then
# appear later before a cursor already passed: one that commits late with a smaller id is
# read after, never skipped.
#
# The horizon differs from read_after's (the snapshot's xmin) in one way: transactions of
# *other databases* on the same server are ignored. They cannot write our outbox, yet xmin
# counts them, so a long transaction anywhere on the server (a migration, a benchmark,
# another application) would stall every live stream until it ended (ADR 0009).

# The first transaction id that may still add events to this database's outbox, as of the
# statement's snapshot: the oldest transaction the snapshot sees running (pg_snapshot_xip:
# 64-bit ids), unless pg_stat_activity shows it belongs to another database (backend_xid:
# the same id's low 32 bits); the snapshot's xmax if none is left. A transaction missing from
# pg_stat_activity (it ended just now, or it is prepared) is kept: a later read sees it.
_LIVE_HORIZON = sql.SQL("""(
    SELECT least(pg_snapshot_xmax(pg_current_snapshot())::text::bigint, min(running::text::bigint))
    FROM pg_snapshot_xip(pg_current_snapshot()) AS running
    WHERE NOT EXISTS (
        SELECT FROM pg_stat_activity AS elsewhere
        WHERE elsewhere.datname <> current_database()
          AND elsewhere.backend_xid::text::bigint = mod(running::text::bigint, 4294967296))
)""")

# The current position: every event below the horizon is at or before (horizon - 1, max id),
# and every event still to commit comes after it. A stream that starts here replays nothing.
CURRENT_POSITION = sql.SQL("SELECT {horizon} - 1").format(horizon=_LIVE_HORIZON).as_string()

# Events of some channels after a cursor, oldest first. From outbox_log, the view over the
# hot table and the history: pub/sub events complete when published and move to the history
# within about a second, and a reconnecting browser may ask for hours of them. The partial
# indexes on (channel, txid, id) of both tables serve it. Channel names carry their tenant
# (core/platform/channels.py), so the channels are the tenant filter. The payload comes as text:
# Django's connections hand jsonb over as text (for JSONField), so it is decoded once, in Python.
READ_CHANNELS_AFTER = sql.SQL("""
SELECT id, txid, event_id::text AS event_id, tenant_id, event_type, aggregate_type, aggregate_id,
       payload::text AS payload, channel,
       created_at
FROM outbox_log
WHERE channel = ANY(%(channels)s)
  AND (txid, id) > (%(txid)s, %(id)s)
  AND txid < {horizon}
ORDER BY txid, id
LIMIT %(limit)s
""").format(horizon=_LIVE_HORIZON).as_string()


# --- maintenance: partitions and archival (outbox/tasks.py, outbox/archive.py) -------------

# Create outbox_history partitions three months ahead (rows never reach the default).
ENSURE_PARTITIONS = "SELECT outbox_ensure_partitions(0, 3)"

# The monthly partitions attached to outbox_history.
HISTORY_PARTITIONS = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = 'outbox_history'
"""

ARCHIVE_SCHEMA = "CREATE SCHEMA IF NOT EXISTS outbox_archive"


def count_partition(name: str) -> sql.Composed:
    return sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))


def export_partition(name: str) -> sql.Composed:
    """A partition's rows as JSON lines, oldest first, for COPY ... TO STDOUT."""
    return sql.SQL("COPY (SELECT row_to_json(h)::text FROM {} h ORDER BY id) TO STDOUT").format(sql.Identifier(name))


def detach_partition(name: str) -> sql.Composed:
    return sql.SQL("ALTER TABLE outbox_history DETACH PARTITION {}").format(sql.Identifier(name))


def move_to_archive(name: str) -> sql.Composed:
    return sql.SQL("ALTER TABLE {} SET SCHEMA outbox_archive").format(sql.Identifier(name))


# --- the relay's own settings ------------------------------------------------------------------

# Becoming the idle listener waits this long for the idle lock: another relay holding it
# already receives the NOTIFYs (relays/relay.py: _become_listener).
RELAY_IDLE_LOCK_TIMEOUT = "SET LOCAL lock_timeout = '50ms'"


# --- ops figures for one agency (core/ops/selectors.py) ----------------------------------------

# A tenant's share of the outbox backlog, from the hot table only (pending rows never reach the
# history), read through its partial index of pending rows: cheap while the backlog is small,
# which is what the relay keeps it.
TENANT_PENDING_STATS = """
SELECT count(*) AS pending,
       count(*) FILTER (WHERE available_at <= now()) AS due,
       coalesce(extract(epoch FROM now() - min(created_at) FILTER (WHERE available_at <= now())), 0) AS oldest_due_age_s
FROM outbox_event
WHERE status = 'pending' AND tenant_id = %(tenant_id)s
"""
