-- Statistics that tell the planner an actor belongs to one agency (adr/0021-audit-history-at-scale.md).
--
-- Actor ids are people, each of one agency: `tenant_id = t AND actor_id = a` matches as many
-- events as `actor_id = a` alone. Assuming the two independent, the planner took a filter by
-- actor and type for a hundredth of its size, sorted every match of every month instead of
-- reading the months in page order, and a small agency's page took 600 ms at 100 million
-- events. Functional-dependency statistics on each partition (the planner estimates each
-- partition from its own) correct that; ANALYZE (autovacuum's, or the bench's) fills them.

CREATE OR REPLACE FUNCTION outbox_history_statistics(partition regclass) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    name text := (SELECT relname FROM pg_class WHERE oid = partition) || '_tenant_actor';
BEGIN
    IF NOT EXISTS (SELECT FROM pg_statistic_ext WHERE stxname = name) THEN
        EXECUTE format('CREATE STATISTICS %I (dependencies) ON tenant_id, actor_id FROM %s', name, partition);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION outbox_ensure_partitions(months_back integer, months_ahead integer)
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
            PERFORM outbox_history_statistics(name::regclass);
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END $$;

SELECT outbox_history_statistics(relid) FROM pg_partition_tree('outbox_history') WHERE isleaf;
