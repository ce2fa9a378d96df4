//! Notifications: contact methods (verified by a code sent through them), personal rules,
//! delivery of each message through its channel, throttling into summaries, signed one-click
//! acknowledge/resolve links, and outgoing webhooks.

mod delivery;
mod links;
mod message;
mod methods;
mod webhooks;

use std::time::Duration;

use keel_platform::jobs::Job;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Deliver one notification (a row of `oa_notifications`).
#[derive(Debug, Serialize, Deserialize)]
pub struct NotifyJob {
    pub notification_id: i64,
    /// The body of a message not about an incident, sealed: it may be a verification code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed_text: Option<String>,
    /// The same, as versions before sealing queued it; read, never written.
    #[serde(default, rename = "text", skip_serializing)]
    pub legacy_text: Option<String>,
}

impl NotifyJob {
    /// A notification about an incident: its text is written when it is sent.
    pub fn about_incident(notification_id: i64) -> Self {
        Self {
            notification_id,
            sealed_text: None,
            legacy_text: None,
        }
    }

    /// A message not about an incident (a code, a test), its text sealed.
    pub fn with_sealed_text(notification_id: i64, sealed_text: String) -> Self {
        Self {
            notification_id,
            sealed_text: Some(sealed_text),
            legacy_text: None,
        }
    }
}

impl Job for NotifyJob {
    const KIND: &'static str = "openalert.notify";
}

/// Send one summary of the messages held back for an address.
#[derive(Debug, Serialize, Deserialize)]
pub struct SummaryJob {
    pub kind: String,
    pub address: String,
}

impl Job for SummaryJob {
    const KIND: &'static str = "openalert.notify_summary";
}

/// Deliver one incident event to a team's webhook.
#[derive(Debug, Serialize, Deserialize)]
pub struct WebhookJob {
    pub webhook_id: i64,
    /// The team the event belongs to; a webhook of another team never receives it.
    pub team_id: i64,
    pub event: Value,
}

impl Job for WebhookJob {
    const KIND: &'static str = "openalert.webhook";
}
const CODE_PURPOSE: &str = "contact-verification";
const ACTION_PURPOSE: &str = "incident-action-link";
const DIRECT_TEXT_PURPOSE: &str = "direct-notification-text";
const THROTTLE_WINDOW: Duration = Duration::from_secs(60);
/// How long one-click links in notifications work.
pub const ACTION_LINK_TTL: Duration = Duration::from_secs(24 * 3600);

pub const KINDS: &[&str] = &[
    "email",
    "sms",
    "voice",
    "webhook",
    "slack",
    "teams",
    "mattermost",
    "discord",
];

/// Messages one address may receive per minute before the rest are bundled into a summary.
fn per_minute(kind: &str) -> i64 {
    match kind {
        "voice" => 1,
        "sms" => 3,
        "email" => 10,
        _ => 30,
    }
}

pub use delivery::*;
pub use links::*;
pub use message::*;
pub use methods::*;
pub use webhooks::*;
