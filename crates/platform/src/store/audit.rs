use serde::Serialize;
use sqlx::FromRow;

use super::Executor;
use crate::domain::Timestamp;

/// One append-only audit record. There is no update or delete path for these rows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEvent {
    pub id: i64,
    pub at: Timestamp,
    pub actor_user_id: Option<i64>,
    /// Who acted, as shown at the time: an e-mail, `system` or `cli`.
    pub actor: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub ip: String,
    /// Summary of the change (JSON object).
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    at: i64,
    actor_user_id: Option<i64>,
    actor: String,
    action: String,
    target_type: String,
    target_id: String,
    ip: String,
    details: String,
}

impl From<Row> for AuditEvent {
    fn from(r: Row) -> Self {
        Self {
            id: r.id,
            at: Timestamp::from_millis(r.at),
            actor_user_id: r.actor_user_id,
            actor: r.actor,
            action: r.action,
            target_type: r.target_type,
            target_id: r.target_id,
            ip: r.ip,
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
        }
    }
}

pub struct NewAuditEvent<'a> {
    pub at: Timestamp,
    pub actor_user_id: Option<i64>,
    pub actor: &'a str,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub ip: &'a str,
    pub details: &'a serde_json::Value,
}

pub async fn insert<'c>(db: impl Executor<'c>, e: NewAuditEvent<'_>) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO audit_events (at, actor_user_id, actor, action, target_type, target_id, ip, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(e.at.as_millis())
    .bind(e.actor_user_id)
    .bind(e.actor)
    .bind(e.action)
    .bind(e.target_type)
    .bind(e.target_id)
    .bind(e.ip)
    .bind(e.details.to_string())
    .execute(db)
    .await
    .map(|_| ())
}

#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub actor_user_id: Option<i64>,
    /// Exact action, or a prefix ending in `.` (e.g. `user.`).
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Keyset pagination: only events with a smaller id.
    pub before_id: Option<i64>,
    pub limit: i64,
}

/// Newest first.
pub async fn list<'c>(db: impl Executor<'c>, f: &AuditFilter) -> sqlx::Result<Vec<AuditEvent>> {
    let (action_exact, action_prefix) = match f.action.as_deref() {
        Some(a) if a.ends_with('.') => (None, Some(format!("{a}%"))),
        Some(a) => (Some(a.to_string()), None),
        None => (None, None),
    };
    sqlx::query_as::<_, Row>(
        "SELECT id, at, actor_user_id, actor, action, target_type, target_id, ip, details \
         FROM audit_events WHERE \
         ($1 IS NULL OR actor_user_id = $1) AND ($2 IS NULL OR action = $2) AND \
         ($3 IS NULL OR action LIKE $3) AND ($4 IS NULL OR target_type = $4) AND \
         ($5 IS NULL OR target_id = $5) AND ($6 IS NULL OR at >= $6) AND \
         ($7 IS NULL OR at < $7) AND ($8 IS NULL OR id < $8) \
         ORDER BY id DESC LIMIT $9",
    )
    .bind(f.actor_user_id)
    .bind(action_exact)
    .bind(action_prefix)
    .bind(f.target_type.as_deref())
    .bind(f.target_id.as_deref())
    .bind(f.since.map(Timestamp::as_millis))
    .bind(f.until.map(Timestamp::as_millis))
    .bind(f.before_id)
    .bind(f.limit)
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(AuditEvent::from).collect())
}
