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

# The event's row, as emit() queues it to run just before the commit (one pipeline with the
# COMMIT: core/platform/postgresql). The event id is made by the caller; nothing is returned.
# The same statement wakes the relay if it is idle (WAKE_RELAY, evaluated once: a volatile
# subquery is never folded away), so an event costs its writer one statement. It runs prepared
# (server-side binding): the casts type the parameters of the SELECT list.
EMIT = sql.SQL("""
INSERT INTO outbox_event (event_id, tenant_id, actor_id, trace_id, event_type, aggregate_type, aggregate_id,
                          payload, task_name, queue, channel, redeliver_after, priority, available_at)
SELECT %(event_id)s::uuid, %(tenant_id)s::bigint, %(actor_id)s::bigint, %(trace_id)s::text, %(event_type)s::text,
       %(aggregate_type)s::text, %(aggregate_id)s::text, %(payload)s::jsonb, %(task_name)s::text, %(queue)s::text,
       %(channel)s::text, %(redeliver_after)s::integer, %(priority)s::smallint,
       now() + %(delay_s)s::float8 * interval '1 second'
FROM (SELECT {wake_relay} AS woken) wake
""").format(wake_relay=sql.SQL(WAKE_RELAY)).as_string()

# An event with an ordering key takes the key's next sequence number in the same statement.
# The upsert locks the key's row until the transaction ends, so transactions emitting for one
# key commit one after the other and the sequence is their commit order (adr/0014).
EMIT_KEYED = sql.SQL("""
WITH seq AS (
    INSERT INTO outbox_key AS k (ordering_key, last_seq) VALUES (%(ordering_key)s::text, 1)
    ON CONFLICT (ordering_key) DO UPDATE SET last_seq = k.last_seq + 1
    RETURNING last_seq
)
INSERT INTO outbox_event (event_id, tenant_id, actor_id, trace_id, event_type, aggregate_type, aggregate_id,
                          payload, task_name, queue, channel, redeliver_after, priority, available_at,
                          ordering_key, key_seq, key_holds)
SELECT %(event_id)s::uuid, %(tenant_id)s::bigint, %(actor_id)s::bigint, %(trace_id)s::text, %(event_type)s::text,
       %(aggregate_type)s::text, %(aggregate_id)s::text, %(payload)s::jsonb, %(task_name)s::text, %(queue)s::text,
       %(channel)s::text, %(redeliver_after)s::integer, %(priority)s::smallint,
       now() + %(delay_s)s::float8 * interval '1 second', %(ordering_key)s::text, seq.last_seq, %(key_holds)s::boolean
FROM seq, (SELECT {wake_relay} AS woken) wake
""").format(wake_relay=sql.SQL(WAKE_RELAY)).as_string()

# A timestamp column as ISO 8601 text in UTC ("2026-12-06T11:34:21.344159+00:00", what Python's
# datetime.fromisoformat reads back): the keyset of an export, the times of its lines,
# the time in a relayed message's envelope header.
ISO_UTC = """to_char({} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"')"""

# A relayed Celery message, filled by the claim from a template (ADR 0007): `templates` is
# {task name: [text, text, ..., text, embed]}, relays.messages.CeleryMessages.sql_templates: the
# task's envelope cut at the values that differ per event, MESSAGE_SLOTS in this order, with the
# body's embed last. Each slot is filled with its JSON: the body is the keyword arguments (the
# payload, an object without a tenant_id key as emit() ensures, and the tenant) in kombu's
# base64; the task id; the keyword arguments again for kwargsrepr (what a worker logs); the
# envelope header; the queue; a delivery tag (`tag_prefix` and the row id). Concatenation, not
# format(): it costs about half as much per row.
MESSAGE_SLOTS = ("body", "id", "id", "kwargsrepr", "ferry", "id", "queue", "tag")
_SLOT_SQL = {
    "body": f"""'"' || replace(encode(convert_to('[[],' || m.kwargs || ',' || t.parts[{len(MESSAGE_SLOTS) + 2}] || ']',
                                                 'UTF8'), 'base64'), chr(10), '') || '"'""",
    "id": """'"' || c.event_id || '"'""",
    "kwargsrepr": "to_json(left(m.kwargs, 256))::text",
    "ferry": """'{"id":' || c.id || ',"created_at":"' || """ + ISO_UTC.format("c.created_at") + """
                || '","event_id":"' || c.event_id || '","event_type":' || to_json(c.event_type)::text
                || ',"trace_id":' || to_json(c.trace_id)::text || '}'""",
    "queue": "to_json(c.queue)::text",
    "tag": """'"' || %(tag_prefix)s || c.id || '"'""",
}
_MESSAGE = "\n       || ".join(["t.parts[1]"] + [f"{_SLOT_SQL[slot]} || t.parts[{n}]"
                                                for n, slot in enumerate(MESSAGE_SLOTS, start=2)])

# Claim a batch for relaying, shared fairly among the tenants with due events (adr/0014):
#
# - the tenants are found by a skip scan of the claim index (one probe per tenant, however
#   long their backlogs), from the highest tenant id down: a probe lands on the end of a
#   tenant's entries, its newest pending rows, while the entries of rows already claimed lie
#   at the front of its range until vacuum removes them (probing upwards walked all of them,
#   so each claim of a long drain got slower); each tenant gets an equal share of the batch,
#   in (priority, id) order;
# - a task queue that already holds its bound of waiting messages gets only the `room` left
#   (the relay counts the messages in Redis; pub/sub, queue '', has room for a whole batch):
#   a flood waits in PostgreSQL, where claims are fair, instead of in a Redis list that every
#   other tenant's task would queue behind. A queue with no room is not scanned at all (the
#   index leads with tenant, then queue), and its room is dealt to the tenants round robin,
#   starting after `deal_after`, the last tenant dealt to;
# - a keyed event is claimed only when it is its key's next (key_seq = done_seq + 1: every
#   earlier one has completed, or died letting the key pass), so one key's events take
#   effect one at a time and in order while other keys go on in parallel. An event whose
#   key_seq is NULL (no key, or a passed dead letter redriven) is not held.
#
# Each (tenant, queue) scan starts after a keyset cursor (`after`: {"tenant:queue": [priority,
# id]}), so a long drain does not re-walk the dead index entries of rows it already claimed;
# the relay clears a tenant's cursors when it got less than its share, which also picks up
# rows that committed late with smaller ids. Rows another relay holds are skipped; rows are
# updated by ctid, exactly the rows locked. Task events are marked relayed with their
# redelivery deadline, pub/sub events completed (they are complete once published); the relay
# publishes them, then commits. The columns returned are named as the fields of
# relays.messages.ClaimedEvent.
#
# A task event whose task name has a template in `templates` comes back with its whole Celery
# message in `message`, filled here (see MESSAGE_SLOTS), and without its payload and creation
# time (what only building it needs); others come back with `message` NULL and the relay builds
# them.
CLAIM = sql.SQL("""
WITH RECURSIVE tenants(k) AS (
    (SELECT coalesce(tenant_id, 0) FROM outbox_event
     WHERE status = 'pending' AND coalesce(tenant_id, 0) < %(before_tenant)s
     ORDER BY coalesce(tenant_id, 0) DESC LIMIT 1)
    UNION ALL
    SELECT (SELECT coalesce(e.tenant_id, 0) FROM outbox_event e
            WHERE e.status = 'pending' AND coalesce(e.tenant_id, 0) < t.k
            ORDER BY coalesce(e.tenant_id, 0) DESC LIMIT 1)
    FROM tenants t WHERE t.k IS NOT NULL
), shares AS MATERIALIZED (
    SELECT k, ceil(%(limit)s::numeric / count(*) OVER ())::int AS share
    FROM (SELECT k FROM tenants WHERE k IS NOT NULL LIMIT %(max_tenants)s) found
), room AS MATERIALIZED (
    SELECT key AS q, value::int AS room FROM jsonb_each_text(%(room)s::jsonb) WHERE value::int > 0
), templates AS MATERIALIZED (
    SELECT key AS task_name, ARRAY(SELECT jsonb_array_elements_text(value)) AS parts
    FROM jsonb_each(%(templates)s::jsonb)
), candidates AS MATERIALIZED (
    SELECT s.k, s.share, r.q, r.room, c.ctid, c.priority, c.id
    FROM shares s
    CROSS JOIN room r
    CROSS JOIN LATERAL (
        SELECT e.ctid, e.priority, e.id FROM outbox_event e
        WHERE e.status = 'pending' AND coalesce(e.tenant_id, 0) = s.k AND coalesce(e.queue, '') = r.q
          AND e.available_at <= now()
          AND (e.priority, e.id) > (coalesce((%(after)s::jsonb -> (s.k || ':' || r.q) ->> 0)::int, -1),
                                    coalesce((%(after)s::jsonb -> (s.k || ':' || r.q) ->> 1)::bigint, 0))
          AND (e.key_seq IS NULL
               OR e.key_seq = (SELECT ok.done_seq + 1 FROM outbox_key ok WHERE ok.ordering_key = e.ordering_key))
        ORDER BY e.priority, e.id
        LIMIT least(s.share, r.room)
        FOR UPDATE SKIP LOCKED
    ) c
), shared AS (
    SELECT k, share, q, room, ctid, row_number() OVER (PARTITION BY k ORDER BY priority, id) AS nth
    FROM candidates
), dealt AS (
    SELECT ctid, room, row_number() OVER (PARTITION BY q ORDER BY nth, k <= %(deal_after)s, k) AS place
    FROM shared WHERE nth <= share
), claimed AS (
    UPDATE outbox_event e
    SET status = CASE WHEN e.task_name IS NULL THEN 'completed' ELSE 'relayed' END,
        attempts = e.attempts + 1,
        relayed_at = now(),
        redeliver_at = now() + make_interval(secs => e.redeliver_after),
        completed_at = CASE WHEN e.task_name IS NULL THEN now() END
    WHERE e.ctid = ANY(ARRAY(SELECT ctid FROM dealt WHERE place <= room))
    RETURNING e.id, e.event_id::text AS event_id, e.tenant_id, e.trace_id, e.event_type, e.aggregate_type,
              e.aggregate_id, e.payload, e.task_name, e.queue, e.channel, e.priority, e.created_at, e.txid,
              e.attempts, e.ordering_key
)
SELECT c.id, c.event_id, c.tenant_id, c.trace_id, c.event_type, c.aggregate_type, c.aggregate_id,
       CASE WHEN t.parts IS NULL THEN c.payload END AS payload, c.task_name, c.queue, c.channel, c.priority,
       CASE WHEN t.parts IS NULL THEN c.created_at END AS created_at, c.txid, c.attempts, c.ordering_key,
       {message} AS message,
       (SELECT max(share) FROM shares) AS batch_share, (SELECT count(*) FROM shares) AS batch_tenants
FROM claimed c
LEFT JOIN templates t ON t.task_name = c.task_name
CROSS JOIN LATERAL (
    SELECT left(p, -1) || CASE WHEN p = '{{}}' THEN '' ELSE ', ' END
           || '"tenant_id": ' || coalesce(c.tenant_id::text, 'null') || '}}' AS kwargs
    FROM (SELECT CASE WHEN t.parts IS NOT NULL THEN c.payload::text END AS p) payload
) m
ORDER BY c.priority, c.id
""").format(message=sql.SQL(_MESSAGE)).as_string()

# Whether due events wait for room in any of `queues` (the relay then polls for room).
WAITING_FOR_ROOM = """
SELECT 1 FROM outbox_event
WHERE status = 'pending' AND queue = ANY(%(queues)s) AND available_at <= now()
LIMIT 1
"""

# How long until the relay may next find work: the earliest deferred pending row. Rows due
# already but not claimed wait for something that wakes the relay by itself: the completion of
# their key's previous event, or room in their queue (the relay polls while it holds any back).
NEXT_DUE = "SELECT min(available_at) - now() FROM outbox_event WHERE status = 'pending' AND available_at > now()"

# The relay's commits return before their WAL is flushed (ADR 0007): what a crash of the
# database loses is a claim, whose rows are pending again and are published again.
RELAY_ASYNC_COMMIT = "SET synchronous_commit = off"
# The newest row's id: a lingering relay's probe for new commits (the primary key's last entry).
NEWEST_ID = "SELECT max(id) FROM outbox_event"
RELAY_LISTEN = sql.SQL("LISTEN {}").format(sql.Identifier(NOTIFY_CHANNEL)).as_string()
RELAY_TRY_IDLE = "SELECT pg_advisory_lock(%s)"
RELAY_END_IDLE = "SELECT pg_advisory_unlock(%s)"

# Latency histograms have this many buckets (outbox_metric_bucket: 0..16; outbox/metrics.py).
METRIC_BUCKETS = 17


def _histogram(column: str) -> sql.Composable:
    """ARRAY[count of rows whose `column` is bucket 0, ..., bucket 16]."""
    return sql.SQL("ARRAY[{}]").format(sql.SQL(", ").join(
        sql.SQL("count(*) FILTER (WHERE {} = {})::int").format(sql.Identifier(column), sql.Literal(b))
        for b in range(METRIC_BUCKETS)))


def _rollup(table: str, unit: str) -> sql.Composable:
    """Add the moved events' figures to the rollup `table` at `unit` ('minute' or 'hour'), in
    key order so that two movers never wait on each other's rows in opposite orders."""
    return sql.SQL("""
INSERT INTO {table} AS m (at, tenant_id, event_type, task_name, queue, emitted, relayed, completed, retried,
                         lag_hist, effect_hist)
SELECT date_trunc({unit}, at, 'UTC'), tenant_id, event_type, task_name, queue, sum(emitted), sum(relayed),
       sum(completed), sum(retried), {lag}, {effect}
FROM points
GROUP BY 1, 2, 3, 4, 5
ORDER BY 2, 1, 3, 4, 5
ON CONFLICT (tenant_id, at, event_type, task_name, queue) DO UPDATE
SET emitted = m.emitted + EXCLUDED.emitted, relayed = m.relayed + EXCLUDED.relayed,
    completed = m.completed + EXCLUDED.completed, retried = m.retried + EXCLUDED.retried,
    lag_hist = outbox_hist_add(m.lag_hist, EXCLUDED.lag_hist),
    effect_hist = outbox_hist_add(m.effect_hist, EXCLUDED.effect_hist)
""").format(table=sql.Identifier(table), unit=sql.Literal(unit), lag=_histogram("lag_bucket"),
            effect=_histogram("effect_bucket"))


# Move completed events from the hot table to the history, oldest first, in one statement,
# and add them to the figures' rollups per minute and per hour (adr/0023): emitted in their
# created minute, relayed in their relayed minute, completed with their retries and latencies
# in their completed minute. Every completed event passes here exactly once, so the rollups
# count each once, in the transaction that moves it. The statement's row count is the number
# of events moved (data-modifying CTEs run whether or not the main statement reads them).
# (outbox_history is created LIKE outbox_event: the column order of `*` is the same.)
MOVE_COMPLETED = sql.SQL("""
WITH moved AS (
    DELETE FROM outbox_event
    WHERE ctid = ANY(ARRAY(
        SELECT ctid FROM outbox_event WHERE status = 'completed' AND redeliver_at IS NULL
        ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED
    ))
    RETURNING *
), keyed AS (
    SELECT coalesce(tenant_id, 0) AS tenant_id, event_type, coalesce(task_name, '') AS task_name,
           coalesce(queue, '') AS queue, created_at, available_at, relayed_at, completed_at, attempts
    FROM moved
), points AS (
    SELECT created_at AS at, tenant_id, event_type, task_name, queue, 1 AS emitted, 0 AS relayed,
           0 AS completed, 0 AS retried, NULL::int AS lag_bucket, NULL::int AS effect_bucket
    FROM keyed
    UNION ALL
    -- relay lag: from due (available_at) to relayed
    SELECT relayed_at, tenant_id, event_type, task_name, queue, 0, 1, 0, 0,
           outbox_metric_bucket(1000 * extract(epoch FROM greatest(relayed_at - available_at, interval '0'))), NULL
    FROM keyed WHERE relayed_at IS NOT NULL
    UNION ALL
    -- commit -> effect: from created (the emitting transaction) to completed
    SELECT completed_at, tenant_id, event_type, task_name, queue, 0, 0, 1, greatest(attempts - 1, 0), NULL,
           outbox_metric_bucket(1000 * extract(epoch FROM greatest(completed_at - created_at, interval '0')))
    FROM keyed WHERE completed_at IS NOT NULL
), by_minute AS ({minute}
), by_hour AS ({hour}
)
INSERT INTO outbox_history SELECT * FROM moved
""").format(minute=_rollup("outbox_metric_minute", "minute"), hour=_rollup("outbox_metric_hour", "hour")).as_string()

# A worker starts executing an event: record the attempt; its number counts executions,
# including ones whose worker died without a trace (a poison message is caught by it). Nothing
# is recorded, and no row returned, when the inbox holds the event already: a duplicate.
_ATTEMPT_START = """
INSERT INTO outbox_attempt (outbox_id, event_id, attempt, worker, started_at, outcome, error)
SELECT %(outbox_id)s::bigint, %(event_id)s::uuid, count(*) + 1, %(worker)s::text, now(), 'running', ''
FROM outbox_attempt WHERE event_id = %(event_id)s
HAVING NOT EXISTS (SELECT FROM outbox_inbox WHERE event_id = %(event_id)s){async_commit}
RETURNING id, attempt
"""
ATTEMPT_START = _ATTEMPT_START.format(async_commit="")
# The same, run as a transaction of its own whose commit does not wait for the WAL to reach disk
# (set_config's local value holds until the statement's own transaction commits): an attempt a
# crash of the database forgets is counted one short, and the effect's commit, which waits,
# makes every earlier record durable with it. A worker's event then costs one flush, as a plain
# Celery task's does, not two. Never inside a caller's transaction: that would make its commit
# asynchronous too (outbox.consumers picks by the connection's autocommit).
ATTEMPT_START_OWN = _ATTEMPT_START.format(
    async_commit="\n   AND set_config('synchronous_commit', 'off', true) = 'off'")
ATTEMPT_FINISH = """
UPDATE outbox_attempt SET finished_at = now(), outcome = %(outcome)s, error = %(error)s
WHERE id = %(id)s
"""

# An ordering key goes on past the events of `source` (a CTE with ordering_key and key_seq):
# its next event may be claimed. Yields the keys advanced.
_ADVANCE_KEYS = """
UPDATE outbox_key k SET done_seq = greatest(k.done_seq, s.key_seq)
FROM (SELECT ordering_key, max(key_seq) AS key_seq FROM {source}
      WHERE key_seq IS NOT NULL GROUP BY ordering_key) s
WHERE k.ordering_key = s.ordering_key
RETURNING k.ordering_key
"""

# Completing an event: idempotent. A pending event (the sweep queued a redelivery meanwhile)
# completes too, so it is not relayed again; so does a dead one that finally succeeded.
_COMPLETE_EVENT = """
UPDATE outbox_event
SET status = 'completed', completed_at = now(), redeliver_at = NULL, last_error = ''
WHERE id = %(outbox_id)s AND status IN ('pending', 'relayed', 'dead') {condition}
RETURNING ordering_key, key_seq
"""

# Mark an event completed. A keyed event's completion lets its key's next event go: an idle
# relay is woken for it.
COMPLETE = sql.SQL("""
WITH done AS ({complete}), advanced AS ({advance})
SELECT {wake_relay} FROM advanced LIMIT 1
""").format(complete=sql.SQL(_COMPLETE_EVENT.format(condition="")),
            advance=sql.SQL(_ADVANCE_KEYS.format(source="done")), wake_relay=sql.SQL(WAKE_RELAY)).as_string()

# A consumer's effects commit with what this statement records, in one round trip, first in
# their transaction: its inbox row, the event's completion and its attempt's success. A
# duplicate delivery (another delivery's inbox row is there) records nothing and returns
# recorded = 0. A keyed event's key is advanced by ADVANCE_KEY at the end of the same
# transaction, not here: the task's own locks (a content row it reads FOR SHARE) come first and
# the key's row last, the order in which a writer takes them (its row, then the key of the
# event it emits at commit), so the two never wait on each other in a cycle.
RECORD_EFFECT = sql.SQL("""
WITH inbox AS (
    INSERT INTO outbox_inbox (event_id, outbox_id, task_name, tenant_id, attempt, worker, processed_at)
    VALUES (%(event_id)s, %(outbox_id)s, %(task_name)s, %(tenant_id)s, %(attempt)s, %(worker)s, now())
    ON CONFLICT (event_id) DO NOTHING
    RETURNING event_id
), done AS ({complete}), finished AS (
    UPDATE outbox_attempt SET finished_at = now(), outcome = 'succeeded', error = ''
    WHERE id = %(attempt_id)s AND EXISTS (SELECT FROM inbox)
)
SELECT (SELECT count(*) FROM inbox) AS recorded, (SELECT ordering_key FROM done) AS ordering_key,
       (SELECT key_seq FROM done) AS key_seq
""").format(complete=sql.SQL(_COMPLETE_EVENT.format(condition="AND EXISTS (SELECT FROM inbox)"))).as_string()

# The completed keyed event lets its key's next event go (an idle relay is woken for it); run
# last in the consumer's effects transaction (RECORD_EFFECT says why).
ADVANCE_KEY = sql.SQL("""
WITH done AS (SELECT %(ordering_key)s::text AS ordering_key, %(key_seq)s::bigint AS key_seq),
advanced AS ({advance})
SELECT {wake_relay} FROM advanced LIMIT 1
""").format(advance=sql.SQL(_ADVANCE_KEYS.format(source="done")), wake_relay=sql.SQL(WAKE_RELAY)).as_string()

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

# A delivery failed for good: dead, with a dead letter ops can redrive. A dead event whose key
# may pass lets its key go on (the next event is woken as after a completion).
KILL = sql.SQL("""
WITH dead AS (
    UPDATE outbox_event SET status = 'dead', redeliver_at = NULL, last_error = %(error)s
    WHERE id = %(id)s AND status IN ('pending', 'relayed')
    RETURNING id, event_id, tenant_id, task_name, event_type, attempts, ordering_key,
              CASE WHEN NOT key_holds THEN key_seq END AS key_seq
), advanced AS ({advance}), woken AS (
    SELECT {wake_relay} FROM advanced LIMIT 1
)
INSERT INTO outbox_deadletter ({columns})
SELECT id, event_id, tenant_id, task_name, event_type, %(error)s, %(traceback)s, attempts, now()
FROM dead, (SELECT count(*) FROM woken) w
ON CONFLICT (event_id) DO UPDATE
    SET error = EXCLUDED.error, traceback = EXCLUDED.traceback, attempts = EXCLUDED.attempts,
        created_at = EXCLUDED.created_at, redriven_at = NULL, redriven_by_id = NULL,
        discarded_at = NULL, discarded_by_id = NULL
RETURNING id
""").format(columns=_DEAD_LETTER_COLUMNS, advance=sql.SQL(_ADVANCE_KEYS.format(source="dead")),
            wake_relay=sql.SQL(WAKE_RELAY)).as_string()

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
    RETURNING e.id, e.status, e.event_id, e.tenant_id, e.task_name, e.event_type, e.attempts, e.last_error,
              e.ordering_key, CASE WHEN e.status = 'dead' AND NOT e.key_holds THEN e.key_seq END AS key_seq
), dead_letters AS (
    INSERT INTO outbox_deadletter ({columns})
    SELECT id, event_id, tenant_id, task_name, event_type, last_error, '', attempts, now()
    FROM moved WHERE status = 'dead'
    ON CONFLICT (event_id) DO NOTHING
), advanced AS ({advance})
SELECT id, status FROM moved
""").format(columns=_DEAD_LETTER_COLUMNS, advance=sql.SQL(_ADVANCE_KEYS.format(source="moved"))).as_string()

# Redrive dead events: pending again, with their dead letters marked redriven. A dead event
# that held its key is its key's next again; one whose key passed it goes out unordered (its
# key_seq is cleared: the key's later events have taken effect already).
REDRIVE = """
WITH letters AS (
    UPDATE outbox_deadletter SET redriven_at = now(), redriven_by_id = %(actor_id)s
    WHERE id = ANY(%(ids)s) AND redriven_at IS NULL AND discarded_at IS NULL
    RETURNING outbox_id
)
UPDATE outbox_event e SET status = 'pending', available_at = now(), last_error = '',
                          key_seq = CASE WHEN e.key_holds THEN e.key_seq END
FROM letters l
WHERE e.id = l.outbox_id AND e.status = 'dead'
RETURNING e.id
"""

# Forget ordering keys with nothing unfinished (every event done or passed); a key emitted for
# again starts a new sequence. The upsert in EMIT_KEYED holds the row's lock, so a key being
# emitted for is re-checked and kept.
PRUNE_KEYS = """
DELETE FROM outbox_key WHERE ctid = ANY(ARRAY(
    SELECT ctid FROM outbox_key WHERE done_seq = last_seq LIMIT %(limit)s FOR UPDATE SKIP LOCKED))
"""

# Figures for ops and the relay's metrics (the hot table only holds live rows, so this is cheap).
PENDING_STATS = """
SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'pending' AND available_at <= now()) AS due,
       coalesce(extract(epoch FROM now() - min(created_at)
                FILTER (WHERE status = 'pending' AND available_at <= now())), 0) AS oldest_due_age_s,
       count(*) FILTER (WHERE status = 'relayed') AS inflight,
       count(*) FILTER (WHERE status = 'dead') AS dead
FROM outbox_event
"""

# The same lag by event type (event types are names in code: a bounded label set).
LAG_BY_EVENT_TYPE = """
SELECT event_type, coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS lag_s
FROM outbox_event WHERE status = 'pending' AND available_at <= now()
GROUP BY event_type
"""


# --- reading channels in commit-safe order (outbox/reader.py, ADR 0008 and 0009) ------------
#
# Both follow the commit-safe order of outbox/reader.py: events sort by (txid, id), and a
# read returns only events of transactions below a horizon such that every transaction of
# this database below it has finished as of the statement's own snapshot. No event can then
# appear later before a cursor already passed: one that commits late with a smaller id is
# read after, never skipped.
#
# The horizon is not simply the snapshot's xmin: transactions of *other databases* on the same
# server are ignored. They cannot write our outbox, yet xmin counts them, so a long transaction
# anywhere on the server (a migration, a benchmark, another application) would stall every
# reader until it ended (ADR 0009).

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

# The horizon alone, for read_after's ORM query.
HORIZON = _LIVE_HORIZON.as_string()

# The current position: every event below the horizon is at or before (horizon - 1, max id),
# and every event still to commit comes after it. A stream that starts here replays nothing.
CURRENT_POSITION = sql.SQL("SELECT {horizon} - 1").format(horizon=_LIVE_HORIZON).as_string()

# An export's horizon (outbox.selectors.export): every event of a transaction below it has
# committed or never will, as of this statement; an export takes it once, at its start.
EXPORT_HORIZON = sql.SQL("SELECT {horizon}").format(horizon=_LIVE_HORIZON).as_string()

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

# A dead letter's fingerprint: its task, its exception class, and its message with what varies
# from one event to the next taken out (ids, numbers, quoted values), so that one cause is one
# group. The error is recorded as "ExceptionClass: message" (outbox/consumers.py).
_DEAD_MESSAGE = sql.SQL("""left(btrim(regexp_replace(regexp_replace(regexp_replace(
    substr(d.error, strpos(d.error, ':') + 1),
    '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '<id>', 'g'),
    $q$'[^']*'|"[^"]*"$q$, '<value>', 'g'),
    '[0-9]+', 'N', 'g')), 200)""")
_DEAD_FINGERPRINT = sql.SQL(
    "md5(coalesce(d.task_name, '') || '|' || split_part(d.error, ':', 1) || '|' || {message})").format(
    message=_DEAD_MESSAGE)

# Open dead letters grouped by fingerprint: how many, first and last seen, the newest one as
# the sample (of one tenant, or of all when tenant_id is NULL).
DEAD_LETTER_GROUPS = sql.SQL("""
SELECT {fingerprint} AS fingerprint, d.task_name, split_part(d.error, ':', 1) AS exception,
       {message} AS message, count(*) AS letters, min(d.created_at) AS first_seen,
       max(d.created_at) AS last_seen, (array_agg(d.id ORDER BY d.created_at DESC, d.id DESC))[1] AS sample_id
FROM outbox_deadletter d
WHERE d.redriven_at IS NULL AND d.discarded_at IS NULL
  AND (%(tenant_id)s::bigint IS NULL OR d.tenant_id = %(tenant_id)s)
GROUP BY 1, 2, 3, 4
ORDER BY letters DESC, last_seen DESC
LIMIT %(limit)s
""").format(fingerprint=_DEAD_FINGERPRINT, message=_DEAD_MESSAGE).as_string()

# The open dead letters an operator's filter chooses (outbox.selectors.DeadLetterFilter): of
# one tenant or all, by event type, task, fingerprint, a window of when they died, and none
# that died after `as_of` (the moment the operator saw the count). Each condition is off when
# its parameter is NULL. Dead letters are few (retention keeps them bounded), so one scan of
# the open ones, read through outbox_deadletter_open, answers every combination.
_DEAD_LETTERS_MATCHING = sql.SQL("""
FROM outbox_deadletter d
WHERE d.redriven_at IS NULL AND d.discarded_at IS NULL
  AND (%(tenant_id)s::bigint IS NULL OR d.tenant_id = %(tenant_id)s)
  AND (%(event_type)s::text IS NULL OR d.event_type = %(event_type)s)
  AND (%(task_name)s::text IS NULL OR d.task_name = %(task_name)s)
  AND (%(fingerprint)s::text IS NULL OR {fingerprint} = %(fingerprint)s)
  AND (%(since)s::timestamptz IS NULL OR d.created_at >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR d.created_at < %(until)s)
  AND (%(as_of)s::timestamptz IS NULL OR d.created_at <= %(as_of)s)
""").format(fingerprint=_DEAD_FINGERPRINT)

# How many letters match, and the next chunk of their ids (in id order, after `after_id`).
COUNT_DEAD_LETTERS_MATCHING = sql.SQL("SELECT count(*) {matching}").format(
    matching=_DEAD_LETTERS_MATCHING).as_string()
DEAD_LETTERS_MATCHING = sql.SQL("SELECT d.id {matching} AND d.id > %(after_id)s ORDER BY d.id LIMIT %(limit)s").format(
    matching=_DEAD_LETTERS_MATCHING).as_string()

# Set dead letters aside: closed without sending their events again (the events stay dead).
# Returns the ids it closed; a letter closed already (redriven or discarded) is left as it is.
DISCARD = """
UPDATE outbox_deadletter SET discarded_at = now(), discarded_by_id = %(actor_id)s
WHERE id = ANY(%(ids)s) AND redriven_at IS NULL AND discarded_at IS NULL
RETURNING id
"""


# --- the figures' rollups (adr/0023) -------------------------------------------------------

# Dead letters are counted apart from the mover (dead events stay in the hot table): each run
# recounts `dead` of every minute and hour since %(since)s from the dead letters themselves,
# so a letter killed again (its created_at moves) or a run cut short is set right by the next.
# First the window's counts go to zero, then the upserts set them (two statements: one
# statement may not change a row twice).
ZERO_DEAD = """
UPDATE {table} SET dead = 0 WHERE at >= %(since)s AND dead <> 0
"""
COUNT_DEAD = """
INSERT INTO {table} AS m (at, tenant_id, event_type, task_name, queue, dead)
SELECT date_trunc({unit}, d.created_at, 'UTC'), coalesce(d.tenant_id, 0), d.event_type,
       coalesce(d.task_name, ''), coalesce(e.queue, ''), count(*)
FROM outbox_deadletter d LEFT JOIN outbox_event e ON e.id = d.outbox_id
WHERE d.created_at >= %(since)s
GROUP BY 1, 2, 3, 4, 5
ORDER BY 2, 1, 3, 4, 5
ON CONFLICT (tenant_id, at, event_type, task_name, queue) DO UPDATE SET dead = EXCLUDED.dead
"""
DEAD_COUNTED_UNTIL = "SELECT until FROM outbox_metric_state WHERE name = 'dead'"
DEAD_COUNTED = """
INSERT INTO outbox_metric_state (name, until) VALUES ('dead', %(until)s)
ON CONFLICT (name) DO UPDATE SET until = EXCLUDED.until
"""

# One tenant's series over a window, in buckets of %(step)s seconds (aligned to the epoch),
# from the rollup table given: sums of the counts and of the histograms, per bucket. The
# histograms are summed as a set (each bucket's counts by position), not row by row through
# outbox_hist_add: at a day of minutes that is ten times faster.
METRIC_SERIES = """
WITH picked AS (
    SELECT to_timestamp(floor(extract(epoch FROM at) / %(step)s) * %(step)s) AS bucket, emitted, relayed,
           completed, retried, dead, lag_hist, effect_hist
    FROM {table}
    WHERE tenant_id = %(tenant_id)s AND at >= %(since)s AND at < %(until)s
), counts AS (
    SELECT bucket, sum(emitted)::bigint AS emitted, sum(relayed)::bigint AS relayed,
           sum(completed)::bigint AS completed, sum(retried)::bigint AS retried, sum(dead)::bigint AS dead
    FROM picked GROUP BY bucket
), lag AS (
    SELECT bucket, array_agg(n ORDER BY i) AS hist
    FROM (SELECT bucket, i, sum(n)::int AS n FROM picked, unnest(lag_hist) WITH ORDINALITY AS h(n, i)
          GROUP BY 1, 2) AS per_bucket
    GROUP BY bucket
), effect AS (
    SELECT bucket, array_agg(n ORDER BY i) AS hist
    FROM (SELECT bucket, i, sum(n)::int AS n FROM picked, unnest(effect_hist) WITH ORDINALITY AS h(n, i)
          GROUP BY 1, 2) AS per_bucket
    GROUP BY bucket
)
SELECT c.bucket, c.emitted, c.relayed, c.completed, c.retried, c.dead, lag.hist, effect.hist
FROM counts c LEFT JOIN lag USING (bucket) LEFT JOIN effect USING (bucket)
ORDER BY c.bucket
"""
# The same window's completions by queue (task events; channel events have no queue).
METRIC_BY_QUEUE = """
SELECT to_timestamp(floor(extract(epoch FROM at) / %(step)s) * %(step)s) AS bucket, queue,
       sum(completed)::bigint
FROM {table}
WHERE tenant_id = %(tenant_id)s AND at >= %(since)s AND at < %(until)s AND queue <> ''
GROUP BY 1, 2
ORDER BY 1, 2
"""
