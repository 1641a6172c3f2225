-- The auditors' payload filter (adr/0024-history-payload-filter.md).
--
-- `payload.visit_id = 42` is the condition `payload @> '{"visit_id": 42}'` (outbox.selectors.
-- PayloadMatch), which a GIN index answers. jsonb_path_ops indexes one hash per value with its
-- whole path, not each key and value apart: smaller and quicker to write than jsonb_ops, and
-- it serves @> (all the filter asks).
--
-- Made on the partitioned table, so every partition has it, and each month that
-- outbox_ensure_partitions adds gets it when it is created. The hot table has none: writers
-- insert there, and it holds only the events not yet moved (thousands while the relay keeps
-- up), which the filter reads whole.
-- (Migration outbox/0009 builds the existing partitions' indexes concurrently first; this
-- statement then attaches them.)

CREATE INDEX outbox_history_payload ON outbox_history USING gin (payload jsonb_path_ops);
