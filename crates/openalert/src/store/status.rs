//! Status pages' SQL: pages, groups, and components with their status intervals (incidents and
//! maintenances are in `status_events`).

use keel_platform::domain::Timestamp;
use serde::Serialize;
use sqlx::FromRow;

use super::Executor;
use crate::status::model::ComponentStatus;
use crate::status::uptime::Interval;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StatusPage {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    /// The page's address is `/status/{slug}`.
    pub slug: String,
    /// Another host name the page is served under, at `/`.
    pub custom_host: Option<String>,
    /// IANA time zone of the page's days and times.
    pub time_zone: String,
    pub logo_url: String,
    /// Only signed-in members of the team may see it.
    pub private: bool,
    /// Subscribers also hear of status changes made without an incident.
    pub notify_component_changes: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(FromRow)]
struct PageRow {
    id: i64,
    team_id: i64,
    name: String,
    slug: String,
    custom_host: Option<String>,
    time_zone: String,
    logo_url: String,
    private: i64,
    notify_component_changes: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<PageRow> for StatusPage {
    fn from(r: PageRow) -> Self {
        Self {
            id: r.id,
            team_id: r.team_id,
            name: r.name,
            slug: r.slug,
            custom_host: r.custom_host,
            time_zone: r.time_zone,
            logo_url: r.logo_url,
            private: r.private != 0,
            notify_component_changes: r.notify_component_changes != 0,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        }
    }
}

const PAGE_COLUMNS: &str = "id, team_id, name, slug, custom_host, time_zone, logo_url, private, \
                            notify_component_changes, created_at, updated_at";

/// Every editable field of a page.
pub struct PageFields<'a> {
    pub team_id: i64,
    pub name: &'a str,
    pub slug: &'a str,
    pub custom_host: Option<&'a str>,
    pub time_zone: &'a str,
    pub logo_url: &'a str,
    pub private: bool,
    pub notify_component_changes: bool,
}

pub async fn insert_page<'c>(
    db: impl Executor<'c>,
    f: &PageFields<'_>,
    now: Timestamp,
) -> sqlx::Result<StatusPage> {
    sqlx::query_as::<_, PageRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO oa_status_pages (team_id, name, slug, custom_host, time_zone, logo_url, private, notify_component_changes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $9, $8, $8) RETURNING {PAGE_COLUMNS}"
    )))
    .bind(f.team_id)
    .bind(f.name)
    .bind(f.slug)
    .bind(f.custom_host)
    .bind(f.time_zone)
    .bind(f.logo_url)
    .bind(i64::from(f.private))
    .bind(now.as_millis())
    .bind(i64::from(f.notify_component_changes))
    .fetch_one(db)
    .await
    .map(Into::into)
}

pub async fn update_page<'c>(
    db: impl Executor<'c>,
    id: i64,
    f: &PageFields<'_>,
    now: Timestamp,
) -> sqlx::Result<StatusPage> {
    sqlx::query_as::<_, PageRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE oa_status_pages SET team_id = $2, name = $3, slug = $4, custom_host = $5, time_zone = $6, \
         logo_url = $7, private = $8, updated_at = $9, notify_component_changes = $10 WHERE id = $1 RETURNING {PAGE_COLUMNS}"
    )))
    .bind(id)
    .bind(f.team_id)
    .bind(f.name)
    .bind(f.slug)
    .bind(f.custom_host)
    .bind(f.time_zone)
    .bind(f.logo_url)
    .bind(i64::from(f.private))
    .bind(now.as_millis())
    .bind(i64::from(f.notify_component_changes))
    .fetch_one(db)
    .await
    .map(Into::into)
}

/// Marks a page changed (its cached documents are stale).
pub async fn touch_page<'c>(db: impl Executor<'c>, id: i64, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query("UPDATE oa_status_pages SET updated_at = $2 WHERE id = $1")
        .bind(id)
        .bind(now.as_millis())
        .execute(db)
        .await
        .map(drop)
}

pub async fn delete_page<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM oa_status_pages WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(drop)
}

/// A page by id, slug or custom host name.
pub enum PageKey<'a> {
    Id(i64),
    Slug(&'a str),
    Host(&'a str),
}

pub async fn page<'c>(db: impl Executor<'c>, key: PageKey<'_>) -> sqlx::Result<Option<StatusPage>> {
    let (column, query) = match key {
        PageKey::Id(_) => ("id", None),
        PageKey::Slug(s) => ("slug", Some(s)),
        PageKey::Host(h) => ("custom_host", Some(h)),
    };
    let sql = format!("SELECT {PAGE_COLUMNS} FROM oa_status_pages WHERE {column} = $1");
    let q = sqlx::query_as::<_, PageRow>(sqlx::AssertSqlSafe(sql));
    let q = match (key, query) {
        (PageKey::Id(id), _) => q.bind(id),
        (_, Some(text)) => q.bind(text.to_string()),
        _ => unreachable!("slug and host carry text"),
    };
    q.fetch_optional(db).await.map(|r| r.map(Into::into))
}

/// Pages of the given teams (all with `None`), by name.
pub async fn list_pages<'c>(
    db: impl Executor<'c>,
    teams: Option<&[i64]>,
) -> sqlx::Result<Vec<StatusPage>> {
    let rows = sqlx::query_as::<_, PageRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {PAGE_COLUMNS} FROM oa_status_pages ORDER BY name, id"
    )))
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|r| teams.is_none_or(|t| t.contains(&r.team_id)))
        .map(Into::into)
        .collect())
}

#[derive(Debug, Clone, Serialize, FromRow, utoipa::ToSchema)]
pub struct Group {
    pub id: i64,
    pub page_id: i64,
    pub name: String,
    pub position: i64,
    #[schema(value_type = i64)]
    pub created_at: i64,
    #[schema(value_type = i64)]
    pub updated_at: i64,
}

pub async fn groups<'c>(db: impl Executor<'c>, page_id: i64) -> sqlx::Result<Vec<Group>> {
    sqlx::query_as(
        "SELECT id, page_id, name, position, created_at, updated_at FROM oa_status_groups \
         WHERE page_id = $1 ORDER BY position, id",
    )
    .bind(page_id)
    .fetch_all(db)
    .await
}

pub async fn insert_group<'c>(
    db: impl Executor<'c>,
    page_id: i64,
    name: &str,
    position: i64,
    now: Timestamp,
) -> sqlx::Result<Group> {
    sqlx::query_as(
        "INSERT INTO oa_status_groups (page_id, name, position, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $4) RETURNING id, page_id, name, position, created_at, updated_at",
    )
    .bind(page_id)
    .bind(name)
    .bind(position)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
}

pub async fn delete_group<'c>(db: impl Executor<'c>, page_id: i64, id: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM oa_status_groups WHERE id = $1 AND page_id = $2")
        .bind(id)
        .bind(page_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Component {
    pub id: i64,
    pub page_id: i64,
    pub group_id: Option<i64>,
    pub name: String,
    pub description: String,
    pub position: i64,
    pub status: ComponentStatus,
    /// The OpenAlert service whose incidents concern this component.
    pub service_id: Option<i64>,
    /// The status it takes on its own while a high-urgency incident of the service is open.
    pub auto_status: Option<ComponentStatus>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(FromRow)]
struct ComponentRow {
    id: i64,
    page_id: i64,
    group_id: Option<i64>,
    name: String,
    description: String,
    position: i64,
    status: String,
    service_id: Option<i64>,
    auto_status: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<ComponentRow> for Component {
    fn from(r: ComponentRow) -> Self {
        Self {
            id: r.id,
            page_id: r.page_id,
            group_id: r.group_id,
            name: r.name,
            description: r.description,
            position: r.position,
            status: ComponentStatus::parse(&r.status).unwrap_or(ComponentStatus::Operational),
            service_id: r.service_id,
            auto_status: r.auto_status.and_then(|s| ComponentStatus::parse(&s).ok()),
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        }
    }
}

const COMPONENT_COLUMNS: &str = "id, page_id, group_id, name, description, position, status, service_id, auto_status, created_at, updated_at";

/// Every editable field of a component but its status (which changes through
/// [`set_component_status`], keeping history).
pub struct ComponentFields<'a> {
    pub group_id: Option<i64>,
    pub name: &'a str,
    pub description: &'a str,
    pub position: i64,
    pub service_id: Option<i64>,
    pub auto_status: Option<ComponentStatus>,
}

/// A new component, operational from `now` on.
pub async fn insert_component(
    tx: &mut keel_platform::db::Tx,
    page_id: i64,
    f: &ComponentFields<'_>,
    now: Timestamp,
) -> sqlx::Result<Component> {
    let component: Component = sqlx::query_as::<_, ComponentRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO oa_status_components (page_id, group_id, name, description, position, status, service_id, auto_status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'operational', $6, $8, $7, $7) RETURNING {COMPONENT_COLUMNS}"
    )))
    .bind(page_id)
    .bind(f.group_id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.position)
    .bind(f.service_id)
    .bind(now.as_millis())
    .bind(f.auto_status.map(ComponentStatus::as_str))
    .fetch_one(&mut **tx)
    .await?
    .into();
    sqlx::query(
        "INSERT INTO oa_status_intervals (component_id, status, started_at) VALUES ($1, 'operational', $2)",
    )
    .bind(component.id)
    .bind(now.as_millis())
    .execute(&mut **tx)
    .await?;
    Ok(component)
}

pub async fn update_component<'c>(
    db: impl Executor<'c>,
    id: i64,
    f: &ComponentFields<'_>,
    now: Timestamp,
) -> sqlx::Result<Component> {
    sqlx::query_as::<_, ComponentRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE oa_status_components SET group_id = $2, name = $3, description = $4, position = $5, \
         service_id = $6, updated_at = $7, auto_status = $8 WHERE id = $1 RETURNING {COMPONENT_COLUMNS}"
    )))
    .bind(id)
    .bind(f.group_id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.position)
    .bind(f.service_id)
    .bind(now.as_millis())
    .bind(f.auto_status.map(ComponentStatus::as_str))
    .fetch_one(db)
    .await
    .map(Into::into)
}

/// Sets a component's status and keeps the history exact: the open interval ends `now` and a
/// new one starts. Returns the status it had, or `None` when nothing changed.
pub async fn set_component_status(
    tx: &mut keel_platform::db::Tx,
    id: i64,
    status: ComponentStatus,
    now: Timestamp,
) -> sqlx::Result<Option<ComponentStatus>> {
    let old: Option<String> = sqlx::query_scalar(
        "UPDATE oa_status_components SET status = $2, updated_at = $3, auto_applied = 0 WHERE id = $1 AND status <> $2 \
         RETURNING (SELECT status FROM oa_status_intervals WHERE component_id = $1 AND ended_at IS NULL)",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(now.as_millis())
    .fetch_optional(&mut **tx)
    .await?
    .flatten();
    let Some(old) = old else {
        return Ok(None);
    };
    close_and_open_interval(tx, id, status, now).await?;
    Ok(Some(
        ComponentStatus::parse(&old).unwrap_or(ComponentStatus::Operational),
    ))
}

/// Ends the component's open interval `now` and starts one in `status`.
async fn close_and_open_interval(
    tx: &mut keel_platform::db::Tx,
    id: i64,
    status: ComponentStatus,
    now: Timestamp,
) -> sqlx::Result<()> {
    // Two changes in the same millisecond: the later one replaces the earlier interval.
    sqlx::query("DELETE FROM oa_status_intervals WHERE component_id = $1 AND started_at = $2")
        .bind(id)
        .bind(now.as_millis())
        .execute(&mut **tx)
        .await?;
    sqlx::query(
        "UPDATE oa_status_intervals SET ended_at = $2 WHERE component_id = $1 AND ended_at IS NULL",
    )
    .bind(id)
    .bind(now.as_millis())
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO oa_status_intervals (component_id, status, started_at) VALUES ($1, $2, $3)",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(now.as_millis())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn components<'c>(db: impl Executor<'c>, page_id: i64) -> sqlx::Result<Vec<Component>> {
    let rows = sqlx::query_as::<_, ComponentRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COMPONENT_COLUMNS} FROM oa_status_components WHERE page_id = $1 ORDER BY position, id"
    )))
    .bind(page_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// Components linked to a service, on every page.
pub async fn components_of_service<'c>(
    db: impl Executor<'c>,
    service_id: i64,
) -> sqlx::Result<Vec<Component>> {
    let rows = sqlx::query_as::<_, ComponentRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {COMPONENT_COLUMNS} FROM oa_status_components WHERE service_id = $1 ORDER BY page_id, position, id"
    )))
    .bind(service_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

pub async fn delete_component<'c>(
    db: impl Executor<'c>,
    page_id: i64,
    id: i64,
) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM oa_status_components WHERE id = $1 AND page_id = $2")
        .bind(id)
        .bind(page_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

/// The intervals of a page's components that overlap `[since, ∞)`, by component.
pub async fn intervals_since<'c>(
    db: impl Executor<'c>,
    page_id: i64,
    since: i64,
) -> sqlx::Result<Vec<(i64, Interval)>> {
    let rows: Vec<(i64, String, i64, Option<i64>)> = sqlx::query_as(
        "SELECT i.component_id, i.status, i.started_at, i.ended_at FROM oa_status_intervals i \
         JOIN oa_status_components c ON c.id = i.component_id \
         WHERE c.page_id = $1 AND (i.ended_at IS NULL OR i.ended_at > $2) \
         ORDER BY i.component_id, i.started_at",
    )
    .bind(page_id)
    .bind(since)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(component, status, start, end)| {
            let status = ComponentStatus::parse(&status).ok()?;
            Some((component, Interval { status, start, end }))
        })
        .collect())
}

/// A component that follows its service on its own, and what it should do now.
#[derive(Debug, FromRow)]
pub struct AutoCandidate {
    pub id: i64,
    pub page_id: i64,
    pub name: String,
    pub status: String,
    pub auto_status: String,
    pub auto_applied: i64,
    /// A high-urgency incident of the service is open.
    pub incident_open: i64,
}

/// Components with an automatic status whose state disagrees with their service's incidents:
/// operational while a high-urgency incident is open, or still in their automatic status after
/// the last one closed.
pub async fn auto_candidates<'c>(db: impl Executor<'c>) -> sqlx::Result<Vec<AutoCandidate>> {
    sqlx::query_as(
        "SELECT id, page_id, name, status, auto_status, auto_applied, incident_open FROM ( \
           SELECT c.id, c.page_id, c.name, c.status, c.auto_status, c.auto_applied, \
             CASE WHEN EXISTS (SELECT 1 FROM oa_incidents i WHERE i.service_id = c.service_id \
               AND i.status <> 'resolved' AND i.urgency = 'high') THEN 1 ELSE 0 END AS incident_open \
           FROM oa_status_components c WHERE c.auto_status IS NOT NULL AND c.service_id IS NOT NULL) t \
         WHERE (incident_open = 1 AND status = 'operational') \
            OR (incident_open = 0 AND auto_applied = 1 AND status = auto_status)",
    )
    .fetch_all(db)
    .await
}

/// Sets a status the system chose (`applied`: it may undo it later) if the component is still
/// in `expected`. Returns the status it had when it changed.
pub async fn set_automatic_status(
    tx: &mut keel_platform::db::Tx,
    id: i64,
    expected: ComponentStatus,
    status: ComponentStatus,
    applied: bool,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let changed = sqlx::query(
        "UPDATE oa_status_components SET status = $3, updated_at = $4, auto_applied = $5 \
         WHERE id = $1 AND status = $2",
    )
    .bind(id)
    .bind(expected.as_str())
    .bind(status.as_str())
    .bind(now.as_millis())
    .bind(i64::from(applied))
    .execute(&mut **tx)
    .await?
    .rows_affected()
        > 0;
    if changed {
        close_and_open_interval(tx, id, status, now).await?;
    }
    Ok(changed)
}
