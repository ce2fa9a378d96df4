//! Status pages' incidents and maintenances (one table, `kind`) with their updates.

use sqlx::FromRow;

use super::Executor;
use crate::status::model::Impact;
use keel_platform::domain::Timestamp;

/// An incident or a scheduled maintenance.
#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: i64,
    pub page_id: i64,
    pub kind: String,
    pub name: String,
    pub status: String,
    pub impact: String,
    pub postmortem: String,
    pub scheduled_for: Option<i64>,
    pub scheduled_until: Option<i64>,
    pub auto_transition: i64,
    pub started_at: i64,
    pub monitoring_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const EVENT_COLUMNS: &str = "id, page_id, kind, name, status, impact, postmortem, scheduled_for, scheduled_until, auto_transition, started_at, monitoring_at, resolved_at, created_at, updated_at";

pub struct NewEvent<'a> {
    pub page_id: i64,
    pub kind: &'static str,
    pub name: &'a str,
    pub status: &'a str,
    pub impact: Impact,
    pub scheduled_for: Option<i64>,
    pub scheduled_until: Option<i64>,
    pub auto_transition: bool,
    pub started_at: i64,
}

pub async fn insert_event<'c>(
    db: impl Executor<'c>,
    e: &NewEvent<'_>,
    now: Timestamp,
) -> sqlx::Result<EventRow> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO oa_status_events (page_id, kind, name, status, impact, postmortem, scheduled_for, scheduled_until, auto_transition, started_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, '', $6, $7, $8, $9, $10, $10) RETURNING {EVENT_COLUMNS}"
    )))
    .bind(e.page_id)
    .bind(e.kind)
    .bind(e.name)
    .bind(e.status)
    .bind(e.impact.as_str())
    .bind(e.scheduled_for)
    .bind(e.scheduled_until)
    .bind(i64::from(e.auto_transition))
    .bind(e.started_at)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
}

/// The fields an update or an edit may change.
pub struct EventChanges<'a> {
    pub name: &'a str,
    pub status: &'a str,
    pub impact: Impact,
    pub postmortem: &'a str,
    pub scheduled_for: Option<i64>,
    pub scheduled_until: Option<i64>,
    pub monitoring_at: Option<i64>,
    pub resolved_at: Option<i64>,
}

/// Applies `changes` if the event is still in `expected_status` (so two nodes moving a
/// maintenance on its own cannot both do it). Returns whether it changed.
pub async fn update_event<'c>(
    db: impl Executor<'c>,
    id: i64,
    expected_status: &str,
    c: &EventChanges<'_>,
    now: Timestamp,
) -> sqlx::Result<bool> {
    sqlx::query(
        "UPDATE oa_status_events SET name = $3, status = $4, impact = $5, postmortem = $6, scheduled_for = $7, \
         scheduled_until = $8, monitoring_at = $9, resolved_at = $10, updated_at = $11 WHERE id = $1 AND status = $2",
    )
    .bind(id)
    .bind(expected_status)
    .bind(c.name)
    .bind(c.status)
    .bind(c.impact.as_str())
    .bind(c.postmortem)
    .bind(c.scheduled_for)
    .bind(c.scheduled_until)
    .bind(c.monitoring_at)
    .bind(c.resolved_at)
    .bind(now.as_millis())
    .execute(db)
    .await
    .map(|r| r.rows_affected() > 0)
}

pub async fn event<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<Option<EventRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM oa_status_events WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn delete_event<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM oa_status_events WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(drop)
}

/// A page's incidents and maintenances: every unresolved one, and resolved ones that started
/// after `resolved_since`, newest first.
pub async fn events<'c>(
    db: impl Executor<'c>,
    page_id: i64,
    resolved_since: i64,
) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM oa_status_events WHERE page_id = $1 \
         AND (resolved_at IS NULL OR started_at >= $2) ORDER BY started_at DESC, id DESC"
    )))
    .bind(page_id)
    .bind(resolved_since)
    .fetch_all(db)
    .await
}

/// Maintenances that move on their own and whose time has come: scheduled ones due to start
/// and started ones due to end.
pub async fn due_maintenances<'c>(db: impl Executor<'c>, now: i64) -> sqlx::Result<Vec<EventRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM oa_status_events WHERE kind = 'maintenance' AND auto_transition = 1 \
         AND resolved_at IS NULL AND ((status = 'scheduled' AND scheduled_for <= $1) \
         OR (status IN ('in_progress', 'verifying') AND scheduled_until <= $1)) ORDER BY id LIMIT 100"
    )))
    .bind(now)
    .fetch_all(db)
    .await
}

pub async fn set_event_components(
    tx: &mut keel_platform::db::Tx,
    event_id: i64,
    components: &[i64],
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM oa_status_event_components WHERE event_id = $1")
        .bind(event_id)
        .execute(&mut **tx)
        .await?;
    for component in components {
        sqlx::query(
            "INSERT INTO oa_status_event_components (event_id, component_id) VALUES ($1, $2)",
        )
        .bind(event_id)
        .bind(component)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// (event, component) pairs of a page's events.
pub async fn event_components<'c>(
    db: impl Executor<'c>,
    page_id: i64,
) -> sqlx::Result<Vec<(i64, i64)>> {
    sqlx::query_as(
        "SELECT ec.event_id, ec.component_id FROM oa_status_event_components ec \
         JOIN oa_status_events e ON e.id = ec.event_id WHERE e.page_id = $1",
    )
    .bind(page_id)
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct UpdateRow {
    pub id: i64,
    pub event_id: i64,
    pub status: String,
    pub body: String,
    /// JSON list of component changes.
    pub changes: String,
    pub notify: i64,
    pub created_at: i64,
}

pub async fn insert_update<'c>(
    db: impl Executor<'c>,
    event_id: i64,
    status: &str,
    body: &str,
    changes: &str,
    notify: bool,
    now: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO oa_status_updates (event_id, status, body, changes, notify, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(event_id)
    .bind(status)
    .bind(body)
    .bind(changes)
    .bind(i64::from(notify))
    .bind(now.as_millis())
    .fetch_one(db)
    .await
}

/// Updates of a page's events that started after `resolved_since` or are unresolved, newest
/// first.
pub async fn updates<'c>(
    db: impl Executor<'c>,
    page_id: i64,
    resolved_since: i64,
) -> sqlx::Result<Vec<UpdateRow>> {
    sqlx::query_as(
        "SELECT u.id, u.event_id, u.status, u.body, u.changes, u.notify, u.created_at FROM oa_status_updates u \
         JOIN oa_status_events e ON e.id = u.event_id WHERE e.page_id = $1 \
         AND (e.resolved_at IS NULL OR e.started_at >= $2) ORDER BY u.created_at DESC, u.id DESC",
    )
    .bind(page_id)
    .bind(resolved_since)
    .fetch_all(db)
    .await
}
