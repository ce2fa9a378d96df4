-- Facts the on-call figures read straight from the incident row instead of walking every
-- timeline: the first acknowledgement (it survives a re-trigger), whether a person gave one,
-- how often the incident was triggered again, and the highest escalation level it reached.
ALTER TABLE oa_incidents ADD COLUMN first_acknowledged_at INTEGER;
ALTER TABLE oa_incidents ADD COLUMN acknowledged_by_person INTEGER NOT NULL DEFAULT 0;
ALTER TABLE oa_incidents ADD COLUMN retrigger_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE oa_incidents ADD COLUMN peak_escalation_level INTEGER NOT NULL DEFAULT -1;
UPDATE oa_incidents SET
    first_acknowledged_at = (SELECT MIN(l.at) FROM oa_incident_log l
                             WHERE l.incident_id = oa_incidents.id AND l.kind = 'acknowledged'),
    acknowledged_by_person = CASE WHEN EXISTS (SELECT 1 FROM oa_incident_log l
                             WHERE l.incident_id = oa_incidents.id AND l.kind = 'acknowledged'
                             AND l.actor_user_id IS NOT NULL) THEN 1 ELSE 0 END,
    retrigger_count = (SELECT COUNT(*) FROM oa_incident_log l
                       WHERE l.incident_id = oa_incidents.id AND l.kind = 'retriggered'),
    peak_escalation_level = escalation_level;
-- A team's incidents of a period: its services' ranges of creation time.
CREATE INDEX oa_incidents_service_created ON oa_incidents (service_id, created_at);
