"""Hand-written SQL of the benchmarks: bulk data sets built with INSERT ... SELECT.

Composed only of constants; each statement takes its values as parameters.
"""

from __future__ import annotations

# A tenant's worth of published content, indexed, built in bulk (one statement per table).
# Bodies vary over a few care topics so the documents are not all alike.
BENCH_CONTENT = """
INSERT INTO learning_content (tenant_id, kind, created_by_id, created_at, live_seq, live_changed_at)
SELECT %(tenant_id)s, CASE WHEN g %% 5 = 0 THEN 'problem' ELSE 'lesson' END, %(author_id)s, now(), 1, now()
FROM generate_series(1, %(documents)s) g
"""

BENCH_VERSIONS = """
INSERT INTO learning_version (tenant_id, content_id, number, title, body, body_html, body_text, render_revision,
                              tests, author_id, created_at, status, submitted_at, decided_at, first_published_at)
SELECT c.tenant_id, c.id, 1, 'Bench ' || c.kind || ' ' || c.id, note, '<p>' || note || '</p>', note,
       %(render_revision)s, '', %(author_id)s, now(), 'approved', now(), now(), now()
FROM learning_content c
CROSS JOIN LATERAL (
    SELECT 'Visit note ' || c.id || ': ' || (ARRAY['wound dressing', 'hand hygiene', 'falls at home', 'early sepsis',
                                                   'insulin storage', 'oxygen safety'])[1 + c.id %% 6]
           || ' reviewed with the client; care plan updated and documented.' AS note
) body
WHERE c.tenant_id = %(tenant_id)s
"""

BENCH_PUBLISH = """
UPDATE learning_content c SET live_version_id = v.id
FROM learning_version v WHERE v.content_id = c.id AND c.tenant_id = %(tenant_id)s
"""

BENCH_INDEX = """
INSERT INTO learning_searchdocument (content_id, tenant_id, kind, version_id, version_number, live_seq, title,
                                     body_text, render_revision, indexed_at)
SELECT c.id, c.tenant_id, c.kind, v.id, v.number, c.live_seq, v.title, v.body_text, v.render_revision, now()
FROM learning_content c JOIN learning_version v ON v.id = c.live_version_id
WHERE c.tenant_id = %(tenant_id)s
"""

# Remove `missing` documents spread evenly over the tenant's content (every k-th), as if their
# index events had been lost.
BENCH_LOSE_DOCUMENTS = """
DELETE FROM learning_searchdocument d
USING (
    SELECT id FROM (
        SELECT id, row_number() OVER (ORDER BY id) AS n FROM learning_content WHERE tenant_id = %(tenant_id)s
    ) numbered
    WHERE n %% %(step)s = 0
    ORDER BY id
    LIMIT %(missing)s
) lost
WHERE d.content_id = lost.id
"""

BENCH_REPAIRS_EMITTED = """
SELECT count(*) FROM outbox_event WHERE event_type = 'search.repair_requested' AND payload->>'heal_run_id' = %(run)s
"""


# --- the relay benchmark's end-to-end part (bench/relay_e2e.py) --------------------------------

# The effects of the bench's tasks (bench/tasks.py), beside Ferry's tables in the e2e database.
E2E_TABLES = """
CREATE TABLE IF NOT EXISTS bench_ordered (n bigserial PRIMARY KEY, key int NOT NULL, seq int NOT NULL,
                                          done_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE IF NOT EXISTS bench_plain (seq bigint PRIMARY KEY, committed_at timestamptz NOT NULL DEFAULT now(),
                                        done_at timestamptz);
"""
E2E_RESET = """
TRUNCATE bench_ordered, bench_plain, outbox_event, outbox_history, outbox_inbox, outbox_attempt,
         outbox_deadletter, outbox_key
"""
INBOX_COUNT = "SELECT count(*) FROM outbox_inbox"
PLAIN_DONE = "SELECT count(*) FROM bench_plain WHERE done_at IS NOT NULL"
ORDERED_COUNT = "SELECT count(*) FROM bench_ordered"

# A tenant's backlog of bench.noop task events, committed at once as emit() would write them.
FILL_BACKLOG = """
INSERT INTO outbox_event (tenant_id, event_type, aggregate_type, aggregate_id, payload, task_name, queue,
                          redeliver_after)
SELECT %(tenant)s, 'bench.happened', 'bench', g::text, jsonb_build_object('seq', g), 'bench.noop', 'default', 600
FROM generate_series(1, %(count)s) g
"""

# How many tasks took effect between the commit and the effect of the event of `event_type`.
TASKS_BETWEEN = """
SELECT count(*) FROM outbox_inbox i,
    (SELECT e.created_at, x.processed_at FROM outbox_log e JOIN outbox_inbox x ON x.event_id = e.event_id
     WHERE e.event_type = %(event_type)s) mine
WHERE i.processed_at > mine.created_at AND i.processed_at < mine.processed_at
"""

RECORD_ORDERED = "INSERT INTO bench_ordered (key, seq) VALUES (%(key)s, %(seq)s)"
RECORD_PLAIN = "UPDATE bench_plain SET done_at = clock_timestamp() WHERE seq = %(seq)s"
PLAIN_JOB = "INSERT INTO bench_plain (seq) VALUES (%(seq)s)"

# Commit -> effect of the outbox's events: created at the emitting transaction's start,
# processed at the consumer's effect transaction's start.
OUTBOX_EFFECTS = """
SELECT count(*), min(i.processed_at), max(i.processed_at),
       coalesce(array_agg(extract(epoch FROM i.processed_at - e.created_at)) FILTER (WHERE e.id IS NOT NULL), '{}')
FROM outbox_inbox i JOIN outbox_log e ON e.event_id = i.event_id
WHERE e.event_type = %(event_type)s
"""
PLAIN_EFFECTS = """
SELECT count(*), min(done_at), max(done_at), coalesce(array_agg(extract(epoch FROM done_at - committed_at)), '{}')
FROM bench_plain WHERE done_at IS NOT NULL AND seq BETWEEN %(first)s AND %(last)s
"""

# Per key, the effects whose sequence number is lower than the one before them.
ORDERED_INVERSIONS = """
SELECT count(*) FILTER (WHERE seq < previous), count(DISTINCT key), count(*), count(DISTINCT (key, seq))
FROM (SELECT key, seq, lag(seq) OVER (PARTITION BY key ORDER BY n) AS previous FROM bench_ordered) ordered
"""


# --- the read audit's benchmark (bench/read_audit.py) -----------------------------------------

# A day of `visits` visits, each at its own spot around Boston, in one statement.
BENCH_DAY = """
INSERT INTO dispatch_visit (tenant_id, patient_ref, lat, lon, date, window_start, window_end, duration_minutes,
                            required_skill, priority, status, created_at, updated_at)
SELECT %(tenant_id)s, 'RB-' || lpad(g::text, 5, '0'), 42.30 + (g %% 97) / 1000.0, -71.10 + (g %% 89) / 1000.0,
       %(day)s, time '08:00', time '17:00', 30, '', 1, 'scheduled', now(), now()
FROM generate_series(1, %(visits)s) g
"""

# A history of `rows` read records, one a minute up to now, 200 per day subject, each naming
# that day's `visits` visit ids (ids of no real visit: the history only has to be that large).
BENCH_READ_HISTORY = """
INSERT INTO privacy_patientread (at, last_at, repeats, tenant_id, user_id, kind, subject, visit_ids, request_id,
                                 client_address)
SELECT now() - make_interval(mins => %(rows)s - g), now() - make_interval(mins => %(rows)s - g), 1,
       %(tenant_id)s, %(user_id)s, 'day', to_char(date '2020-01-01' + g / 200, 'YYYY-MM-DD'),
       ARRAY(SELECT 100000000 + (g / 200) * %(visits)s + v FROM generate_series(1, %(visits)s) v)::bigint[],
       md5(g::text), '10.0.0.1'
FROM generate_series(1, %(rows)s) g
"""

# The first visit id of the oldest day of that history: a search for it reads the whole history.
BENCH_OLDEST_VISIT_ID = "SELECT 100000001"
BENCH_READ_SIZE = """
SELECT pg_total_relation_size('privacy_patientread')::float8 / greatest(count(*), 1) FROM privacy_patientread
"""
BENCH_GIN_CREATE = "CREATE INDEX bench_read_visits ON privacy_patientread USING gin (visit_ids)"
BENCH_GIN_DROP = "DROP INDEX bench_read_visits"
BENCH_ANALYZE = "VACUUM ANALYZE privacy_patientread"


# --- audit_bench (bench/audit.py): a year of outbox history, built in bulk ---------------------

# The auditors' indexes and the primary key of outbox_history as the migrations made them:
# dropped while the history loads, made again after (one sort per index, not a hundred
# million insertions into each).
AUDIT_HISTORY_INDEXES = """
SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisprimary
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = 'outbox_history'::regclass
ORDER BY c.relname
"""

AUDIT_TRUNCATE = "TRUNCATE outbox_history, outbox_event"
AUDIT_PARTITIONS = "SELECT outbox_ensure_partitions(%(months_back)s, 1)"

# Events ids lo..hi-1 of a history of `rows` spread evenly over the year from `start`: each
# event's time follows its id (with a jitter inside its slot), its transaction id too, as in a
# real history (the ids stay below the database's own, so that every event is older than any
# reader's horizon: `txid_step` events a transaction, or fewer). The agency, the kind of event and the
# actor are drawn by weight: width_bucket finds a uniform draw's bucket in the cumulative
# weights. Actors are skewed (a few do most), 30 % of events have none (the system's);
# aggregate ids are skewed too (some visits change often). Every event is completed: the
# mover moves only those.
AUDIT_LOAD = """
INSERT INTO outbox_history (id, event_id, txid, tenant_id, actor_id, trace_id, event_type, aggregate_type,
                            aggregate_id, payload, task_name, queue, channel, redeliver_after, priority,
                            created_at, available_at, status, attempts, relayed_at, redeliver_at, completed_at,
                            last_error)
SELECT i, gen_random_uuid(), 3 + floor(i * %(txid_step)s::float8)::bigint, tenant,
       CASE WHEN ra < 0.3 THEN NULL
            ELSE tenant * 100000 + 1 + floor(((ra - 0.3) / 0.7) ^ 3 * (%(actors)s::int[])[t])::bigint END,
       substr(md5(i::text), 1, 16), (%(event_types)s::text[])[k], (%(aggregate_types)s::text[])[k], aggregate_id,
       jsonb_build_object((%(aggregate_types)s::text[])[k] || '_id', aggregate_id::bigint, 'source', 'audit_bench'),
       (%(task_names)s::text[])[k], (%(queues)s::text[])[k],
       CASE WHEN (%(task_names)s::text[])[k] IS NULL THEN 'tenant:' || tenant || ':events' END,
       CASE WHEN (%(task_names)s::text[])[k] IS NULL THEN NULL ELSE 300 END, 5,
       at, at, 'completed', CASE WHEN rg < 0.02 THEN 2 ELSE 1 END,
       at + interval '4 milliseconds', NULL, at + interval '40 milliseconds', ''
FROM (
    SELECT i, t, k, ra, rg, at, (%(tenants)s::bigint[])[t] AS tenant,
           (1 + floor(rx ^ 2 * %(aggregates)s))::bigint::text AS aggregate_id
    FROM (
        SELECT i, width_bucket(random(), %(tenant_weights)s::float8[]) AS t,
               width_bucket(random(), %(kind_weights)s::float8[]) AS k, random() AS ra, random() AS rg,
               random() AS rx,
               %(start)s::timestamptz + make_interval(secs => (i - 1 + random()) * %(slot_s)s) AS at
        FROM generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) AS i
    ) draws
) event
"""

# The hot table of a running system: a few events waiting, relayed or dead, of the last hour.
AUDIT_HOT = """
INSERT INTO outbox_event (txid, tenant_id, actor_id, event_type, aggregate_type, aggregate_id, payload, task_name,
                          queue, redeliver_after, created_at, available_at, status, attempts, relayed_at,
                          redeliver_at, last_error)
SELECT %(next_txid)s::bigint + n, (%(tenants)s::bigint[])[1 + n %% cardinality(%(tenants)s::bigint[])], NULL,
       'notification.created', 'notification', n::text, jsonb_build_object('notification_id', n),
       'learning.deliver_notification', 'default', 300, at, at, state,
       CASE state WHEN 'pending' THEN 0 WHEN 'relayed' THEN 1 ELSE 5 END,
       CASE WHEN state <> 'pending' THEN at END, CASE WHEN state = 'relayed' THEN at + interval '5 minutes' END,
       CASE WHEN state = 'dead' THEN 'ConnectionError: SMTP server refused the connection' ELSE '' END
FROM generate_series(1, %(rows)s) AS n
CROSS JOIN LATERAL (SELECT now() - n * interval '1 second' AS at,
                           (ARRAY['pending', 'relayed', 'dead'])[1 + n %% 3] AS state) s
"""

AUDIT_SEQUENCE = "SELECT setval('outbox_event_id_seq', %(last_id)s)"
AUDIT_PARTITION_NAMES = """
SELECT c.relname FROM pg_partition_tree('outbox_history') p JOIN pg_class c ON c.oid = p.relid
WHERE p.isleaf ORDER BY 1
"""

# Table and index sizes, each summed over the partitions.
AUDIT_SIZES = """
SELECT c.relname, sum(pg_relation_size(p.relid))::bigint
FROM pg_class c CROSS JOIN LATERAL pg_partition_tree(c.oid) p
WHERE c.oid = 'outbox_history'::regclass
   OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'outbox_history'::regclass)
GROUP BY c.relname ORDER BY 2 DESC
"""

# Rows of an agency sampled from the history (a fraction of its pages): real aggregates and actors.
AUDIT_SAMPLE = """
SELECT aggregate_type, aggregate_id, actor_id FROM outbox_history TABLESAMPLE SYSTEM (%(percent)s::float4)
WHERE tenant_id = %(tenant_id)s LIMIT %(rows)s
"""

# Completed events waiting in the hot table for the mover (the mover's benchmark): as the
# relay leaves them, spread over the agencies, of the last minutes.
AUDIT_COMPLETED_HOT = """
INSERT INTO outbox_event (txid, tenant_id, actor_id, event_type, aggregate_type, aggregate_id, payload, channel,
                          created_at, available_at, status, attempts, relayed_at, completed_at)
SELECT %(txid)s::bigint, (%(tenants)s::bigint[])[1 + n %% cardinality(%(tenants)s::bigint[])],
       CASE WHEN n %% 3 = 0 THEN NULL ELSE 100000 + n %% 500 END, 'visit.updated', 'visit', n::text,
       jsonb_build_object('visit_id', n, 'source', 'audit_bench'), 'tenant:events', at, at, 'completed', 1, at, at
FROM generate_series(1, %(rows)s) AS n
CROSS JOIN LATERAL (SELECT now() - (%(rows)s - n) * interval '1 millisecond' AS at) s
"""

# The auditors' indexes before adr/0021 (outbox/sql/0001_outbox.sql), for the mover's baseline.
AUDIT_INDEXES_BEFORE = (
    "CREATE INDEX outbox_history_tenant_aggregate ON outbox_history (tenant_id, aggregate_type, aggregate_id, id)",
    "CREATE INDEX outbox_history_tenant_type ON outbox_history (tenant_id, event_type, id)",
    "CREATE INDEX outbox_history_tenant ON outbox_history (tenant_id, id)",
    "CREATE INDEX outbox_history_created ON outbox_history USING brin (created_at)",
)
AUDIT_INDEXES_BEFORE_NAMES = ("outbox_history_tenant_aggregate", "outbox_history_tenant_type", "outbox_history_tenant",
                              "outbox_history_created")
# ... and since (outbox/sql/0003_history_audit_order.sql).
AUDIT_INDEXES_NOW_NAMES = ("outbox_history_tenant_time", "outbox_history_tenant_type",
                           "outbox_history_tenant_aggregate", "outbox_history_tenant_actor",
                           "outbox_history_tenant_unusual_status")

# A kept history's first event (the year's start): a probe of each partition's primary key.
AUDIT_FIRST_EVENT = "SELECT created_at FROM outbox_history WHERE id = 1"
