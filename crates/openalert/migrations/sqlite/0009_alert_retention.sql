-- Retention walks alerts by age: those whose raw body is still kept (a partial index, so the
-- walk skips what was already cleared) and all of them, for removal.
CREATE INDEX oa_alerts_raw_kept ON oa_alerts (received_at) WHERE raw <> '{}';
CREATE INDEX oa_alerts_received ON oa_alerts (received_at);
