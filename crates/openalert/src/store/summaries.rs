//! Which teams get the weekly summary mail, and which week each was last sent for.

use keel_platform::domain::Timestamp;
use sqlx::FromRow;

use super::Executor;

#[derive(Debug, Clone, FromRow)]
pub struct SummarySetting {
    pub team_id: i64,
    pub enabled: i64,
    /// End of the last week a summary was sent for.
    pub week_ends_at: Option<i64>,
}

pub async fn setting<'c>(
    db: impl Executor<'c>,
    team_id: i64,
) -> sqlx::Result<Option<SummarySetting>> {
    sqlx::query_as(
        "SELECT team_id, enabled, week_ends_at FROM oa_weekly_summaries WHERE team_id = $1",
    )
    .bind(team_id)
    .fetch_optional(db)
    .await
}

/// Switches the summary on or off, counting the week ending `week_ends_at` as done (unless a
/// later one already is), so switching on never sends a week that ended before.
pub async fn set_enabled<'c>(
    db: impl Executor<'c>,
    team_id: i64,
    enabled: bool,
    week_ends_at: i64,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO oa_weekly_summaries (team_id, enabled, week_ends_at, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (team_id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at, \
         week_ends_at = CASE WHEN oa_weekly_summaries.week_ends_at IS NULL \
         OR oa_weekly_summaries.week_ends_at < excluded.week_ends_at \
         THEN excluded.week_ends_at ELSE oa_weekly_summaries.week_ends_at END",
    )
    .bind(team_id)
    .bind(i64::from(enabled))
    .bind(week_ends_at)
    .bind(now.as_millis())
    .execute(db)
    .await?;
    Ok(())
}

/// Teams that asked for a summary and have not had one for the week ending `week_ends_at`.
pub async fn due<'c>(db: impl Executor<'c>, week_ends_at: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT team_id FROM oa_weekly_summaries WHERE enabled = 1 \
         AND (week_ends_at IS NULL OR week_ends_at < $1) ORDER BY team_id",
    )
    .bind(week_ends_at)
    .fetch_all(db)
    .await
}

/// Claims the week for the team: true for exactly one caller however many try.
pub async fn claim<'c>(
    db: impl Executor<'c>,
    team_id: i64,
    week_ends_at: i64,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE oa_weekly_summaries SET week_ends_at = $2, updated_at = $3 WHERE team_id = $1 \
         AND enabled = 1 AND (week_ends_at IS NULL OR week_ends_at < $2)",
    )
    .bind(team_id)
    .bind(week_ends_at)
    .bind(now.as_millis())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}
