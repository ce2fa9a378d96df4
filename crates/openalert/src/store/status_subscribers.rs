//! Status page subscribers' SQL.

use keel_platform::domain::Timestamp;
use serde::Serialize;
use sqlx::FromRow;

use super::Executor;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Subscriber {
    pub id: i64,
    pub page_id: i64,
    /// `email` or `webhook`.
    pub kind: String,
    /// The e-mail address or the webhook URL.
    pub address: String,
    /// Components of interest; empty: everything on the page.
    pub components: Vec<i64>,
    pub confirmed_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    page_id: i64,
    kind: String,
    address: String,
    components: String,
    confirmed_at: Option<i64>,
    asked_at: i64,
    created_at: i64,
}

impl Row {
    fn into_subscriber(self) -> (Subscriber, i64) {
        (
            Subscriber {
                id: self.id,
                page_id: self.page_id,
                kind: self.kind,
                address: self.address,
                components: serde_json::from_str(&self.components).unwrap_or_default(),
                confirmed_at: self.confirmed_at.map(Timestamp::from_millis),
                created_at: Timestamp::from_millis(self.created_at),
            },
            self.asked_at,
        )
    }
}

const COLUMNS: &str = "id, page_id, kind, address, components, confirmed_at, asked_at, created_at";

/// The subscriber with this address, and when it was last asked to confirm.
pub async fn find<'c>(
    db: impl Executor<'c>,
    page_id: i64,
    kind: &str,
    address: &str,
) -> sqlx::Result<Option<(Subscriber, i64)>> {
    sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM oa_status_subscribers WHERE page_id = $1 AND kind = $2 AND address = $3"
    )))
    .bind(page_id)
    .bind(kind)
    .bind(address)
    .fetch_optional(db)
    .await
    .map(|r| r.map(Row::into_subscriber))
}

pub async fn by_id<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<Option<Subscriber>> {
    sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM oa_status_subscribers WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
    .map(|r| r.map(|r| r.into_subscriber().0))
}

/// Adds a subscriber, or (same address) replaces its components; returns it.
pub async fn upsert<'c>(
    db: impl Executor<'c>,
    page_id: i64,
    kind: &str,
    address: &str,
    components: &[i64],
    confirmed: bool,
    now: Timestamp,
) -> sqlx::Result<Subscriber> {
    let components = serde_json::to_string(components).unwrap_or_else(|_| "[]".into());
    sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO oa_status_subscribers (page_id, kind, address, components, confirmed_at, asked_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) \
         ON CONFLICT (page_id, kind, address) DO UPDATE SET components = excluded.components, \
         confirmed_at = COALESCE(oa_status_subscribers.confirmed_at, excluded.confirmed_at) \
         RETURNING {COLUMNS}"
    )))
    .bind(page_id)
    .bind(kind)
    .bind(address)
    .bind(components)
    .bind(confirmed.then_some(now.as_millis()))
    .bind(now.as_millis())
    .fetch_one(db)
    .await
    .map(|r| r.into_subscriber().0)
}

/// Notes that a confirmation mail goes out now, unless one did since `not_before`; returns
/// whether to send it.
pub async fn claim_ask<'c>(
    db: impl Executor<'c>,
    id: i64,
    not_before: i64,
    now: Timestamp,
) -> sqlx::Result<bool> {
    sqlx::query("UPDATE oa_status_subscribers SET asked_at = $3 WHERE id = $1 AND asked_at <= $2")
        .bind(id)
        .bind(not_before)
        .bind(now.as_millis())
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

pub async fn confirm<'c>(db: impl Executor<'c>, id: i64, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE oa_status_subscribers SET confirmed_at = COALESCE(confirmed_at, $2) WHERE id = $1",
    )
    .bind(id)
    .bind(now.as_millis())
    .execute(db)
    .await
    .map(drop)
}

pub async fn set_components<'c>(
    db: impl Executor<'c>,
    id: i64,
    components: &[i64],
) -> sqlx::Result<()> {
    sqlx::query("UPDATE oa_status_subscribers SET components = $2 WHERE id = $1")
        .bind(id)
        .bind(serde_json::to_string(components).unwrap_or_else(|_| "[]".into()))
        .execute(db)
        .await
        .map(drop)
}

pub async fn delete<'c>(db: impl Executor<'c>, page_id: i64, id: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM oa_status_subscribers WHERE id = $1 AND page_id = $2")
        .bind(id)
        .bind(page_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

/// A page's subscribers, oldest first (`confirmed_only` for the ones to tell).
pub async fn of_page<'c>(
    db: impl Executor<'c>,
    page_id: i64,
    confirmed_only: bool,
) -> sqlx::Result<Vec<Subscriber>> {
    let rows = sqlx::query_as::<_, Row>(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM oa_status_subscribers WHERE page_id = $1 \
         AND ($2 = 0 OR confirmed_at IS NOT NULL) ORDER BY id"
    )))
    .bind(page_id)
    .bind(i64::from(confirmed_only))
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(|r| r.into_subscriber().0).collect())
}
