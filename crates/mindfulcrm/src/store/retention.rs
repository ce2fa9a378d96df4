//! The statements that prune MindfulCRM's records; the batched ones touch at most one batch
//! of rows (`keel_platform::store::retention::in_batches` runs them until done).

use keel_platform::store::retention::BATCH;

/// AI calls made before the cut-off.
pub fn ai_calls() -> String {
    format!(
        "DELETE FROM crm_ai_ledger WHERE id IN \
         (SELECT id FROM crm_ai_ledger WHERE created_at < $1 LIMIT {BATCH})"
    )
}

/// Pictures the photo finder fetched before the cut-off and nobody picked.
pub fn photo_candidates() -> String {
    format!(
        "DELETE FROM crm_photo_candidates WHERE id IN \
         (SELECT id FROM crm_photo_candidates WHERE created_at < $1 LIMIT {BATCH})"
    )
}

/// Spend totals and budget warnings of months before `month` (`YYYY-MM`): one row per scope
/// and month, so one statement each.
pub async fn forget_ai_months(db: &sqlx::AnyPool, month: &str) -> sqlx::Result<u64> {
    let spend = sqlx::query("DELETE FROM crm_ai_spend WHERE month < $1")
        .bind(month)
        .execute(db)
        .await?;
    let alerts = sqlx::query("DELETE FROM crm_ai_alerts WHERE month < $1")
        .bind(month)
        .execute(db)
        .await?;
    Ok(spend.rows_affected() + alerts.rows_affected())
}
