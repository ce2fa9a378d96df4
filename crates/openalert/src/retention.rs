//! OpenAlert's part of data retention: raw alert bodies after `alert_payload_retention_days`,
//! and the alerts of incidents resolved more than `resolved_alert_retention_days` ago. The
//! incidents, their timelines and their analytics facts stay.

use keel_platform::Platform;
use keel_platform::retention::cutoff;
use keel_platform::store::retention::in_batches;

use crate::store::retention as store;

/// What one pass changed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub payloads_cleared: u64,
    pub alerts_removed: u64,
}

pub async fn prune(platform: &Platform) -> sqlx::Result<Pruned> {
    let keep = platform.config.retention;
    let mut pruned = Pruned::default();
    if let Some(keep) = keep.resolved_alerts {
        pruned.alerts_removed = in_batches(
            &platform.db,
            &store::remove_settled_alerts(),
            cutoff(platform, keep),
        )
        .await?;
    }
    if let Some(keep) = keep.alert_payloads {
        pruned.payloads_cleared = in_batches(
            &platform.db,
            &store::clear_payloads(),
            cutoff(platform, keep),
        )
        .await?;
    }
    Ok(pruned)
}
