//! Message texts.

use keel_platform::{AppResult, Platform};
use serde_json::{Value, json};

use crate::store::notify::{self as store, Notification};

use super::*;

#[derive(Debug, Clone)]
pub(super) struct Message {
    pub(super) subject: String,
    pub(super) text: String,
    /// The mail's HTML part, when there is one.
    pub(super) html: Option<String>,
    /// SMS body.
    pub(super) short: String,
    /// Voice script.
    pub(super) spoken: String,
    /// Body for generic webhooks.
    pub(super) event: Value,
    pub(super) url: Option<String>,
}

impl Message {
    /// A message that is only text; its first line is the mail's subject.
    pub(super) fn plain(text: &str) -> Self {
        let first = text
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("keel OpenAlert");
        Self {
            subject: truncate(first.trim(), SUBJECT_CHARS),
            text: text.into(),
            html: None,
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

/// Subjects stay far below the 998-character line limit of RFC 5322, and readable on a phone.
pub(super) const SUBJECT_CHARS: usize = 160;

/// The mail about a triggered incident, as HTML with inline styles (mail programs drop style
/// sheets) that reads in light and dark mode and on a phone.
#[derive(askama::Template)]
#[template(path = "openalert/mail/incident.html")]
pub(super) struct IncidentMail<'a> {
    pub(super) subject: &'a str,
    pub(super) number: i64,
    pub(super) service: &'a str,
    pub(super) urgency: &'a str,
    pub(super) title: &'a str,
    pub(super) alert: Option<&'a crate::store::incidents::Alert>,
    pub(super) links: Vec<(String, String)>,
    pub(super) details: String,
    pub(super) ack: &'a str,
    pub(super) resolve: &'a str,
    pub(super) url: &'a str,
}

/// An alert's links that are web addresses (http or https), as (href, text), at most ten.
pub(crate) fn web_links(links: &Value) -> Vec<(String, String)> {
    links
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|l| {
                    let href = l["href"].as_str()?;
                    (href.starts_with("https://") || href.starts_with("http://")).then(|| {
                        let text = l["text"]
                            .as_str()
                            .filter(|t| !t.trim().is_empty())
                            .unwrap_or(href);
                        (href.to_string(), truncate(text, 200))
                    })
                })
                .take(10)
                .collect()
        })
        .unwrap_or_default()
}

/// An alert's details as indented JSON, cut to a size a mail can carry.
pub(super) fn details_text(details: &Value) -> String {
    match details {
        Value::Null => String::new(),
        Value::Object(map) if map.is_empty() => String::new(),
        other => truncate(
            &serde_json::to_string_pretty(other).unwrap_or_default(),
            4000,
        ),
    }
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
    fn incident_mail_escapes_shows_web_links_and_buttons() {
        use askama::Template;
        let links = web_links(&json!([
            {"href": "https://grafana.example.com/d/1", "text": "Dashboard <b>"},
            {"href": "javascript:alert(1)", "text": "bad"},
        ]));
        assert_eq!(links.len(), 1);
        let html = IncidentMail {
            subject: "[#7] Triggered on api: <script>",
            number: 7,
            service: "api",
            urgency: "high",
            title: "<script>alert(1)</script>",
            alert: None,
            links,
            details: details_text(&json!({"used": "99%"})),
            ack: "https://keel.example/openalert/act/a",
            resolve: "https://keel.example/openalert/act/r",
            url: "https://keel.example/openalert/incidents/7",
        }
        .render()
        .unwrap();
        assert!(!html.contains("<script>"));
        assert!(html.contains("href=\"https://keel.example/openalert/act/a\""));
        assert!(html.contains("Dashboard &#60;b&#62;"));
        assert!(!html.contains("javascript:"));
        assert!(html.contains("99%"));
        assert_eq!(
            Message::plain("Your code is 123456\nIt works 15 minutes.").subject,
            "Your code is 123456"
        );
        assert!(truncate(&"x".repeat(500), SUBJECT_CHARS).chars().count() <= SUBJECT_CHARS);
    }

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
