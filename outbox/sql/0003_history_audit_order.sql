-- The auditors' history at a year's size (adr/0021-audit-history-at-scale.md).
--
-- History pages are newest first by (created_at, id), the partition key first: the planner
-- then reads the monthly partitions in order and stops in the newest one that fills the page,
-- and a time window prunes the partitions outside it. Every auditors' index ends with
-- (created_at, id), so each filter, alone or with a time window, is one index range per
-- partition, read in page order; exports read the same ranges forwards.
--
-- These indexes are on outbox_history only: the hot table, which writers insert into, keeps
-- its three partial indexes. The mover pays for them when it moves rows, in bulk.

DROP INDEX outbox_history_tenant_aggregate;
DROP INDEX outbox_history_tenant_type;
DROP INDEX outbox_history_tenant;
DROP INDEX outbox_history_created;

CREATE INDEX outbox_history_tenant_time ON outbox_history (tenant_id, created_at, id);
CREATE INDEX outbox_history_tenant_type ON outbox_history (tenant_id, event_type, created_at, id);
CREATE INDEX outbox_history_tenant_aggregate
    ON outbox_history (tenant_id, aggregate_type, aggregate_id, created_at, id);
-- Events done by a person (system events, actor NULL, are most of the history: left out).
CREATE INDEX outbox_history_tenant_actor ON outbox_history (tenant_id, actor_id, created_at, id)
    WHERE actor_id IS NOT NULL;
-- The mover moves completed events only, so this index is empty unless something else ever
-- puts another status there: a filter on a rare status reads it instead of the history.
CREATE INDEX outbox_history_tenant_unusual_status ON outbox_history (tenant_id, status, created_at, id)
    WHERE status <> 'completed';
