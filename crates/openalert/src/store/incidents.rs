use keel_platform::domain::Timestamp;
use serde::Serialize;
use sqlx::FromRow;

use super::Executor;
use crate::domain::{IncidentSort, IncidentStatus, OwnerFilter, Severity, Urgency};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Incident {
    pub id: i64,
    /// Human-friendly number, shown as `#123`.
    pub number: i64,
    pub service_id: i64,
    pub service_name: String,
    pub team_id: i64,
    pub title: String,
    pub status: IncidentStatus,
    pub urgency: Urgency,
    pub dedup_key: String,
    pub alert_count: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_alert_at: Timestamp,
    pub acknowledged_at: Option<Timestamp>,
    pub acknowledged_by: Option<i64>,
    pub resolved_at: Option<Timestamp>,
    pub resolved_by: Option<i64>,
    /// `user`, `source` (the monitoring tool), `timeout` (auto-resolve) or `heartbeat`.
    pub resolved_how: Option<String>,
}

#[derive(FromRow)]
pub(crate) struct IncidentRow {
    id: i64,
    number: i64,
    service_id: i64,
    service_name: String,
    team_id: i64,
    title: String,
    status: String,
    urgency: String,
    dedup_key: String,
    alert_count: i64,
    created_at: i64,
    updated_at: i64,
    last_alert_at: i64,
    acknowledged_at: Option<i64>,
    acknowledged_by: Option<i64>,
    resolved_at: Option<i64>,
    resolved_by: Option<i64>,
    resolved_how: Option<String>,
}

impl From<IncidentRow> for Incident {
    fn from(r: IncidentRow) -> Self {
        Self {
            id: r.id,
            number: r.number,
            service_id: r.service_id,
            service_name: r.service_name,
            team_id: r.team_id,
            title: r.title,
            status: IncidentStatus::parse(&r.status).unwrap_or(IncidentStatus::Triggered),
            urgency: Urgency::parse(&r.urgency).unwrap_or(Urgency::High),
            dedup_key: r.dedup_key,
            alert_count: r.alert_count,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
            last_alert_at: Timestamp::from_millis(r.last_alert_at),
            acknowledged_at: r.acknowledged_at.map(Timestamp::from_millis),
            acknowledged_by: r.acknowledged_by,
            resolved_at: r.resolved_at.map(Timestamp::from_millis),
            resolved_by: r.resolved_by,
            resolved_how: r.resolved_how,
        }
    }
}

const INCIDENT_SELECT: &str = "SELECT i.id, i.number, i.service_id, s.name AS service_name, s.team_id, i.title, i.status, i.urgency, \
    i.dedup_key, i.alert_count, i.created_at, i.updated_at, i.last_alert_at, i.acknowledged_at, i.acknowledged_by, \
    i.resolved_at, i.resolved_by, i.resolved_how FROM oa_incidents i JOIN oa_services s ON s.id = i.service_id";

pub async fn incident_by_id<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<Option<Incident>> {
    sqlx::query_as::<_, IncidentRow>(sqlx::AssertSqlSafe(format!(
        "{INCIDENT_SELECT} WHERE i.id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
    .map(|r| r.map(Incident::from))
}

/// The open incident for a dedup key on a service.
pub async fn open_incident<'c>(
    db: impl Executor<'c>,
    service_id: i64,
    dedup_key: &str,
) -> sqlx::Result<Option<(i64, String)>> {
    sqlx::query_as::<_, (i64, String)>(
        "SELECT id, status FROM oa_incidents WHERE service_id = $1 AND dedup_key = $2 AND status <> 'resolved'",
    )
    .bind(service_id)
    .bind(dedup_key)
    .fetch_optional(db)
    .await
}

#[derive(Debug, Default, Clone)]
pub struct IncidentFilter {
    pub statuses: Vec<IncidentStatus>,
    pub service_id: Option<i64>,
    pub team_id: Option<i64>,
    pub urgency: Option<Urgency>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Teams the caller may see (`None`: all).
    pub visible_teams: Option<Vec<i64>>,
    pub sort: IncidentSort,
    pub owner: Option<OwnerFilter>,
    /// Keyset pagination: the last incident of the previous page (in `sort` order).
    pub before_id: Option<i64>,
    pub limit: i64,
}

pub async fn list_incidents<'c>(
    db: impl Executor<'c>,
    f: &IncidentFilter,
) -> sqlx::Result<Vec<Incident>> {
    // Status and visibility sets are small: expand them into literal lists of integers/known
    // words, built only from validated enum values and ids.
    let mut sql = format!("{INCIDENT_SELECT} WHERE 1 = 1");
    if !f.statuses.is_empty() {
        let list: Vec<String> = f
            .statuses
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        sql.push_str(&format!(" AND i.status IN ({})", list.join(", ")));
    }
    if let Some(teams) = &f.visible_teams {
        if teams.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = teams.iter().map(i64::to_string).collect();
        sql.push_str(&format!(" AND s.team_id IN ({})", list.join(", ")));
    }
    // Ids grow with creation time, so age orders by id; row values keep the alert-count
    // order's pages stable when counts tie.
    let (after_cursor, order) = match f.sort {
        IncidentSort::Newest => ("i.id < $6", "i.id DESC"),
        IncidentSort::Oldest => ("i.id > $6", "i.id ASC"),
        IncidentSort::MostAlerts => (
            "(i.alert_count, i.id) < (SELECT c.alert_count, c.id FROM oa_incidents c WHERE c.id = $6)",
            "i.alert_count DESC, i.id DESC",
        ),
    };
    let assigned = "EXISTS (SELECT 1 FROM oa_incident_assignees a WHERE a.incident_id = i.id AND a.user_id = $8)";
    let (owner, nobody) = match f.owner {
        Some(OwnerFilter::User(id)) => (Some(id), false),
        Some(OwnerFilter::Nobody) => (None, true),
        None => (None, false),
    };
    if nobody {
        sql.push_str(
            " AND NOT EXISTS (SELECT 1 FROM oa_incident_assignees a WHERE a.incident_id = i.id)",
        );
    }
    sql.push_str(&format!(
        " AND ($1 IS NULL OR i.service_id = $1) AND ($2 IS NULL OR s.team_id = $2) AND ($3 IS NULL OR i.urgency = $3) \
         AND ($4 IS NULL OR i.created_at >= $4) AND ($5 IS NULL OR i.created_at < $5) AND ($6 IS NULL OR {after_cursor}) \
         AND ($8 IS NULL OR {assigned}) ORDER BY {order} LIMIT $7",
    ));
    sqlx::query_as::<_, IncidentRow>(sqlx::AssertSqlSafe(sql))
        .bind(f.service_id)
        .bind(f.team_id)
        .bind(f.urgency.map(Urgency::as_str))
        .bind(f.since.map(Timestamp::as_millis))
        .bind(f.until.map(Timestamp::as_millis))
        .bind(f.before_id)
        .bind(f.limit)
        .bind(owner)
        .fetch_all(db)
        .await
        .map(|rows| rows.into_iter().map(Incident::from).collect())
}

/// Takes the next organisation-wide incident number.
pub async fn next_incident_number<'c>(db: impl Executor<'c>) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "UPDATE oa_counters SET value = value + 1 WHERE name = 'incident_number' RETURNING value",
    )
    .fetch_one(db)
    .await
}

pub struct NewIncident<'a> {
    pub number: i64,
    pub service_id: i64,
    pub title: &'a str,
    pub urgency: Urgency,
    pub dedup_key: &'a str,
    pub now: Timestamp,
}

pub async fn insert_incident<'c>(db: impl Executor<'c>, n: &NewIncident<'_>) -> sqlx::Result<i64> {
    metrics::counter!("keel_incidents_opened_total", "urgency" => n.urgency.as_str()).increment(1);
    sqlx::query_scalar(
        "INSERT INTO oa_incidents (number, service_id, title, status, urgency, dedup_key, alert_count, created_at, updated_at, last_alert_at, escalation_due_at) \
         VALUES ($1, $2, $3, 'triggered', $4, $5, 0, $6, $6, $6, $6) RETURNING id",
    )
    .bind(n.number)
    .bind(n.service_id)
    .bind(n.title)
    .bind(n.urgency.as_str())
    .bind(n.dedup_key)
    .bind(n.now.as_millis())
    .fetch_one(db)
    .await
}

pub async fn count_alert<'c>(
    db: impl Executor<'c>,
    incident_id: i64,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE oa_incidents SET alert_count = alert_count + 1, last_alert_at = $1, updated_at = $1 WHERE id = $2")
        .bind(now.as_millis())
        .bind(incident_id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Triggered → acknowledged. False if the incident was not triggered. Messages still
/// waiting to go out about it are dropped.
pub async fn acknowledge(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    by: Option<i64>,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let changed: Option<(i64, Option<i64>)> = sqlx::query_as(
        "UPDATE oa_incidents SET status = 'acknowledged', acknowledged_at = $1, acknowledged_by = $2, updated_at = $1, \
         escalation_due_at = NULL, first_acknowledged_at = COALESCE(first_acknowledged_at, $1), \
         acknowledged_by_person = CASE WHEN $2 IS NULL THEN acknowledged_by_person ELSE 1 END \
         WHERE id = $3 AND status = 'triggered' RETURNING created_at, first_acknowledged_at",
    )
    .bind(now.as_millis())
    .bind(by)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((created_at, first)) = changed else {
        return Ok(false);
    };
    if first == Some(now.as_millis()) {
        metrics::histogram!("keel_incident_time_to_acknowledge_seconds")
            .record((now.as_millis() - created_at) as f64 / 1000.0);
    }
    skip_pending_notifications(tx, id, "acknowledged first").await?;
    Ok(true)
}

/// Pending messages about an incident will not be sent (it was acknowledged or resolved);
/// the delivery jobs find them settled. The timeline says how many were cancelled.
async fn skip_pending_notifications(
    tx: &mut sqlx::AnyConnection,
    incident_id: i64,
    why: &str,
) -> sqlx::Result<()> {
    let skipped = sqlx::query(
        "UPDATE oa_notifications SET status = 'skipped', detail = $1 WHERE incident_id = $2 AND status = 'pending'",
    )
    .bind(why)
    .bind(incident_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if skipped > 0 {
        let now: i64 = sqlx::query_scalar("SELECT updated_at FROM oa_incidents WHERE id = $1")
            .bind(incident_id)
            .fetch_one(&mut *tx)
            .await?;
        log(
            &mut *tx,
            incident_id,
            Timestamp::from_millis(now),
            "notification_skipped",
            (None, "system"),
            &format!(
                "{skipped} notification{} still to go out cancelled: the incident was {why}",
                if skipped == 1 { "" } else { "s" }
            ),
            &serde_json::json!({"cancelled": skipped}),
        )
        .await?;
    }
    Ok(())
}

/// Open → resolved, with every alert. False if it was already resolved.
pub async fn resolve(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    by: Option<i64>,
    how: &str,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let created_at: Option<i64> = sqlx::query_scalar(
        "UPDATE oa_incidents SET status = 'resolved', resolved_at = $1, resolved_by = $2, resolved_how = $3, updated_at = $1, \
         escalation_due_at = NULL \
         WHERE id = $4 AND status <> 'resolved' RETURNING created_at",
    )
    .bind(now.as_millis())
    .bind(by)
    .bind(how)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let changed = created_at.is_some();
    if let Some(created_at) = created_at {
        metrics::histogram!("keel_incident_time_to_resolve_seconds")
            .record((now.as_millis() - created_at) as f64 / 1000.0);
        skip_pending_notifications(tx, id, "resolved first").await?;
        sqlx::query("UPDATE oa_alerts SET status = 'resolved', resolved_at = $1 WHERE incident_id = $2 AND status = 'firing'")
            .bind(now.as_millis())
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(changed)
}

/// Acknowledged → triggered again (acknowledgement timeout); escalation restarts at level 1.
pub async fn retrigger(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    now: Timestamp,
) -> sqlx::Result<bool> {
    sqlx::query(
        "UPDATE oa_incidents SET status = 'triggered', acknowledged_at = NULL, acknowledged_by = NULL, updated_at = $1, \
         retrigger_count = retrigger_count + 1, escalation_step = escalation_step + 1, escalation_level = -1, escalation_round = 0, escalation_due_at = $1 \
         WHERE id = $2 AND status = 'acknowledged'",
    )
    .bind(now.as_millis())
    .bind(id)
    .execute(&mut *tx)
    .await
    .map(|r| r.rows_affected() > 0)
}

/// Acknowledged incidents whose service's acknowledgement timeout has passed.
pub async fn ack_timed_out<'c>(db: impl Executor<'c>, now: Timestamp) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT i.id FROM oa_incidents i JOIN oa_services s ON s.id = i.service_id \
         WHERE i.status = 'acknowledged' AND s.ack_timeout_minutes IS NOT NULL \
         AND i.acknowledged_at + s.ack_timeout_minutes * 60000 <= $1",
    )
    .bind(now.as_millis())
    .fetch_all(db)
    .await
}

/// Open incidents with no alert for longer than their service's auto-resolve timeout.
pub async fn auto_resolvable<'c>(db: impl Executor<'c>, now: Timestamp) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT i.id FROM oa_incidents i JOIN oa_services s ON s.id = i.service_id \
         WHERE i.status <> 'resolved' AND s.auto_resolve_minutes IS NOT NULL \
         AND i.last_alert_at + s.auto_resolve_minutes * 60000 <= $1",
    )
    .bind(now.as_millis())
    .fetch_all(db)
    .await
}

// ---- alerts ----

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: i64,
    pub incident_id: Option<i64>,
    pub integration_id: Option<i64>,
    pub dedup_key: String,
    pub alert_key: String,
    pub status: String,
    pub summary: String,
    pub source: String,
    pub severity: Severity,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub links: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub images: serde_json::Value,
    /// Recorded during a maintenance window: it paged nobody.
    pub suppressed: bool,
    pub received_at: Timestamp,
    pub resolved_at: Option<Timestamp>,
}

#[derive(FromRow)]
struct AlertRow {
    id: i64,
    incident_id: Option<i64>,
    integration_id: Option<i64>,
    dedup_key: String,
    alert_key: String,
    status: String,
    summary: String,
    source: String,
    severity: String,
    component: Option<String>,
    grp: Option<String>,
    class: Option<String>,
    details: String,
    links: String,
    images: String,
    suppressed: i64,
    received_at: i64,
    resolved_at: Option<i64>,
}

impl From<AlertRow> for Alert {
    fn from(r: AlertRow) -> Self {
        let json = |text: &str| serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
        Self {
            id: r.id,
            incident_id: r.incident_id,
            integration_id: r.integration_id,
            dedup_key: r.dedup_key,
            alert_key: r.alert_key,
            status: r.status,
            summary: r.summary,
            source: r.source,
            severity: Severity::parse(&r.severity).unwrap_or(Severity::Error),
            component: r.component,
            group: r.grp,
            class: r.class,
            details: json(&r.details),
            links: json(&r.links),
            images: json(&r.images),
            suppressed: r.suppressed != 0,
            received_at: Timestamp::from_millis(r.received_at),
            resolved_at: r.resolved_at.map(Timestamp::from_millis),
        }
    }
}

pub struct NewAlert<'a> {
    pub service_id: i64,
    pub integration_id: Option<i64>,
    pub incident_id: Option<i64>,
    pub event: &'a crate::domain::NormalizedEvent,
    pub raw: &'a str,
    pub suppressed: bool,
    pub now: Timestamp,
}

pub async fn alert_is_firing<'c>(
    db: impl Executor<'c>,
    incident_id: i64,
    alert_key: &str,
) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM oa_alerts WHERE incident_id = $1 AND alert_key = $2 AND status = 'firing' LIMIT 1",
    )
    .bind(incident_id)
    .bind(alert_key)
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

/// Resolves the firing alerts with this key; returns how many are still firing afterwards.
pub async fn resolve_alert(
    tx: &mut sqlx::AnyConnection,
    incident_id: i64,
    alert_key: &str,
    now: Timestamp,
) -> sqlx::Result<(u64, i64)> {
    let resolved = sqlx::query(
        "UPDATE oa_alerts SET status = 'resolved', resolved_at = $1 WHERE incident_id = $2 AND alert_key = $3 AND status = 'firing'",
    )
    .bind(now.as_millis())
    .bind(incident_id)
    .bind(alert_key)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let firing: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM oa_alerts WHERE incident_id = $1 AND status = 'firing'",
    )
    .bind(incident_id)
    .fetch_one(&mut *tx)
    .await?;
    Ok((resolved, firing))
}

pub async fn list_alerts<'c>(
    db: impl Executor<'c>,
    incident_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<Alert>> {
    sqlx::query_as::<_, AlertRow>(
        "SELECT id, incident_id, integration_id, dedup_key, alert_key, status, summary, source, severity, component, grp, class, \
         details, links, images, suppressed, received_at, resolved_at FROM oa_alerts WHERE incident_id = $1 ORDER BY id DESC LIMIT $2",
    )
    .bind(incident_id)
    .bind(limit)
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(Alert::from).collect())
}

/// Alerts recorded without paging (maintenance windows) for a service, newest first.
pub async fn list_suppressed<'c>(
    db: impl Executor<'c>,
    service_id: i64,
    limit: i64,
) -> sqlx::Result<Vec<Alert>> {
    sqlx::query_as::<_, AlertRow>(
        "SELECT id, incident_id, integration_id, dedup_key, alert_key, status, summary, source, severity, component, grp, class, \
         details, links, images, suppressed, received_at, resolved_at FROM oa_alerts WHERE service_id = $1 AND suppressed = 1 \
         ORDER BY id DESC LIMIT $2",
    )
    .bind(service_id)
    .bind(limit)
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(Alert::from).collect())
}

// ---- timeline ----

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogEntry {
    pub id: i64,
    pub at: Timestamp,
    /// `triggered`, `alert_added`, `acknowledged`, `resolved`, `retriggered`, `note`, `reassigned`, …
    pub kind: String,
    pub actor_user_id: Option<i64>,
    pub actor: String,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

pub async fn log<'c>(
    db: impl Executor<'c>,
    incident_id: i64,
    at: Timestamp,
    kind: &str,
    actor: (Option<i64>, &str),
    message: &str,
    details: &serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO oa_incident_log (incident_id, at, kind, actor_user_id, actor, message, details) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(incident_id)
    .bind(at.as_millis())
    .bind(kind)
    .bind(actor.0)
    .bind(actor.1)
    .bind(message)
    .bind(details.to_string())
    .execute(db)
    .await
    .map(|_| ())
}

/// The same timeline entry on each incident of `ids`, in one statement.
pub async fn log_each<'c>(
    db: impl Executor<'c>,
    ids: &[i64],
    at: Timestamp,
    kind: &str,
    message: &str,
    details: &serde_json::Value,
) -> sqlx::Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO oa_incident_log (incident_id, at, kind, actor_user_id, actor, message, details) \
         SELECT id, $1, $2, NULL, 'system', $3, $4 FROM oa_incidents WHERE id IN ({}) ORDER BY id",
        super::id_list(ids)
    )))
    .persistent(false)
    .bind(at.as_millis())
    .bind(kind)
    .bind(message)
    .bind(details.to_string())
    .execute(db)
    .await
    .map(|_| ())
}

pub async fn timeline<'c>(db: impl Executor<'c>, incident_id: i64) -> sqlx::Result<Vec<LogEntry>> {
    #[derive(FromRow)]
    struct Row {
        id: i64,
        at: i64,
        kind: String,
        actor_user_id: Option<i64>,
        actor: String,
        message: String,
        details: String,
    }
    let rows = sqlx::query_as::<_, Row>(
        "SELECT id, at, kind, actor_user_id, actor, message, details FROM oa_incident_log WHERE incident_id = $1 ORDER BY id",
    )
    .bind(incident_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| LogEntry {
            id: r.id,
            at: Timestamp::from_millis(r.at),
            kind: r.kind,
            actor_user_id: r.actor_user_id,
            actor: r.actor,
            message: r.message,
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
        })
        .collect())
}

// ---- assignees ----

pub async fn assignees<'c>(
    db: impl Executor<'c>,
    incident_id: i64,
) -> sqlx::Result<Vec<(i64, String, String)>> {
    sqlx::query_as::<_, (i64, String, String)>(
        "SELECT u.id, u.name, u.email FROM oa_incident_assignees a JOIN users u ON u.id = a.user_id WHERE a.incident_id = $1 ORDER BY u.name",
    )
    .bind(incident_id)
    .fetch_all(db)
    .await
}

/// (incident id, assignee name) for each of `incident_ids` (a page of a list), by name.
pub async fn assignee_names<'c>(
    db: impl Executor<'c>,
    incident_ids: &[i64],
) -> sqlx::Result<Vec<(i64, String)>> {
    if incident_ids.is_empty() {
        return Ok(Vec::new());
    }
    // Ids are trusted integers; a page holds at most a few hundred.
    let list: Vec<String> = incident_ids.iter().map(i64::to_string).collect();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT a.incident_id, u.name FROM oa_incident_assignees a JOIN users u ON u.id = a.user_id          WHERE a.incident_id IN ({}) ORDER BY a.incident_id, u.name",
        list.join(", ")
    )))
    .persistent(false)
    .fetch_all(db)
    .await
}

pub async fn set_assignees(
    tx: &mut sqlx::AnyConnection,
    incident_id: i64,
    user_ids: &[i64],
    now: Timestamp,
) -> sqlx::Result<()> {
    set_assignees_of_each(tx, &[incident_id], user_ids, now).await
}

/// Makes `user_ids` the assignees of every incident of `incident_ids`, one statement per
/// person (an escalation burst assigns the same people to many incidents).
pub async fn set_assignees_of_each(
    tx: &mut sqlx::AnyConnection,
    incident_ids: &[i64],
    user_ids: &[i64],
    now: Timestamp,
) -> sqlx::Result<()> {
    if incident_ids.is_empty() {
        return Ok(());
    }
    let list = super::id_list(incident_ids);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM oa_incident_assignees WHERE incident_id IN ({list})"
    )))
    .persistent(false)
    .execute(&mut *tx)
    .await?;
    for user_id in user_ids {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO oa_incident_assignees (incident_id, user_id, assigned_at) \
             SELECT id, $1, $2 FROM oa_incidents WHERE id IN ({list})"
        )))
        .persistent(false)
        .bind(user_id)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
