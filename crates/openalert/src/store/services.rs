use keel_platform::domain::Timestamp;
use serde::Serialize;
use sqlx::FromRow;

use super::Executor;
use crate::domain::{IntegrationKind, UrgencyRule};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Service {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    pub description: String,
    pub escalation_policy_id: Option<i64>,
    pub urgency_rule: UrgencyRule,
    /// Resolve an open incident when no alert arrived for this many minutes.
    pub auto_resolve_minutes: Option<i64>,
    /// Re-trigger an acknowledged incident still open after this many minutes.
    pub ack_timeout_minutes: Option<i64>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(FromRow)]
struct ServiceRow {
    id: i64,
    team_id: i64,
    name: String,
    description: String,
    escalation_policy_id: Option<i64>,
    urgency_rule: String,
    auto_resolve_minutes: Option<i64>,
    ack_timeout_minutes: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

impl From<ServiceRow> for Service {
    fn from(r: ServiceRow) -> Self {
        Self {
            id: r.id,
            team_id: r.team_id,
            name: r.name,
            description: r.description,
            escalation_policy_id: r.escalation_policy_id,
            urgency_rule: UrgencyRule::parse(&r.urgency_rule).unwrap_or(UrgencyRule::High),
            auto_resolve_minutes: r.auto_resolve_minutes,
            ack_timeout_minutes: r.ack_timeout_minutes,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        }
    }
}

const SERVICE_COLUMNS: &str = "id, team_id, name, description, escalation_policy_id, urgency_rule, auto_resolve_minutes, ack_timeout_minutes, created_at, updated_at";

/// Every editable field of a service.
pub struct ServiceFields<'a> {
    pub team_id: i64,
    pub name: &'a str,
    pub description: &'a str,
    pub escalation_policy_id: Option<i64>,
    pub urgency_rule: UrgencyRule,
    pub auto_resolve_minutes: Option<i64>,
    pub ack_timeout_minutes: Option<i64>,
}

pub async fn insert_service<'c>(
    db: impl Executor<'c>,
    f: &ServiceFields<'_>,
    now: Timestamp,
) -> sqlx::Result<Service> {
    sqlx::query_as::<_, ServiceRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO oa_services (team_id, name, description, escalation_policy_id, urgency_rule, auto_resolve_minutes, ack_timeout_minutes, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {SERVICE_COLUMNS}"
    )))
    .bind(f.team_id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.escalation_policy_id)
    .bind(f.urgency_rule.as_str())
    .bind(f.auto_resolve_minutes)
    .bind(f.ack_timeout_minutes)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
    .map(Service::from)
}

pub async fn update_service<'c>(
    db: impl Executor<'c>,
    id: i64,
    f: &ServiceFields<'_>,
    now: Timestamp,
) -> sqlx::Result<Option<Service>> {
    sqlx::query_as::<_, ServiceRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE oa_services SET team_id = $1, name = $2, description = $3, escalation_policy_id = $4, urgency_rule = $5, \
         auto_resolve_minutes = $6, ack_timeout_minutes = $7, updated_at = $8 WHERE id = $9 RETURNING {SERVICE_COLUMNS}"
    )))
    .bind(f.team_id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.escalation_policy_id)
    .bind(f.urgency_rule.as_str())
    .bind(f.auto_resolve_minutes)
    .bind(f.ack_timeout_minutes)
    .bind(now.as_millis())
    .bind(id)
    .fetch_optional(db)
    .await
    .map(|r| r.map(Service::from))
}

pub async fn service_by_id<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<Option<Service>> {
    sqlx::query_as::<_, ServiceRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SERVICE_COLUMNS} FROM oa_services WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
    .map(|r| r.map(Service::from))
}

/// Services of the given teams (`None`: all teams), by name.
pub async fn list_services<'c>(
    db: impl Executor<'c>,
    teams: Option<&[i64]>,
) -> sqlx::Result<Vec<Service>> {
    let rows = sqlx::query_as::<_, ServiceRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SERVICE_COLUMNS} FROM oa_services ORDER BY name, id"
    )))
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(Service::from)
        .filter(|s| teams.is_none_or(|t| t.contains(&s.team_id)))
        .collect())
}

pub async fn delete_service<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM oa_services WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

// ---- maintenance windows ----

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MaintenanceWindow {
    pub id: i64,
    pub service_id: i64,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub description: String,
    pub created_at: Timestamp,
}

#[derive(FromRow)]
struct WindowRow {
    id: i64,
    service_id: i64,
    starts_at: i64,
    ends_at: i64,
    description: String,
    created_at: i64,
}

impl From<WindowRow> for MaintenanceWindow {
    fn from(r: WindowRow) -> Self {
        Self {
            id: r.id,
            service_id: r.service_id,
            starts_at: Timestamp::from_millis(r.starts_at),
            ends_at: Timestamp::from_millis(r.ends_at),
            description: r.description,
            created_at: Timestamp::from_millis(r.created_at),
        }
    }
}

pub async fn insert_window<'c>(
    db: impl Executor<'c>,
    service_id: i64,
    starts_at: Timestamp,
    ends_at: Timestamp,
    description: &str,
    created_by: i64,
    now: Timestamp,
) -> sqlx::Result<MaintenanceWindow> {
    sqlx::query_as::<_, WindowRow>(
        "INSERT INTO oa_maintenance_windows (service_id, starts_at, ends_at, description, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, service_id, starts_at, ends_at, description, created_at",
    )
    .bind(service_id)
    .bind(starts_at.as_millis())
    .bind(ends_at.as_millis())
    .bind(description)
    .bind(created_by)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
    .map(MaintenanceWindow::from)
}

/// Windows that have not ended yet, soonest first.
pub async fn list_windows<'c>(
    db: impl Executor<'c>,
    service_id: i64,
    now: Timestamp,
) -> sqlx::Result<Vec<MaintenanceWindow>> {
    sqlx::query_as::<_, WindowRow>(
        "SELECT id, service_id, starts_at, ends_at, description, created_at FROM oa_maintenance_windows \
         WHERE service_id = $1 AND ends_at > $2 ORDER BY starts_at",
    )
    .bind(service_id)
    .bind(now.as_millis())
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(MaintenanceWindow::from).collect())
}

pub async fn delete_window<'c>(
    db: impl Executor<'c>,
    service_id: i64,
    id: i64,
) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM oa_maintenance_windows WHERE id = $1 AND service_id = $2")
        .bind(id)
        .bind(service_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

pub async fn in_maintenance<'c>(
    db: impl Executor<'c>,
    service_id: i64,
    at: Timestamp,
) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM oa_maintenance_windows WHERE service_id = $1 AND starts_at <= $2 AND ends_at > $2 LIMIT 1",
    )
    .bind(service_id)
    .bind(at.as_millis())
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

// ---- integrations ----

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Integration {
    pub id: i64,
    pub service_id: i64,
    pub kind: IntegrationKind,
    pub name: String,
    /// First characters of the key, to recognise it; the key itself is shown once.
    pub key_prefix: String,
    pub rate_limit_per_minute: Option<i64>,
    /// Heartbeat integrations: the longest silence before an incident opens.
    pub heartbeat_seconds: Option<i64>,
    pub last_heartbeat_at: Option<Timestamp>,
    pub disabled_at: Option<Timestamp>,
    pub created_at: Timestamp,
}

#[derive(FromRow)]
struct IntegrationRow {
    id: i64,
    service_id: i64,
    kind: String,
    name: String,
    key_prefix: String,
    rate_limit_per_minute: Option<i64>,
    heartbeat_seconds: Option<i64>,
    last_heartbeat_at: Option<i64>,
    disabled_at: Option<i64>,
    created_at: i64,
}

impl From<IntegrationRow> for Integration {
    fn from(r: IntegrationRow) -> Self {
        Self {
            id: r.id,
            service_id: r.service_id,
            kind: IntegrationKind::parse(&r.kind).unwrap_or(IntegrationKind::Generic),
            name: r.name,
            key_prefix: r.key_prefix,
            rate_limit_per_minute: r.rate_limit_per_minute,
            heartbeat_seconds: r.heartbeat_seconds,
            last_heartbeat_at: r.last_heartbeat_at.map(Timestamp::from_millis),
            disabled_at: r.disabled_at.map(Timestamp::from_millis),
            created_at: Timestamp::from_millis(r.created_at),
        }
    }
}

const INTEGRATION_COLUMNS: &str = "id, service_id, kind, name, key_prefix, rate_limit_per_minute, heartbeat_seconds, last_heartbeat_at, disabled_at, created_at";

pub struct NewIntegration<'a> {
    pub service_id: i64,
    pub kind: IntegrationKind,
    pub name: &'a str,
    pub key_hash: &'a str,
    pub key_prefix: &'a str,
    pub rate_limit_per_minute: Option<i64>,
    pub heartbeat_seconds: Option<i64>,
}

pub async fn insert_integration<'c>(
    db: impl Executor<'c>,
    n: &NewIntegration<'_>,
    now: Timestamp,
) -> sqlx::Result<Integration> {
    sqlx::query_as::<_, IntegrationRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO oa_integrations (service_id, kind, name, key_hash, key_prefix, rate_limit_per_minute, heartbeat_seconds, last_heartbeat_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $8) RETURNING {INTEGRATION_COLUMNS}"
    )))
    .bind(n.service_id)
    .bind(n.kind.as_str())
    .bind(n.name)
    .bind(n.key_hash)
    .bind(n.key_prefix)
    .bind(n.rate_limit_per_minute)
    .bind(n.heartbeat_seconds)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
    .map(Integration::from)
}

pub async fn integration_by_id<'c>(
    db: impl Executor<'c>,
    id: i64,
) -> sqlx::Result<Option<Integration>> {
    sqlx::query_as::<_, IntegrationRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {INTEGRATION_COLUMNS} FROM oa_integrations WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
    .map(|r| r.map(Integration::from))
}

pub async fn list_integrations<'c>(
    db: impl Executor<'c>,
    service_id: i64,
) -> sqlx::Result<Vec<Integration>> {
    sqlx::query_as::<_, IntegrationRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {INTEGRATION_COLUMNS} FROM oa_integrations WHERE service_id = $1 ORDER BY id"
    )))
    .bind(service_id)
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(Integration::from).collect())
}

pub async fn set_integration_key<'c>(
    db: impl Executor<'c>,
    id: i64,
    key_hash: &str,
    key_prefix: &str,
    now: Timestamp,
) -> sqlx::Result<Option<Integration>> {
    sqlx::query_as::<_, IntegrationRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE oa_integrations SET key_hash = $1, key_prefix = $2, updated_at = $3 WHERE id = $4 RETURNING {INTEGRATION_COLUMNS}"
    )))
    .bind(key_hash)
    .bind(key_prefix)
    .bind(now.as_millis())
    .bind(id)
    .fetch_optional(db)
    .await
    .map(|r| r.map(Integration::from))
}

pub struct IntegrationChanges<'a> {
    pub name: Option<&'a str>,
    /// `Some(Some(t))` disables, `Some(None)` enables.
    pub disabled_at: Option<Option<Timestamp>>,
    pub rate_limit_per_minute: Option<Option<i64>>,
    pub heartbeat_seconds: Option<i64>,
}

pub async fn update_integration<'c>(
    db: impl Executor<'c>,
    id: i64,
    c: &IntegrationChanges<'_>,
    now: Timestamp,
) -> sqlx::Result<Option<Integration>> {
    sqlx::query_as::<_, IntegrationRow>(sqlx::AssertSqlSafe(format!(
        "UPDATE oa_integrations SET name = COALESCE($1, name), \
         disabled_at = CASE WHEN $2 = 1 THEN $3 ELSE disabled_at END, \
         rate_limit_per_minute = CASE WHEN $4 = 1 THEN $5 ELSE rate_limit_per_minute END, \
         heartbeat_seconds = COALESCE($6, heartbeat_seconds), updated_at = $7 \
         WHERE id = $8 RETURNING {INTEGRATION_COLUMNS}"
    )))
    .bind(c.name)
    .bind(i64::from(c.disabled_at.is_some()))
    .bind(c.disabled_at.flatten().map(Timestamp::as_millis))
    .bind(i64::from(c.rate_limit_per_minute.is_some()))
    .bind(c.rate_limit_per_minute.flatten())
    .bind(c.heartbeat_seconds)
    .bind(now.as_millis())
    .bind(id)
    .fetch_optional(db)
    .await
    .map(|r| r.map(Integration::from))
}

pub async fn delete_integration<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM oa_integrations WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

/// What ingestion needs to know about the integration a key belongs to.
#[derive(Debug, Clone, FromRow)]
pub struct IngestTarget {
    pub integration_id: i64,
    pub kind: String,
    pub service_id: i64,
    pub team_id: i64,
    pub disabled_at: Option<i64>,
    pub rate_limit_per_minute: Option<i64>,
    pub urgency_rule: String,
    pub heartbeat_seconds: Option<i64>,
}

pub async fn ingest_target<'c>(
    db: impl Executor<'c>,
    key_hash: &str,
) -> sqlx::Result<Option<IngestTarget>> {
    sqlx::query_as::<_, IngestTarget>(
        "SELECT i.id AS integration_id, i.kind, i.service_id, s.team_id, i.disabled_at, i.rate_limit_per_minute, \
         s.urgency_rule, i.heartbeat_seconds \
         FROM oa_integrations i JOIN oa_services s ON s.id = i.service_id WHERE i.key_hash = $1",
    )
    .bind(key_hash)
    .fetch_optional(db)
    .await
}

pub async fn record_heartbeat<'c>(
    db: impl Executor<'c>,
    integration_id: i64,
    at: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE oa_integrations SET last_heartbeat_at = $1 WHERE id = $2")
        .bind(at.as_millis())
        .bind(integration_id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Enabled heartbeat integrations that have been silent for longer than their interval.
pub async fn overdue_heartbeats<'c>(
    db: impl Executor<'c>,
    now: Timestamp,
) -> sqlx::Result<Vec<(i64, i64, String, i64)>> {
    sqlx::query_as::<_, (i64, i64, String, i64)>(
        "SELECT i.id, i.service_id, i.name, s.team_id FROM oa_integrations i JOIN oa_services s ON s.id = i.service_id \
         WHERE i.kind = 'heartbeat' AND i.disabled_at IS NULL AND i.heartbeat_seconds IS NOT NULL \
         AND i.last_heartbeat_at + i.heartbeat_seconds * 1000 < $1",
    )
    .bind(now.as_millis())
    .fetch_all(db)
    .await
}
