//! OpenAlert's rules and types, with no I/O: what an alert is, how monitoring tools' bodies
//! are read, how severity becomes urgency.

pub mod alertmanager;
pub mod analytics;
pub mod events_v2;
pub mod generic;
pub mod ical;
pub mod schedule;
pub mod timeline;

use serde::{Deserialize, Serialize};

/// How bad an alert is, in PagerDuty's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Critical,
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "critical" | "crit" | "fatal" | "page" | "p1" => Some(Self::Critical),
            "error" | "err" | "high" | "major" | "p2" => Some(Self::Error),
            "warning" | "warn" | "medium" | "minor" | "p3" => Some(Self::Warning),
            "info" | "informational" | "low" | "none" | "p4" | "p5" => Some(Self::Info),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    High,
    Low,
}

impl Urgency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Low => "low",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "high" => Ok(Self::High),
            "low" => Ok(Self::Low),
            _ => Err("must be `high` or `low`".into()),
        }
    }
}

/// The order of an incident list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IncidentSort {
    #[default]
    Newest,
    Oldest,
    /// Most alerts first (the noisiest), newest first among equals.
    MostAlerts,
}

impl IncidentSort {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "newest" => Ok(Self::Newest),
            "oldest" => Ok(Self::Oldest),
            "most_alerts" => Ok(Self::MostAlerts),
            _ => Err("must be `newest`, `oldest` or `most_alerts`".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Newest => "newest",
            Self::Oldest => "oldest",
            Self::MostAlerts => "most_alerts",
        }
    }
}

/// Whose incidents a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerFilter {
    /// Assigned to this user (among others, perhaps).
    User(i64),
    /// Assigned to nobody.
    Nobody,
}

impl OwnerFilter {
    /// `me`, `nobody` or a user id.
    pub fn parse(raw: &str, me: i64) -> Result<Self, String> {
        match raw {
            "me" => Ok(Self::User(me)),
            "nobody" => Ok(Self::Nobody),
            id => id
                .parse()
                .map(Self::User)
                .map_err(|_| "must be `me`, `nobody` or a user id".into()),
        }
    }
}

/// How a service decides the urgency of a new incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UrgencyRule {
    /// Always high urgency.
    High,
    /// Always low urgency.
    Low,
    /// Critical and error alerts are high urgency; warning and info are low.
    Severity,
}

impl UrgencyRule {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "high" => Ok(Self::High),
            "low" => Ok(Self::Low),
            "severity" => Ok(Self::Severity),
            _ => Err("must be `high`, `low` or `severity`".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::High => "high",
            Self::Low => "low",
            Self::Severity => "severity",
        }
    }

    /// The rule as a page says it.
    pub fn label(self) -> &'static str {
        match self {
            Self::High => "Always high",
            Self::Low => "Always low",
            Self::Severity => "From alert severity (critical and error are high)",
        }
    }

    pub fn urgency(self, severity: Severity) -> Urgency {
        match self {
            Self::High => Urgency::High,
            Self::Low => Urgency::Low,
            Self::Severity => match severity {
                Severity::Critical | Severity::Error => Urgency::High,
                Severity::Warning | Severity::Info => Urgency::Low,
            },
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum IncidentStatus {
    Triggered,
    Acknowledged,
    Resolved,
}

impl IncidentStatus {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "triggered" => Ok(Self::Triggered),
            "acknowledged" => Ok(Self::Acknowledged),
            "resolved" => Ok(Self::Resolved),
            _ => Err("must be `triggered`, `acknowledged` or `resolved`".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Triggered => "triggered",
            Self::Acknowledged => "acknowledged",
            Self::Resolved => "resolved",
        }
    }
}

/// The kinds of integration a service can receive alerts through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntegrationKind {
    EventsV2,
    Alertmanager,
    Grafana,
    Generic,
    Heartbeat,
}

impl IntegrationKind {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "events_v2" => Ok(Self::EventsV2),
            "alertmanager" => Ok(Self::Alertmanager),
            "grafana" => Ok(Self::Grafana),
            "generic" => Ok(Self::Generic),
            "heartbeat" => Ok(Self::Heartbeat),
            "email" => Err(
                "e-mail integrations are not available yet; use `generic` or `events_v2`".into(),
            ),
            _ => Err(
                "must be one of `events_v2`, `alertmanager`, `grafana`, `generic`, `heartbeat`"
                    .into(),
            ),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventsV2 => "events_v2",
            Self::Alertmanager => "alertmanager",
            Self::Grafana => "grafana",
            Self::Generic => "generic",
            Self::Heartbeat => "heartbeat",
        }
    }

    /// The URL path monitoring tools post to, relative to the public base URL.
    pub fn ingest_path(self, key: &str) -> String {
        match self {
            Self::EventsV2 => "/v2/enqueue".to_string(),
            other => format!("/integrations/{}/{key}", other.as_str()),
        }
    }
}

/// What an incoming event asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Open an incident for the dedup key, or add an alert to the open one.
    Trigger,
    /// Acknowledge the open incident with this dedup key.
    Acknowledge,
    /// Resolve the open incident with this dedup key, all its alerts included.
    Resolve,
    /// Resolve one alert (by alert key) of the open incident; the incident resolves when no
    /// alert is left firing. Alertmanager's model.
    ResolveAlert,
}

/// One event, normalised from whatever format it arrived in.
#[derive(Debug, Clone)]
pub struct NormalizedEvent {
    pub action: Action,
    /// Groups events into one incident.
    pub dedup_key: String,
    /// Identifies one alert within the incident (Alertmanager's fingerprint).
    pub alert_key: String,
    /// A repeated trigger of an alert that is already firing changes nothing (at-least-once
    /// senders such as Alertmanager). When false, every trigger is recorded as a new alert.
    pub repeat_is_duplicate: bool,
    pub summary: String,
    pub source: String,
    pub severity: Severity,
    pub component: Option<String>,
    pub group: Option<String>,
    pub class: Option<String>,
    pub details: serde_json::Value,
    pub links: serde_json::Value,
    pub images: serde_json::Value,
}

/// Longest summary kept (PagerDuty's limit); longer ones are cut, not refused.
pub const MAX_SUMMARY_CHARS: usize = 1024;
/// Longest dedup key accepted (PagerDuty's limit).
pub const MAX_DEDUP_KEY_CHARS: usize = 255;
/// Largest ingestion body accepted.
pub const MAX_INGEST_BYTES: usize = 512 * 1024;
/// Raw payloads kept with each alert are cut to this size.
pub const MAX_RAW_BYTES: usize = 64 * 1024;

pub fn truncate_chars(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text.to_string(),
    }
}

/// A stable default dedup key for a trigger that gave none: the hash of its body, so a
/// client's retry of the same request lands on the same incident.
pub fn body_dedup_key(body: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urgency_follows_the_rule() {
        assert_eq!(
            UrgencyRule::Severity.urgency(Severity::Critical),
            Urgency::High
        );
        assert_eq!(
            UrgencyRule::Severity.urgency(Severity::Warning),
            Urgency::Low
        );
        assert_eq!(UrgencyRule::Low.urgency(Severity::Critical), Urgency::Low);
    }

    #[test]
    fn truncation_respects_characters() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("hi", 10), "hi");
    }
}
