-- Outgoing webhooks follow the timeline in commit order. On SQLite one writer commits at a
-- time, in id order, so every entry keeps transaction 0 and the id alone gives the order; the
-- column exists so that both databases share one schema.
ALTER TABLE oa_incident_log ADD COLUMN tx_id INTEGER NOT NULL DEFAULT 0;
CREATE INDEX oa_incident_log_commit_order ON oa_incident_log (tx_id, id);
INSERT INTO oa_counters (name, value) VALUES ('webhook_log_cursor_tx', 0);
