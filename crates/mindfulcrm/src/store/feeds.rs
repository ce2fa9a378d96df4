//! Subscribed iCalendar feeds and their refresh state.

use keel_platform::domain::Timestamp;
use keel_platform::store::Executor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FeedRow {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub url_sealed: String,
    pub host: String,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub content_hash: Option<String>,
    pub state: String,
    pub events: i64,
    pub last_synced_at: Option<i64>,
    pub last_error: Option<String>,
    pub failures: i64,
    pub next_sync_at: i64,
    pub expanded_at: Option<i64>,
    pub created_at: i64,
}

const FEED_COLUMNS: &str = "id, user_id, name, url_sealed, host, etag, last_modified, content_hash, state, events, \
    last_synced_at, last_error, failures, next_sync_at, expanded_at, created_at";

pub async fn insert_feed<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    name: &str,
    url_sealed: &str,
    host: &str,
    now: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO crm_calendar_feeds (user_id, name, url_sealed, host, state, events, failures, next_sync_at, created_at) \
         VALUES ($1, $2, $3, $4, 'new', 0, 0, $5, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .bind(url_sealed)
    .bind(host)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
}

pub async fn feeds<'c>(db: impl Executor<'c>, user_id: i64) -> sqlx::Result<Vec<FeedRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {FEED_COLUMNS} FROM crm_calendar_feeds WHERE user_id = $1 ORDER BY name, id"
    )))
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// One feed of the user's; `user_id` `None` is for the refresh job, which has only the id.
pub async fn feed<'c>(
    db: impl Executor<'c>,
    user_id: Option<i64>,
    id: i64,
) -> sqlx::Result<Option<FeedRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {FEED_COLUMNS} FROM crm_calendar_feeds WHERE id = $1 AND ($2 IS NULL OR user_id = $2)"
    )))
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

pub async fn delete_feed<'c>(db: impl Executor<'c>, user_id: i64, id: i64) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM crm_calendar_feeds WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// What a successful refresh learnt; `None` fields keep their value.
pub struct FeedRefreshed<'a> {
    pub etag: Option<&'a str>,
    pub last_modified: Option<&'a str>,
    pub content_hash: Option<&'a str>,
    pub events: Option<i64>,
    /// The body was read and its events written.
    pub expanded_at: Option<Timestamp>,
}

pub async fn finish_feed_ok<'c>(
    db: impl Executor<'c>,
    id: i64,
    r: &FeedRefreshed<'_>,
    now: Timestamp,
    next: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE crm_calendar_feeds SET state = 'ok', last_error = NULL, failures = 0, queued_at = NULL, \
         last_synced_at = $2, next_sync_at = $3, etag = COALESCE($4, etag), last_modified = COALESCE($5, last_modified), \
         content_hash = COALESCE($6, content_hash), events = COALESCE($7, events), \
         expanded_at = COALESCE($8, expanded_at) WHERE id = $1",
    )
    .bind(id)
    .bind(now.as_millis())
    .bind(next.as_millis())
    .bind(r.etag)
    .bind(r.last_modified)
    .bind(r.content_hash)
    .bind(r.events)
    .bind(r.expanded_at.map(Timestamp::as_millis))
    .execute(db)
    .await?;
    Ok(())
}

pub async fn finish_feed_error<'c>(
    db: impl Executor<'c>,
    id: i64,
    error: &str,
    next: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE crm_calendar_feeds SET state = 'error', last_error = $2, failures = failures + 1, queued_at = NULL, \
         next_sync_at = $3 WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .bind(next.as_millis())
    .execute(db)
    .await?;
    Ok(())
}

/// The feed's events by UID.
pub async fn feed_event_uids(
    tx: &mut sqlx::AnyConnection,
    feed_id: i64,
) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as("SELECT id, uid FROM crm_events WHERE feed_id = $1")
        .bind(feed_id)
        .fetch_all(&mut *tx)
        .await
}

pub async fn delete_events(tx: &mut sqlx::AnyConnection, ids: &[i64]) -> sqlx::Result<()> {
    for chunk in ids.chunks(500) {
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM crm_events WHERE id IN ({list})"
        )))
        .persistent(false)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
