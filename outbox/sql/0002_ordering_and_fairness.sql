-- Ordering keys and fair claims (adr/0014-outbox-ordering-fairness-cost.md).
--
-- An event may carry an ordering key: events of one key take effect one at a time in commit
-- order. key_seq is that order, drawn from outbox_key inside the emitting transaction (the
-- row lock it takes serialises the transactions of one key, so sequence order is commit
-- order). done_seq is how far the key has gone: the event with key_seq = done_seq + 1 is the
-- only one of its key that may be claimed, and its completion advances done_seq. key_holds
-- says whether this event, once dead, holds its key until it is redriven (true) or lets the
-- key go on (false: done_seq passes it). The hot table gets no index for any of this: the
-- claim looks the key up by its primary key.

ALTER TABLE outbox_event ADD COLUMN ordering_key varchar(200), ADD COLUMN key_seq bigint,
    ADD COLUMN key_holds boolean;
ALTER TABLE outbox_history ADD COLUMN ordering_key varchar(200), ADD COLUMN key_seq bigint,
    ADD COLUMN key_holds boolean;

CREATE TABLE outbox_key (
    ordering_key varchar(200) PRIMARY KEY,
    last_seq     bigint       NOT NULL,
    done_seq     bigint       NOT NULL DEFAULT 0
);

-- Claims are shared among tenants and bounded per queue: the pending rows by tenant (NULL,
-- the platform's own, as 0), queue ('' for pub/sub), then priority and id. It replaces the
-- (priority, id) index: one partial index on pending rows, as before.
DROP INDEX outbox_event_claim;
CREATE INDEX outbox_event_claim ON outbox_event ((coalesce(tenant_id, 0)), (coalesce(queue, '')), priority, id)
    WHERE status = 'pending';

-- The view names its columns at creation: make it again with the new ones.
DROP VIEW outbox_log;
CREATE VIEW outbox_log AS
    SELECT * FROM outbox_event
    UNION ALL
    SELECT * FROM outbox_history;
