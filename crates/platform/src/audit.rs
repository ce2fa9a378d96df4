//! The append-only audit log: who did what to which object, from where, and what changed.
//! Records are written in the same transaction as the change they describe.

use crate::domain::Timestamp;
use crate::identity::{ClientMeta, Principal};
use crate::store;

/// Who performed an action.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub label: String,
    pub ip: String,
}

impl Actor {
    pub fn user(principal: &Principal, meta: &ClientMeta) -> Self {
        Self {
            user_id: Some(principal.user.id),
            label: principal.user.email.clone(),
            ip: meta.ip.to_string(),
        }
    }

    /// Someone not signed in (a login attempt, a password reset request).
    pub fn anonymous(label: &str, meta: &ClientMeta) -> Self {
        Self {
            user_id: None,
            label: label.to_string(),
            ip: meta.ip.to_string(),
        }
    }

    /// The operator at the command line.
    pub fn cli() -> Self {
        Self {
            user_id: None,
            label: "cli".into(),
            ip: String::new(),
        }
    }

    /// The server itself (engines, jobs).
    pub fn system() -> Self {
        Self {
            user_id: None,
            label: "system".into(),
            ip: String::new(),
        }
    }
}

/// Appends one record on `conn`.
pub async fn record<'c>(
    conn: impl store::Executor<'c>,
    at: Timestamp,
    actor: &Actor,
    action: &str,
    target: (&str, &str),
    details: serde_json::Value,
) -> sqlx::Result<()> {
    metrics::counter!("keel_audit_events_total").increment(1);
    store::audit::insert(
        conn,
        store::audit::NewAuditEvent {
            at,
            actor_user_id: actor.user_id,
            actor: &actor.label,
            action,
            target_type: target.0,
            target_id: target.1,
            ip: &actor.ip,
            details: &details,
        },
    )
    .await
}
