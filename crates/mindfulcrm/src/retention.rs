//! MindfulCRM's part of data retention. The AI ledger goes by whole months: a month's calls,
//! spend and budget warnings stay until the whole month is older than
//! `ai_ledger_retention_days`, so a usage report never shows part of a month. Pictures the
//! photo finder fetched and nobody picked go after a week. Sync keeps no log to prune: each
//! mailbox, feed and calendar holds only its last outcome.

use std::time::Duration;

use keel_platform::Platform;
use keel_platform::domain::Timestamp;
use keel_platform::retention::cutoff;
use keel_platform::store::retention::in_batches;

use crate::ai::ledger::month_of;
use crate::store::retention as store;

/// How long unpicked photo candidates are kept: a search result, not the user's data.
pub const PHOTO_CANDIDATES_KEPT: Duration = Duration::from_secs(7 * 86_400);

/// What one pass removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub ai_calls: u64,
    /// Spend totals and budget warnings of forgotten months.
    pub ai_months: u64,
    pub photo_candidates: u64,
}

pub async fn prune(platform: &Platform) -> sqlx::Result<Pruned> {
    let mut pruned = Pruned::default();
    if let Some(keep) = platform.config.retention.ai_ledger {
        let cut = Timestamp::from_millis(cutoff(platform, keep));
        pruned.ai_calls = in_batches(&platform.db, &store::ai_calls(), start_of_month(cut)).await?;
        pruned.ai_months = store::forget_ai_months(platform.db.pool(), &month_of(cut)).await?;
    }
    pruned.photo_candidates = in_batches(
        &platform.db,
        &store::photo_candidates(),
        cutoff(platform, PHOTO_CANDIDATES_KEPT),
    )
    .await?;
    Ok(pruned)
}

/// The first moment (UTC) of the month holding `at`, in milliseconds.
fn start_of_month(at: Timestamp) -> i64 {
    let utc = jiff::tz::TimeZone::UTC;
    let first = utc.to_datetime(at.to_jiff()).date().first_of_month();
    utc.to_timestamp(first.at(0, 0, 0, 0))
        .map_or(at.as_millis(), |t| t.as_millisecond())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_start_at_midnight_utc_on_the_first() {
        let at = Timestamp::parse_rfc3339("2026-03-17T15:04:05Z").unwrap();
        let start = Timestamp::parse_rfc3339("2026-03-01T00:00:00Z").unwrap();
        assert_eq!(start_of_month(at), start.as_millis());
        assert_eq!(start_of_month(start), start.as_millis());
    }
}
