//! Message texts.

use keel_platform::{AppResult, Platform};
use serde_json::{Value, json};

use crate::store::notify::{self as store, Notification};

use super::*;

#[derive(Debug, Clone)]
pub(super) struct Message {
    pub(super) subject: String,
    pub(super) text: String,
    /// SMS body.
    pub(super) short: String,
    /// Voice script.
    pub(super) spoken: String,
    /// Body for generic webhooks.
    pub(super) event: Value,
    pub(super) url: Option<String>,
}

impl Message {
    pub(super) fn plain(text: &str) -> Self {
        Self {
            subject: "keel OpenAlert".into(),
            text: text.into(),
            short: text.into(),
            spoken: text.into(),
            event: json!({"event": "message", "text": text}),
            url: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub(super) enum DeliveryError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("{0}")]
    Channel(String),
}

pub(super) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

pub(super) fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Webhook URLs carry secrets in their paths: never show more than the host.
pub(super) fn redact(kind: &str, address: &str) -> String {
    match kind {
        "email" | "sms" | "voice" => address.to_string(),
        _ => redact_url_path(address),
    }
}

/// Looks up what a list of notifications is for an incident (for the API and page).
pub async fn of_incident(platform: &Platform, incident_id: i64) -> AppResult<Vec<Notification>> {
    let mut list = store::notifications_of_incident(platform.db.pool(), incident_id).await?;
    for n in &mut list {
        n.address = redact(&n.kind, &n.address);
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_checked_per_kind() {
        let policy = keel_platform::outbound::AddressPolicy::default();
        let check = |kind, address| validate_address(&policy, kind, address);
        assert!(check("sms", "+14155550100").is_ok());
        assert!(check("sms", "4155550100").is_err());
        assert!(check("slack", "https://hooks.slack.com/services/T/B/X").is_ok());
        assert!(check("slack", "ftp://x").is_err());
        assert!(check("email", "nope").is_err());
        for private in [
            "http://127.1/hook",
            "http://2130706433/hook",
            "http://[::ffff:127.0.0.1]/hook",
            "http://169.254.169.254/latest",
            "http://user:pass@hooks.example.com/x",
        ] {
            assert!(check("webhook", private).is_err(), "{private}");
        }
    }

    #[test]
    fn webhook_urls_are_redacted() {
        assert_eq!(
            redact("slack", "https://hooks.slack.com/services/T/B/secret"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(redact("email", "a@b.example"), "a@b.example");
    }
}
