//! Words for the incident timeline: each entry's kind as people say it.

/// The heading of a timeline entry of `kind` (as stored in `oa_incident_log.kind`).
pub fn label(kind: &str) -> &str {
    match kind {
        "triggered" => "Triggered",
        "alert_added" => "Another alert",
        "alert_resolved" => "Alert cleared",
        "acknowledged" => "Acknowledged",
        "resolved" => "Resolved",
        "retriggered" => "Triggered again",
        "note" => "Note",
        "reassigned" => "Reassigned",
        "escalated" => "Escalated",
        "escalate_requested" => "Escalation requested",
        "escalation_none" => "Nobody paged",
        "escalation_exhausted" => "Escalation finished",
        "notified" => "Notified",
        "notification_skipped" => "Notification skipped",
        "notification_held" => "Notification held",
        "notification_failed" => "Notification failed",
        // A kind added later still reads as something, not as a code.
        _ => "Update",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_kind_reads_as_words() {
        for kind in [
            "triggered",
            "alert_added",
            "escalation_none",
            "notification_failed",
        ] {
            let label = super::label(kind);
            assert!(!label.contains('_'), "{kind}: {label}");
            assert!(label.starts_with(char::is_uppercase));
        }
        assert_eq!(super::label("something_new"), "Update");
    }
}
