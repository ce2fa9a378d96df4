//! The scheduling columns every synced source has (`next_sync_at`, `queued_at`).

use keel_platform::domain::Timestamp;
use keel_platform::store::Executor;

/// The tables of synced sources; the names are fixed here, never taken from input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncedTable {
    MailAccounts,
    CalendarFeeds,
    CalDavAccounts,
}

impl SyncedTable {
    fn name(self) -> &'static str {
        match self {
            Self::MailAccounts => "crm_mail_accounts",
            Self::CalendarFeeds => "crm_calendar_feeds",
            Self::CalDavAccounts => "crm_caldav_accounts",
        }
    }
}

/// Rows due for a sync with no job queued for them (or one queued before `stale_before`).
pub async fn due_for_sync<'c>(
    db: impl Executor<'c>,
    table: SyncedTable,
    now: Timestamp,
    stale_before: Timestamp,
) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM {} WHERE next_sync_at <= $1 AND (queued_at IS NULL OR queued_at < $2) \
         ORDER BY next_sync_at LIMIT 100",
        table.name()
    )))
    .bind(now.as_millis())
    .bind(stale_before.as_millis())
    .fetch_all(db)
    .await
}

/// Marks a sync as queued unless another one is (a conditional update, so two nodes never
/// both queue one); `force` queues even before the row is due.
pub async fn mark_sync_queued<'c>(
    db: impl Executor<'c>,
    table: SyncedTable,
    id: i64,
    now: Timestamp,
    stale_before: Timestamp,
    force: bool,
) -> sqlx::Result<bool> {
    let done = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE {} SET queued_at = $2 WHERE id = $1 AND (queued_at IS NULL OR queued_at < $3) \
         AND ($4 = 1 OR next_sync_at <= $2)",
        table.name()
    )))
    .bind(id)
    .bind(now.as_millis())
    .bind(stale_before.as_millis())
    .bind(i64::from(force))
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
