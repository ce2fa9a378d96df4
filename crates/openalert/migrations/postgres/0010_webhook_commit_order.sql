-- Outgoing webhooks follow the timeline in commit order: each entry records the transaction
-- that wrote it, and the dispatcher only passes entries of transactions older than every one
-- still running (the snapshot's xmin), so an entry committed late is never skipped. Entries
-- written before this migration keep transaction 0 and come first, in id order.
ALTER TABLE oa_incident_log ADD COLUMN tx_id BIGINT NOT NULL DEFAULT 0;
ALTER TABLE oa_incident_log ALTER COLUMN tx_id SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX oa_incident_log_commit_order ON oa_incident_log (tx_id, id);
INSERT INTO oa_counters (name, value) VALUES ('webhook_log_cursor_tx', 0);
