//! Outgoing webhooks.

use hmac::{Hmac, KeyInit, Mac};
use keel_platform::audit::{self, Actor};
use keel_platform::domain::{Timestamp, Validator};
use keel_platform::identity::{ClientMeta, Principal};
use keel_platform::jobs;
use keel_platform::{AppError, AppResult, Platform, crypto};
use serde_json::json;
use sha2::Sha256;

use crate::store::notify::{self as store};

use super::*;

/// Adds an outgoing webhook for a team's incidents (or one service's); returns it with its
/// signing secret, shown this once.
pub async fn create_webhook(
    platform: &Platform,
    principal: &Principal,
    team_id: i64,
    service_id: Option<i64>,
    url: &str,
    events: Option<&[String]>,
    meta: &ClientMeta,
) -> AppResult<(store::Webhook, String)> {
    let mut v = Validator::new();
    let url = v.check(
        "url",
        validate_address(platform.outbound.policy(), "webhook", url),
    );
    let events: Vec<String> = match events {
        Some(list) => list.to_vec(),
        None => DEFAULT_WEBHOOK_EVENTS
            .iter()
            .map(|e| e.to_string())
            .collect(),
    };
    if events.is_empty() {
        v.add("events", "must list at least one event");
    } else if let Some(bad) = events
        .iter()
        .find(|e| !WEBHOOK_EVENTS.contains(&e.as_str()))
    {
        v.add(
            "events",
            format!("`{bad}` is not one of {}", WEBHOOK_EVENTS.join(", ")),
        );
    }
    if let Some(service_id) = service_id {
        match crate::catalog::visible_service(platform, principal, service_id).await {
            Ok(service) if service.team_id == team_id => {}
            _ => v.add("service_id", "no such service in this team"),
        }
    }
    v.finish().map_err(AppError::Validation)?;
    keel_platform::authz::require_team_manage(platform, principal, team_id)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => {
                AppError::field("team_id", "no such team, or you are not in it")
            }
            other => other,
        })?;
    let salt = crypto::random_token(16);
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let hook = store::insert_webhook(
        &mut *tx,
        team_id,
        service_id,
        &url.expect("validated"),
        &events,
        &salt,
        now,
    )
    .await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "webhook.created",
        ("team", &team_id.to_string()),
        json!({"webhook_id": hook.id, "service_id": service_id, "events": events}),
    )
    .await?;
    tx.commit().await?;
    let secret = webhook_secret(platform, &salt);
    Ok((hook, secret))
}

pub async fn list_webhooks(
    platform: &Platform,
    principal: &Principal,
) -> AppResult<Vec<store::Webhook>> {
    let teams = match keel_platform::authz::team_scope(platform, principal).await? {
        keel_platform::authz::TeamScope::All => None,
        keel_platform::authz::TeamScope::Only(ids) => Some(ids),
    };
    let mut hooks = store::webhooks(platform.db.pool(), teams.as_deref()).await?;
    for hook in &mut hooks {
        hook.url = redact_url_path(&hook.url);
    }
    Ok(hooks)
}

pub async fn delete_webhook(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    let hook = store::webhook_by_id(platform.db.pool(), id)
        .await?
        .ok_or(AppError::NotFound("webhook"))?;
    keel_platform::authz::require_team_read(platform, principal, hook.team_id)
        .await
        .map_err(|_| AppError::NotFound("webhook"))?;
    keel_platform::authz::require_team_manage(platform, principal, hook.team_id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::delete_webhook(&mut tx, id).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "webhook.deleted",
        ("team", &hook.team_id.to_string()),
        json!({"webhook_id": id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// `https://host/…` with the path hidden (it often carries a token).
pub(super) fn redact_url_path(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => format!("{}://{}/…", u.scheme(), u.host_str().unwrap_or_default()),
        Err(_) => String::new(),
    }
}

/// Incident timeline kinds a webhook may subscribe to.
pub const WEBHOOK_EVENTS: &[&str] = &[
    "triggered",
    "acknowledged",
    "resolved",
    "retriggered",
    "escalated",
    "escalation_exhausted",
    "reassigned",
    "note",
    "alert_added",
];
pub const DEFAULT_WEBHOOK_EVENTS: &[&str] =
    &["triggered", "acknowledged", "resolved", "escalated", "note"];

/// Turns new incident timeline entries into webhook deliveries, in commit order. The
/// position advances by compare-and-set in the transaction that queues the jobs, so each entry
/// is sent once however many nodes run this; entries of transactions still running wait for
/// their commit (see `Dialect::commit_horizon`), so none is ever skipped.
pub async fn dispatch_webhooks(platform: &Platform) -> AppResult<usize> {
    let now = platform.now();
    let pool = platform.db.pool();
    let horizon = match platform.db.dialect().commit_horizon() {
        Some(sql) => sqlx::query_scalar(sql).fetch_one(pool).await?,
        None => i64::MAX,
    };
    let cursor = store::webhook_cursor(pool).await?;
    let entries = store::log_after(pool, cursor, horizon, 500).await?;
    let Some(last) = entries.last().map(|e| (e.tx_id, e.id)) else {
        return Ok(0);
    };
    let hooks = store::webhooks(pool, None).await?;
    let mut tx = platform.db.begin().await?;
    if !store::advance_webhook_cursor(&mut tx, cursor, last).await? {
        return Ok(0);
    }
    let mut queued = 0;
    for entry in &entries {
        for hook in hooks.iter().filter(|h| {
            h.team_id == entry.team_id
                && h.service_id.is_none_or(|s| s == entry.service_id)
                && h.events.contains(&entry.kind)
        }) {
            let event = json!({
                "id": entry.id,
                "event": format!("incident.{}", entry.kind),
                "occurred_at": Timestamp::from_millis(entry.at),
                "incident_id": entry.incident_id,
                "service_id": entry.service_id,
                "message": entry.message,
                "url": format!("{}/openalert/incidents/{}", platform.config.base_url(), entry.incident_id),
            });
            jobs::enqueue_about(
                &mut *tx,
                &store::webhook_subject(hook.id),
                &WebhookJob {
                    webhook_id: hook.id,
                    team_id: hook.team_id,
                    event,
                },
                now,
                8,
                now,
            )
            .await?;
            queued += 1;
        }
    }
    tx.commit().await?;
    if queued > 0 {
        platform.job_wake.notify_one();
    }
    Ok(queued)
}

/// The secret a webhook receiver checks signatures with (shown once at creation).
pub fn webhook_secret(platform: &Platform, salt: &str) -> String {
    hex::encode(platform.secret.derive(&format!("webhook:{salt}")))
}

/// `hex(HMAC-SHA256(secret, "{timestamp}.{body}"))`.
pub fn webhook_signature(platform: &Platform, salt: &str, timestamp: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(webhook_secret(platform, salt).as_bytes())
        .expect("any key length");
    mac.update(format!("{timestamp}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}
