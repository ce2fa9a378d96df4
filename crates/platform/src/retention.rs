//! Data retention for the platform's own records: audit events, dead jobs and the mail drop,
//! each kept as long as the configuration says (`*_retention_days`; 0 keeps for ever).
//! Products prune their own tables the same way; the server's housekeeping calls them all.

use std::time::{Duration, SystemTime};

use crate::state::Platform;
use crate::store::retention as store;

/// What one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub audit_events: u64,
    pub dead_jobs: u64,
    pub mail_files: u64,
}

/// The cut-off `keep` before now, in milliseconds.
pub fn cutoff(platform: &Platform, keep: Duration) -> i64 {
    platform.now().minus(keep).as_millis()
}

/// One pass over the platform's records.
pub async fn prune(platform: &Platform) -> sqlx::Result<Pruned> {
    let keep = platform.config.retention;
    let mut pruned = Pruned::default();
    if let Some(keep) = keep.audit {
        pruned.audit_events =
            store::in_batches(&platform.db, &store::audit_events(), cutoff(platform, keep)).await?;
    }
    if let Some(keep) = keep.dead_jobs {
        pruned.dead_jobs =
            store::in_batches(&platform.db, &store::dead_jobs(), cutoff(platform, keep)).await?;
    }
    if let Some(keep) = keep.mail_drop {
        let dir = platform.config.data_dir.join("mail");
        let before =
            SystemTime::UNIX_EPOCH + Duration::from_millis(cutoff(platform, keep).max(0) as u64);
        pruned.mail_files = prune_files(&dir, before);
    }
    Ok(pruned)
}

/// Removes the files in `dir` last changed before `before`; returns how many.
fn prune_files(dir: &std::path::Path, before: SystemTime) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|changed| changed < before);
        if old && entry.path().is_file() && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}
