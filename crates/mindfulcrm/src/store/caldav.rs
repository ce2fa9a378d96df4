//! CalDAV accounts, their calendars and the objects read from them.

use keel_platform::domain::Timestamp;
use keel_platform::store::Executor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CalDavAccountRow {
    pub id: i64,
    pub user_id: i64,
    pub url: String,
    pub username: String,
    pub password_sealed: String,
    pub state: String,
    pub last_error: Option<String>,
    pub last_synced_at: Option<i64>,
    pub failures: i64,
    pub next_sync_at: i64,
    pub created_at: i64,
}

const ACCOUNT_COLUMNS: &str = "id, user_id, url, username, password_sealed, state, last_error, last_synced_at, \
    failures, next_sync_at, created_at";

pub async fn insert_caldav_account<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    url: &str,
    username: &str,
    password_sealed: &str,
    now: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO crm_caldav_accounts (user_id, url, username, password_sealed, state, failures, next_sync_at, created_at) \
         VALUES ($1, $2, $3, $4, 'new', 0, $5, $5) RETURNING id",
    )
    .bind(user_id)
    .bind(url)
    .bind(username)
    .bind(password_sealed)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
}

pub async fn caldav_accounts<'c>(
    db: impl Executor<'c>,
    user_id: i64,
) -> sqlx::Result<Vec<CalDavAccountRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM crm_caldav_accounts WHERE user_id = $1 ORDER BY url, id"
    )))
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// One account of the user's; `user_id` `None` is for the sync job.
pub async fn caldav_account<'c>(
    db: impl Executor<'c>,
    user_id: Option<i64>,
    id: i64,
) -> sqlx::Result<Option<CalDavAccountRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM crm_caldav_accounts WHERE id = $1 AND ($2 IS NULL OR user_id = $2)"
    )))
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

pub async fn delete_caldav_account<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    id: i64,
) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM crm_caldav_accounts WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

pub async fn finish_caldav_sync<'c>(
    db: impl Executor<'c>,
    id: i64,
    error: Option<&str>,
    now: Timestamp,
    next: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE crm_caldav_accounts SET queued_at = NULL, next_sync_at = $3, \
         state = CASE WHEN $4 IS NULL THEN 'ok' ELSE 'error' END, last_error = $4, \
         last_synced_at = CASE WHEN $4 IS NULL THEN $2 ELSE last_synced_at END, \
         failures = CASE WHEN $4 IS NULL THEN 0 ELSE failures + 1 END WHERE id = $1",
    )
    .bind(id)
    .bind(now.as_millis())
    .bind(next.as_millis())
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CalDavCalendarRow {
    pub id: i64,
    pub account_id: i64,
    pub href: String,
    pub name: String,
    pub selected: i64,
    pub sync_token: Option<String>,
    pub expanded_at: Option<i64>,
    pub events: i64,
}

/// The account's calendars with how many events each brought in.
pub async fn caldav_calendars<'c>(
    db: impl Executor<'c>,
    account_id: i64,
) -> sqlx::Result<Vec<CalDavCalendarRow>> {
    sqlx::query_as(
        "SELECT c.id, c.account_id, c.href, c.name, c.selected, c.sync_token, c.expanded_at, \
         (SELECT COUNT(*) FROM crm_events e WHERE e.caldav_calendar_id = c.id) AS events \
         FROM crm_caldav_calendars c WHERE c.account_id = $1 ORDER BY c.name, c.id",
    )
    .bind(account_id)
    .fetch_all(db)
    .await
}

/// Adds calendars found on the server (new ones selected), keeping known ones as they are.
pub async fn add_caldav_calendar<'c>(
    db: impl Executor<'c>,
    account_id: i64,
    href: &str,
    name: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO crm_caldav_calendars (account_id, href, name, selected) VALUES ($1, $2, $3, 1) \
         ON CONFLICT (account_id, href) DO UPDATE SET name = excluded.name",
    )
    .bind(account_id)
    .bind(href)
    .bind(name)
    .execute(db)
    .await?;
    Ok(())
}

/// A calendar's name, if it belongs to an account of `user_id`.
pub async fn caldav_calendar_name<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    calendar_id: i64,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT c.name FROM crm_caldav_calendars c JOIN crm_caldav_accounts a ON a.id = c.account_id \
         WHERE c.id = $1 AND a.user_id = $2",
    )
    .bind(calendar_id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// Selects or deselects a calendar; a deselected one loses its events and its position.
pub async fn select_caldav_calendar(
    tx: &mut sqlx::AnyConnection,
    account_id: i64,
    calendar_id: i64,
    selected: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE crm_caldav_calendars SET selected = $3, \
         sync_token = CASE WHEN $3 = 1 THEN sync_token ELSE NULL END WHERE account_id = $1 AND id = $2",
    )
    .bind(account_id)
    .bind(calendar_id)
    .bind(i64::from(selected))
    .execute(&mut *tx)
    .await?;
    if !selected {
        sqlx::query("DELETE FROM crm_events WHERE caldav_calendar_id = $1")
            .bind(calendar_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM crm_caldav_items WHERE calendar_id = $1")
            .bind(calendar_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Ends a calendar's sync: the token for the next one and, when recurring objects were read
/// again, when.
pub async fn finish_caldav_calendar<'c>(
    db: impl Executor<'c>,
    calendar_id: i64,
    token: Option<&str>,
    expanded_at: Option<Timestamp>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE crm_caldav_calendars SET sync_token = $2, expanded_at = COALESCE($3, expanded_at) WHERE id = $1",
    )
    .bind(calendar_id)
    .bind(token)
    .bind(expanded_at.map(Timestamp::as_millis))
    .execute(db)
    .await?;
    Ok(())
}

/// One object read from a calendar.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CalDavItemRow {
    pub href: String,
    pub etag: String,
    /// Event UIDs, one per line.
    pub uids: String,
    pub recurring: i64,
}

/// What was read of each object of a calendar.
pub async fn caldav_items<'c>(
    db: impl Executor<'c>,
    calendar_id: i64,
) -> sqlx::Result<Vec<CalDavItemRow>> {
    sqlx::query_as(
        "SELECT href, etag, uids, recurring FROM crm_caldav_items WHERE calendar_id = $1",
    )
    .bind(calendar_id)
    .fetch_all(db)
    .await
}

pub async fn save_caldav_item(
    tx: &mut sqlx::AnyConnection,
    calendar_id: i64,
    item: &CalDavItemRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO crm_caldav_items (calendar_id, href, etag, uids, recurring) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (calendar_id, href) DO UPDATE SET etag = excluded.etag, uids = excluded.uids, \
         recurring = excluded.recurring",
    )
    .bind(calendar_id)
    .bind(&item.href)
    .bind(&item.etag)
    .bind(&item.uids)
    .bind(item.recurring)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Forgets an object and deletes the calendar's events with its UIDs.
pub async fn delete_caldav_item(
    tx: &mut sqlx::AnyConnection,
    calendar_id: i64,
    href: &str,
) -> sqlx::Result<()> {
    let uids: Option<String> = sqlx::query_scalar(
        "DELETE FROM crm_caldav_items WHERE calendar_id = $1 AND href = $2 RETURNING uids",
    )
    .bind(calendar_id)
    .bind(href)
    .fetch_optional(&mut *tx)
    .await?;
    let uids = uids.unwrap_or_default();
    let uids: Vec<&str> = uids.lines().collect();
    delete_caldav_events(tx, calendar_id, &uids).await
}

/// Deletes the calendar's events with these UIDs.
pub async fn delete_caldav_events(
    tx: &mut sqlx::AnyConnection,
    calendar_id: i64,
    uids: &[&str],
) -> sqlx::Result<()> {
    for uid in uids {
        sqlx::query("DELETE FROM crm_events WHERE caldav_calendar_id = $1 AND uid = $2")
            .bind(calendar_id)
            .bind(uid)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
