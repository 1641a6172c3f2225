-- The outbox schema (ADR 0006), applied by migration outbox/0001 and by relay_bench in
-- its own database. Never edit this file once released: changes go in a new numbered file.
--
-- Two tables with the same columns:
--
--   outbox_event    the hot table: events not yet completed (pending, relayed, dead), and
--                   completed ones until the mover takes them. Small, lightly indexed, so
--                   emit() costs writers one cheap insert; the relay and consumers update
--                   its rows in place.
--   outbox_history  the audit history: completed events, moved here in bulk by the mover
--                   (relays/relay.py), partitioned by month of created_at, never updated.
--                   Insert-only tables vacuum cheaply at any size; old months are detached
--                   and archived by an audited command, never silently deleted.
--
-- outbox_log is the view readers use: every event, wherever it currently is. A move is
-- one statement, so a reader sees each event exactly once.

CREATE SEQUENCE outbox_event_id_seq AS bigint;

CREATE TABLE outbox_event (
    id              bigint       NOT NULL DEFAULT nextval('outbox_event_id_seq') PRIMARY KEY,
    event_id        uuid         NOT NULL DEFAULT gen_random_uuid(),
    -- The writing transaction's id (xid8 as bigint): readers that must not skip a row
    -- that commits late use (txid, id) and the snapshot's xmin (outbox/reader.py).
    txid            bigint       NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    tenant_id       bigint,
    actor_id        bigint,
    trace_id        varchar(64)  NOT NULL DEFAULT '',
    event_type      varchar(100) NOT NULL,
    aggregate_type  varchar(50)  NOT NULL,
    aggregate_id    varchar(64)  NOT NULL,
    payload         jsonb        NOT NULL DEFAULT '{}',
    task_name       varchar(200),
    queue           varchar(32),
    channel         varchar(200),
    -- Seconds after relaying a task event before the sweep redelivers it.
    redeliver_after integer,
    priority        smallint     NOT NULL DEFAULT 5,
    created_at      timestamptz  NOT NULL DEFAULT now(),
    available_at    timestamptz  NOT NULL DEFAULT now(),
    status          varchar(10)  NOT NULL DEFAULT 'pending',
    attempts        integer      NOT NULL DEFAULT 0,
    relayed_at      timestamptz,
    redeliver_at    timestamptz,
    completed_at    timestamptz,
    last_error      text         NOT NULL DEFAULT ''
    -- No CHECK constraints here: PostgreSQL re-reads a CHECK's stored expression on every
    -- INSERT statement, which cost writers ~10 % of their commit rate (ADR 0006). emit() is
    -- the only writer and validates its arguments; the constraints are checked on
    -- outbox_history instead, where the mover inserts thousands of rows per statement.
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
        autovacuum_vacuum_cost_delay = 0, autovacuum_analyze_scale_factor = 0,
        autovacuum_analyze_threshold = 10000);

ALTER SEQUENCE outbox_event_id_seq OWNED BY outbox_event.id;

-- Each reader of the hot table has a partial index over just its rows: the relay's claim
-- (pending, by priority then id); the redelivery sweep (relayed, by deadline) and the mover
-- (completed, whose redeliver_at is null, by id) share one over the rows that left pending;
-- live streams read pub/sub events by channel in commit-safe order. Every partial index
-- costs each INSERT statement a predicate set-up, so there are no more than these.
CREATE INDEX outbox_event_claim ON outbox_event (priority, id) WHERE status = 'pending';
CREATE INDEX outbox_event_settled ON outbox_event (status, redeliver_at, id) WHERE status <> 'pending';
CREATE INDEX outbox_event_channel ON outbox_event (channel, txid, id) WHERE channel IS NOT NULL;

CREATE TABLE outbox_history (
    LIKE outbox_event INCLUDING DEFAULTS,
    PRIMARY KEY (id, created_at),
    CONSTRAINT outbox_history_priority CHECK (priority BETWEEN 0 AND 9),
    CONSTRAINT outbox_history_status CHECK (status IN ('pending', 'relayed', 'completed', 'dead')),
    CONSTRAINT outbox_history_destination CHECK (
        (task_name IS NOT NULL AND queue IS NOT NULL AND redeliver_after IS NOT NULL AND channel IS NULL)
        OR (task_name IS NULL AND queue IS NULL AND redeliver_after IS NULL AND channel IS NOT NULL))
) PARTITION BY RANGE (created_at);

-- Auditors: by tenant and aggregate, by tenant and event type, by tenant in id order
-- (keyset pagination), by time range (BRIN: tiny, rows arrive in time order), by event id.
-- Live streams: a channel in commit-safe order.
CREATE INDEX outbox_history_tenant_aggregate ON outbox_history (tenant_id, aggregate_type, aggregate_id, id);
CREATE INDEX outbox_history_tenant_type ON outbox_history (tenant_id, event_type, id);
CREATE INDEX outbox_history_tenant ON outbox_history (tenant_id, id);
CREATE INDEX outbox_history_created ON outbox_history USING brin (created_at);
CREATE INDEX outbox_history_event_id ON outbox_history (event_id);
CREATE INDEX outbox_history_channel ON outbox_history (channel, txid, id) WHERE channel IS NOT NULL;

-- Monthly partitions. The default partition is a safety net: rows land there only if
-- partitions were not created ahead (ops sees its size); a month's partition cannot be
-- created while the default holds rows of that month.
CREATE TABLE outbox_history_default PARTITION OF outbox_history DEFAULT;

CREATE FUNCTION outbox_ensure_partitions(months_back integer, months_ahead integer)
RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    month date;
    name text;
    created integer := 0;
BEGIN
    FOR i IN -months_back..months_ahead LOOP
        month := (date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i))::date;
        name := 'outbox_history_y' || to_char(month, 'YYYY') || 'm' || to_char(month, 'MM');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF outbox_history FOR VALUES FROM (%L) TO (%L)',
                name, month::text || ' 00:00:00+00',
                (month + interval '1 month')::date::text || ' 00:00:00+00');
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END $$;

SELECT outbox_ensure_partitions(1, 3);

-- Every event, wherever it is now.
CREATE VIEW outbox_log AS
    SELECT * FROM outbox_event
    UNION ALL
    SELECT * FROM outbox_history;
