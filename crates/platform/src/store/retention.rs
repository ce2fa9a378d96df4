//! Pruning in small batches: each statement touches at most [`BATCH`] rows, so none holds
//! SQLite's write lock (or PostgreSQL's row locks) for long while requests wait.

use super::Executor;
use crate::db::Db;

/// Rows one pruning statement deletes or rewrites at most.
pub const BATCH: i64 = 500;

/// Runs `statement` — which must bind its cut-off as `$1` and touch at most [`BATCH`] rows
/// (`… WHERE id IN (SELECT id … LIMIT {BATCH})`) — until a run touches fewer; returns the
/// total. Other writers get the database between batches.
pub async fn in_batches(db: &Db, statement: &str, cutoff: i64) -> sqlx::Result<u64> {
    let mut total = 0;
    loop {
        let done = run(db.pool(), statement, cutoff).await?;
        total += done;
        if done < BATCH as u64 {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

async fn run<'c>(db: impl Executor<'c>, statement: &str, cutoff: i64) -> sqlx::Result<u64> {
    let done = sqlx::query(sqlx::AssertSqlSafe(statement.to_string()))
        .bind(cutoff)
        .execute(db)
        .await?;
    Ok(done.rows_affected())
}

/// Audit records older than the cut-off.
pub fn audit_events() -> String {
    format!(
        "DELETE FROM audit_events WHERE id IN \
         (SELECT id FROM audit_events WHERE at < $1 ORDER BY at LIMIT {BATCH})"
    )
}

/// Dead letters buried before the cut-off.
pub fn dead_jobs() -> String {
    format!(
        "DELETE FROM jobs WHERE id IN \
         (SELECT id FROM jobs WHERE status = 'dead' AND updated_at < $1 LIMIT {BATCH})"
    )
}
