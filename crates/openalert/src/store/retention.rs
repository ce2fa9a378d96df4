//! The statements that prune OpenAlert's alerts, each touching at most one batch of rows
//! (`keel_platform::store::retention::in_batches` runs them until done).

use keel_platform::store::retention::BATCH;

/// Clears the raw bodies of alerts received before the cut-off (their parsed fields stay).
pub fn clear_payloads() -> String {
    format!(
        "UPDATE oa_alerts SET raw = '{{}}' WHERE id IN \
         (SELECT id FROM oa_alerts WHERE raw <> '{{}}' AND received_at < $1 LIMIT {BATCH})"
    )
}

/// Removes alerts received before the cut-off whose incident was resolved before it too, and
/// those recorded in a maintenance window (no incident).
pub fn remove_settled_alerts() -> String {
    format!(
        "DELETE FROM oa_alerts WHERE id IN (SELECT a.id FROM oa_alerts a \
         LEFT JOIN oa_incidents i ON i.id = a.incident_id \
         WHERE a.received_at < $1 \
         AND (a.incident_id IS NULL OR (i.status = 'resolved' AND i.resolved_at < $1)) \
         LIMIT {BATCH})"
    )
}
