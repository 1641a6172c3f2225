-- The outbox's own history of figures (adr/0023-metric-rollups.md): per minute (kept 30 days)
-- and per hour (kept a year), by tenant (0: the platform's own events), event type, task and
-- queue. The mover adds each event when it leaves the hot table, completed (MOVE_COMPLETED):
-- emitted in its created minute, relayed in its relayed minute, completed (with its retries
-- and latencies) in its completed minute. The dead letter job sets `dead` from the dead
-- letters. Latencies are histograms over fixed buckets (outbox_metric_bucket), so that rows
-- add up exactly and percentiles come from the sums.

CREATE TABLE outbox_metric_minute (
    at timestamptz NOT NULL,
    tenant_id bigint NOT NULL,
    event_type text NOT NULL,
    task_name text NOT NULL,
    queue text NOT NULL,
    emitted integer NOT NULL DEFAULT 0,
    relayed integer NOT NULL DEFAULT 0,
    completed integer NOT NULL DEFAULT 0,
    retried integer NOT NULL DEFAULT 0,
    dead integer NOT NULL DEFAULT 0,
    -- Relay lag (due -> relayed) and commit -> effect (created -> completed), milliseconds,
    -- counted per bucket of outbox_metric_bucket (17 counts).
    lag_hist integer[] NOT NULL DEFAULT '{}',
    effect_hist integer[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (tenant_id, at, event_type, task_name, queue)
);
-- For retention's deletes by age: rows arrive in time order.
CREATE INDEX outbox_metric_minute_at ON outbox_metric_minute USING brin (at);

CREATE TABLE outbox_metric_hour (LIKE outbox_metric_minute INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE outbox_metric_hour ADD PRIMARY KEY (tenant_id, at, event_type, task_name, queue);
CREATE INDEX outbox_metric_hour_at ON outbox_metric_hour USING brin (at);

-- The bucket of a latency in milliseconds: 0 below 1 ms, i for [bound i, bound i+1), 16 from
-- 300 s on. The bounds are restated in outbox/metrics.py (BUCKET_BOUNDS_MS).
CREATE FUNCTION outbox_metric_bucket(ms double precision) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT width_bucket(ms, ARRAY[1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000,
                                  300000]::double precision[])
$$;

-- Element-wise sum of two histograms (either may be empty), and its aggregate.
CREATE FUNCTION outbox_hist_add(a integer[], b integer[]) RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i), '{}')
    FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i)
$$;

CREATE AGGREGATE outbox_hist_sum(integer[]) (sfunc = outbox_hist_add, stype = integer[], initcond = '{}');

-- How far the dead letter job has counted (one row).
CREATE TABLE outbox_metric_state (
    name text PRIMARY KEY,
    until timestamptz NOT NULL
);
