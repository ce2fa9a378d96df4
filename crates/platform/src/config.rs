//! Configuration: built-in defaults, then `keel.toml` (optional), then `KEEL_*` environment
//! variables, then command-line flags. Validated once at start; every error names its key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::crypto::SecretKey;

/// Raw settings exactly as an operator writes them (keys are the `keel.toml` keys; the
/// environment variable is the key upper-cased with a `KEEL_` prefix).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub listen: String,
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    /// Unset: 4 on SQLite, 16 on PostgreSQL.
    pub database_max_connections: Option<u32>,
    #[serde(deserialize_with = "text_or_number::optional")]
    pub secret_key: Option<String>,
    pub redis_url: Option<String>,
    #[serde(deserialize_with = "text_or_number::required")]
    pub redis_prefix: String,
    pub public_url: Option<String>,
    pub smtp_url: Option<String>,
    pub mail_from: String,
    pub log_format: String,
    pub session_idle_minutes: u64,
    pub session_max_days: u64,
    pub rate_limit_per_minute: u32,
    pub login_attempts_per_15_minutes: u32,
    pub trust_proxy_headers: bool,
    pub job_workers: usize,
    /// Seconds a node holds a running job without renewing it; after that another node
    /// takes the job over (a notification is then late by at most this much).
    pub job_lease_seconds: u64,
    pub request_timeout_seconds: u64,
    /// Default events per minute per OpenAlert integration key (each integration can override).
    pub ingest_rate_limit_per_minute: u32,
    /// Twilio (or a Twilio-compatible provider) for SMS and voice notifications.
    pub twilio_account_sid: Option<String>,
    pub twilio_auth_token: Option<String>,
    /// Sending phone number, E.164.
    pub twilio_from: Option<String>,
    pub twilio_api_url: String,
    /// Networks (CIDR, comma-separated) that outgoing requests may reach although they are
    /// not public: internal webhook receivers, a local SMS gateway.
    pub outbound_allowed_networks: String,
    /// Where MindfulCRM's photo finder looks up a contact's picture by email: URL templates,
    /// comma-separated, with `{sha256}` for the hash of the address. Empty: no lookup.
    pub photo_lookup_urls: String,
    /// Days kept before pruning (0: kept for ever).
    pub audit_retention_days: u32,
    pub dead_job_retention_days: u32,
    pub mail_drop_retention_days: u32,
    pub alert_payload_retention_days: u32,
    pub resolved_alert_retention_days: u32,
    pub ai_ledger_retention_days: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            database_url: None,
            database_max_connections: None,
            secret_key: None,
            redis_url: None,
            redis_prefix: "keel".into(),
            public_url: None,
            smtp_url: None,
            mail_from: "keel <keel@localhost>".into(),
            log_format: "text".into(),
            session_idle_minutes: 7 * 24 * 60,
            session_max_days: 30,
            rate_limit_per_minute: 1200,
            login_attempts_per_15_minutes: 10,
            trust_proxy_headers: false,
            job_workers: 4,
            job_lease_seconds: 30,
            request_timeout_seconds: 30,
            ingest_rate_limit_per_minute: 60_000,
            twilio_account_sid: None,
            twilio_auth_token: None,
            twilio_from: None,
            twilio_api_url: "https://api.twilio.com".into(),
            outbound_allowed_networks: String::new(),
            photo_lookup_urls: "https://seccdn.libravatar.org/avatar/{sha256}?s=256&d=404,https://www.gravatar.com/avatar/{sha256}?s=256&d=404".into(),
            audit_retention_days: 365,
            dead_job_retention_days: 30,
            mail_drop_retention_days: 30,
            alert_payload_retention_days: 30,
            resolved_alert_retention_days: 180,
            ai_ledger_retention_days: 400,
        }
    }
}

/// Environment values that look like numbers arrive as numbers; text settings take them as text.
mod text_or_number {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Int(i128),
        Float(f64),
    }

    fn text(raw: Raw) -> String {
        match raw {
            Raw::Text(t) => t,
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
        }
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Raw::deserialize(d).map(text)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Option::<Raw>::deserialize(d).map(|r| r.map(text))
    }
}

/// Every key [`Settings`] accepts, for spotting typos in `KEEL_*` variables.
const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "database_max_connections",
    "secret_key",
    "redis_url",
    "redis_prefix",
    "public_url",
    "smtp_url",
    "mail_from",
    "log_format",
    "session_idle_minutes",
    "session_max_days",
    "rate_limit_per_minute",
    "login_attempts_per_15_minutes",
    "trust_proxy_headers",
    "job_workers",
    "job_lease_seconds",
    "request_timeout_seconds",
    "ingest_rate_limit_per_minute",
    "twilio_account_sid",
    "twilio_auth_token",
    "twilio_from",
    "twilio_api_url",
    "outbound_allowed_networks",
    "photo_lookup_urls",
    "audit_retention_days",
    "dead_job_retention_days",
    "mail_drop_retention_days",
    "alert_payload_retention_days",
    "resolved_alert_retention_days",
    "ai_ledger_retention_days",
];

/// Variables with the `KEEL_` prefix that are not settings.
const NON_SETTING_VARS: &[&str] = &["config"];

#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

fn bad(key: &str, message: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("`{key}` (KEEL_{}) {message}", key.to_uppercase()))
}

/// SMS and voice are configured by all three of account, token and sender, or not at all.
fn twilio(s: &Settings) -> Result<Option<Twilio>, ConfigError> {
    fn nonempty(v: &Option<String>) -> Option<&str> {
        v.as_deref().map(str::trim).filter(|v| !v.is_empty())
    }
    let (sid, token, from) = (
        nonempty(&s.twilio_account_sid),
        nonempty(&s.twilio_auth_token),
        nonempty(&s.twilio_from),
    );
    match (sid, token, from) {
        (None, None, None) => Ok(None),
        (Some(sid), Some(token), Some(from)) => {
            if !from.starts_with('+') || from.len() < 8 {
                return Err(bad(
                    "twilio_from",
                    "must be a phone number in E.164 form, e.g. +14155550100",
                ));
            }
            let api_url = s.twilio_api_url.trim_end_matches('/').to_string();
            if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
                return Err(bad("twilio_api_url", "must be an http:// or https:// URL"));
            }
            Ok(Some(Twilio {
                api_url,
                account_sid: sid.into(),
                auth_token: token.into(),
                from: from.into(),
            }))
        }
        (sid, token, _) => {
            let missing = if sid.is_none() {
                "twilio_account_sid"
            } else if token.is_none() {
                "twilio_auth_token"
            } else {
                "twilio_from"
            };
            Err(bad(missing, "is required when any twilio_* setting is set"))
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone)]
pub enum SecretSource {
    Configured(SecretKey),
    /// Generated on first start and kept in the data directory (embedded default only).
    File(PathBuf),
}

/// A retention period in days; 0 keeps for ever.
fn days(n: u32) -> Option<Duration> {
    (n > 0).then(|| Duration::from_secs(u64::from(n) * 86_400))
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub database_url: String,
    pub backend: Backend,
    pub database_max_connections: u32,
    pub secret: SecretSource,
    pub redis_url: Option<String>,
    pub redis_prefix: String,
    pub public_url: Option<url::Url>,
    pub smtp_url: Option<String>,
    pub mail_from: lettre::message::Mailbox,
    pub log_json: bool,
    pub session_idle: Duration,
    pub session_max_age: Duration,
    pub rate_limit_per_minute: u32,
    pub login_attempts_per_15_minutes: u32,
    pub trust_proxy_headers: bool,
    pub job_workers: usize,
    pub job_lease: Duration,
    pub request_timeout: Duration,
    pub ingest_rate_limit_per_minute: u32,
    pub twilio: Option<Twilio>,
    pub outbound_allowed_networks: Vec<crate::outbound::Network>,
    /// URL templates with `{sha256}`.
    pub photo_lookup_urls: Vec<String>,
    pub retention: Retention,
}

/// How long keel keeps what would otherwise grow without bound; `None`: for ever.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// Audit records.
    pub audit: Option<Duration>,
    /// Jobs kept as dead letters.
    pub dead_jobs: Option<Duration>,
    /// Files in the mail drop (`<data_dir>/mail`, when no SMTP server is configured).
    pub mail_drop: Option<Duration>,
    /// The raw body each alert arrived with (its parsed fields stay).
    pub alert_payloads: Option<Duration>,
    /// Alerts of incidents resolved this long ago, and alerts recorded in maintenance windows
    /// (the incidents and their timelines stay).
    pub resolved_alerts: Option<Duration>,
    /// MindfulCRM's record of AI calls, with the monthly spend and budget warnings of the
    /// months before the cut-off (the current month's always stay: they hold the budget).
    pub ai_ledger: Option<Duration>,
}

/// Credentials for a Twilio-compatible SMS and voice API.
#[derive(Clone)]
pub struct Twilio {
    pub api_url: String,
    pub account_sid: String,
    pub auth_token: String,
    pub from: String,
}

impl std::fmt::Debug for Twilio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Twilio")
            .field("api_url", &self.api_url)
            .field("account_sid", &self.account_sid)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

/// Flags given on the command line; they win over everything else.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
}

impl Config {
    /// Loads from `config_file` (if it exists), the process environment and `overrides`.
    /// Returns the config and warnings about ignored `KEEL_*` variables.
    pub fn load(
        config_file: Option<&Path>,
        overrides: &Overrides,
    ) -> Result<(Self, Vec<String>), ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match config_file {
            Some(path) if path.exists() => figment = figment.merge(Toml::file_exact(path)),
            Some(path) if path != Path::new("keel.toml") => {
                return Err(ConfigError(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            _ => {}
        }
        let mut warnings = Vec::new();
        for (name, _) in std::env::vars() {
            if let Some(key) = name.strip_prefix("KEEL_") {
                let key = key.to_lowercase();
                if !KEYS.contains(&key.as_str())
                    && !NON_SETTING_VARS.contains(&key.as_str())
                    && !key.starts_with("test_")
                {
                    warnings.push(format!("ignoring unknown environment variable {name}"));
                }
            }
        }
        figment = figment
            .merge(Env::prefixed("KEEL_").only(KEYS))
            .merge(Serialized::defaults(overrides));
        let settings: Settings = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        Ok((Self::validate(settings)?, warnings))
    }

    /// Reads a configuration file's text alone, without the environment or flags.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| ConfigError(e.to_string()))?;
        Self::validate(settings)
    }

    pub fn validate(s: Settings) -> Result<Self, ConfigError> {
        let listen: SocketAddr = s.listen.parse().map_err(|_| {
            bad(
                "listen",
                format!("`{}` is not an address like 127.0.0.1:8080", s.listen),
            )
        })?;

        let (database_url, backend) = match s.database_url.as_deref().map(str::trim) {
            None | Some("") => {
                let path = s.data_dir.join("keel.db");
                (
                    format!("sqlite://{}?mode=rwc", path.display()),
                    Backend::Sqlite,
                )
            }
            Some(url) if url.starts_with("sqlite:") => (url.to_string(), Backend::Sqlite),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                (url.to_string(), Backend::Postgres)
            }
            Some(_) => {
                return Err(bad(
                    "database_url",
                    "must start with postgres:// or sqlite: (leave it unset for the embedded database)",
                ));
            }
        };
        // SQLite writes one transaction at a time, and each connection is a thread of its own
        // with a private page cache: beyond a few they cost memory (about 2.5 MB each after a
        // burst) without adding throughput (docs/benchmarks.md, "Memory").
        let database_max_connections = match (s.database_max_connections, backend) {
            (Some(0), _) => return Err(bad("database_max_connections", "must be at least 1")),
            (Some(n), _) => n,
            (None, Backend::Sqlite) => 4,
            (None, Backend::Postgres) => 16,
        };

        let secret = match s.secret_key.as_deref() {
            Some(text) if !text.is_empty() => SecretSource::Configured(
                SecretKey::from_config(text).map_err(|e| bad("secret_key", e))?,
            ),
            _ if backend == Backend::Postgres => {
                return Err(bad(
                    "secret_key",
                    "is required with PostgreSQL: every node must share one key (generate one with `openssl rand -hex 32`)",
                ));
            }
            _ => SecretSource::File(s.data_dir.join("secret.key")),
        };

        if let Some(url) = &s.redis_url
            && !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("unix://"))
        {
            return Err(bad("redis_url", "must start with redis:// or rediss://"));
        }
        if s.redis_prefix.is_empty() || s.redis_prefix.contains(char::is_whitespace) {
            return Err(bad("redis_prefix", "must be a non-empty word"));
        }

        let public_url = match s.public_url.as_deref() {
            None | Some("") => None,
            Some(text) => {
                let url = url::Url::parse(text)
                    .map_err(|e| bad("public_url", format!("is not a URL: {e}")))?;
                if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
                    return Err(bad("public_url", "must be an http:// or https:// URL"));
                }
                Some(url)
            }
        };

        if let Some(url) = &s.smtp_url
            && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
        {
            return Err(bad(
                "smtp_url",
                "must look like smtp://user:pass@host:587?tls=required or smtps://host:465",
            ));
        }
        let mail_from = s
            .mail_from
            .parse()
            .map_err(|e| bad("mail_from", format!("is not a mail address: {e}")))?;

        let log_json = match s.log_format.as_str() {
            "text" => false,
            "json" => true,
            _ => return Err(bad("log_format", "must be `text` or `json`")),
        };
        for (key, value) in [
            ("session_idle_minutes", s.session_idle_minutes),
            ("session_max_days", s.session_max_days),
            ("rate_limit_per_minute", u64::from(s.rate_limit_per_minute)),
            (
                "login_attempts_per_15_minutes",
                u64::from(s.login_attempts_per_15_minutes),
            ),
            ("job_workers", s.job_workers as u64),
            ("request_timeout_seconds", s.request_timeout_seconds),
            (
                "ingest_rate_limit_per_minute",
                u64::from(s.ingest_rate_limit_per_minute),
            ),
        ] {
            if value == 0 {
                return Err(bad(key, "must be at least 1"));
            }
        }

        if s.job_lease_seconds < 3 {
            return Err(bad("job_lease_seconds", "must be at least 3"));
        }

        let twilio = twilio(&s)?;
        let outbound_allowed_networks = s
            .outbound_allowed_networks
            .split([',', ' '])
            .filter(|n| !n.trim().is_empty())
            .map(crate::outbound::Network::parse)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("outbound_allowed_networks", e))?;
        let photo_lookup_urls = s
            .photo_lookup_urls
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| {
                let url = url::Url::parse(&t.replace("{sha256}", "0"));
                match url {
                    Ok(u) if matches!(u.scheme(), "http" | "https") && t.contains("{sha256}") => {
                        Ok(t.to_string())
                    }
                    _ => Err(bad(
                        "photo_lookup_urls",
                        "each must be an http(s) URL with {sha256} in it",
                    )),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;

        Ok(Self {
            listen,
            data_dir: s.data_dir,
            database_url,
            backend,
            database_max_connections,
            secret,
            redis_url: s.redis_url.filter(|u| !u.is_empty()),
            redis_prefix: s.redis_prefix,
            public_url,
            smtp_url: s.smtp_url.filter(|u| !u.is_empty()),
            mail_from,
            log_json,
            session_idle: Duration::from_secs(s.session_idle_minutes * 60),
            session_max_age: Duration::from_secs(s.session_max_days * 86_400),
            rate_limit_per_minute: s.rate_limit_per_minute,
            login_attempts_per_15_minutes: s.login_attempts_per_15_minutes,
            trust_proxy_headers: s.trust_proxy_headers,
            job_workers: s.job_workers,
            job_lease: Duration::from_secs(s.job_lease_seconds),
            request_timeout: Duration::from_secs(s.request_timeout_seconds),
            ingest_rate_limit_per_minute: s.ingest_rate_limit_per_minute,
            twilio,
            outbound_allowed_networks,
            photo_lookup_urls,
            retention: Retention {
                audit: days(s.audit_retention_days),
                dead_jobs: days(s.dead_job_retention_days),
                mail_drop: days(s.mail_drop_retention_days),
                alert_payloads: days(s.alert_payload_retention_days),
                resolved_alerts: days(s.resolved_alert_retention_days),
                ai_ledger: days(s.ai_ledger_retention_days),
            },
        })
    }

    /// The secret key, creating the key file on first start of an embedded install.
    pub fn load_secret(&self) -> std::io::Result<SecretKey> {
        match &self.secret {
            SecretSource::Configured(key) => Ok(key.clone()),
            SecretSource::File(path) => {
                crate::files::create_private_dir(&self.data_dir)?;
                SecretKey::load_or_create(path)
            }
        }
    }

    /// Base URL for links in mail: `public_url`, else the listen address.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.as_str().trim_end_matches('/').to_string(),
            None => format!("http://{}", self.listen),
        }
    }

    pub fn is_https(&self) -> bool {
        self.public_url
            .as_ref()
            .is_some_and(|u| u.scheme() == "https")
    }

    /// A short human summary for `keel config check`; no secrets.
    pub fn describe(&self) -> String {
        let db = match self.backend {
            Backend::Sqlite => format!("SQLite ({})", self.database_url),
            Backend::Postgres => "PostgreSQL (KEEL_DATABASE_URL)".to_string(),
        };
        let secret = match &self.secret {
            SecretSource::Configured(_) => "configured (KEEL_SECRET_KEY)".to_string(),
            SecretSource::File(path) => format!("key file {}", path.display()),
        };
        format!(
            "listen: {}\ndata dir: {}\ndatabase: {db}\nsecret: {secret}\nredis: {}\npublic url: {}\nmail: {}\nsms/voice: {}\noutgoing requests: {}\n",
            self.listen,
            self.data_dir.display(),
            if self.redis_url.is_some() {
                "configured"
            } else {
                "off (single node)"
            },
            self.base_url(),
            if self.smtp_url.is_some() {
                "SMTP".to_string()
            } else {
                format!("written to {}", self.data_dir.join("mail").display())
            },
            match &self.twilio {
                Some(t) => format!("Twilio API at {}", t.api_url),
                None => "off (set twilio_*)".to_string(),
            },
            if self.outbound_allowed_networks.is_empty() {
                "public addresses only".to_string()
            } else {
                let nets: Vec<String> = self
                    .outbound_allowed_networks
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                format!("public addresses and {}", nets.join(", "))
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_embedded() {
        let config = Config::validate(Settings::default()).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.backend, Backend::Sqlite);
        assert!(matches!(config.secret, SecretSource::File(_)));
        assert_eq!(config.database_max_connections, 4);
    }

    #[test]
    fn the_pool_size_follows_the_database_unless_set() {
        let postgres = Settings {
            database_url: Some("postgres://localhost/keel".into()),
            secret_key: Some("k".repeat(32)),
            ..Settings::default()
        };
        let config = Config::validate(postgres.clone()).unwrap();
        assert_eq!(config.database_max_connections, 16);
        let set = Settings {
            database_max_connections: Some(7),
            ..postgres
        };
        assert_eq!(Config::validate(set).unwrap().database_max_connections, 7);
        let none = Settings {
            database_max_connections: Some(0),
            ..Settings::default()
        };
        let err = Config::validate(none).unwrap_err().to_string();
        assert!(err.contains("KEEL_DATABASE_MAX_CONNECTIONS"), "{err}");
    }

    #[test]
    fn postgres_requires_a_secret() {
        let settings = Settings {
            database_url: Some("postgres://localhost/keel".into()),
            ..Settings::default()
        };
        let err = Config::validate(settings).unwrap_err().to_string();
        assert!(err.contains("KEEL_SECRET_KEY"), "{err}");
    }

    #[test]
    fn errors_name_the_key() {
        let settings = Settings {
            listen: "nowhere".into(),
            ..Settings::default()
        };
        assert!(
            Config::validate(settings)
                .unwrap_err()
                .to_string()
                .contains("KEEL_LISTEN")
        );
        let settings = Settings {
            public_url: Some("ftp://x".into()),
            ..Settings::default()
        };
        assert!(
            Config::validate(settings)
                .unwrap_err()
                .to_string()
                .contains("public_url")
        );
    }

    #[test]
    fn a_job_lease_below_three_seconds_is_refused_by_name() {
        let error = Config::from_toml("job_lease_seconds = 2").unwrap_err();
        assert!(error.to_string().contains("job_lease_seconds"), "{error}");
        let config = Config::from_toml("job_lease_seconds = 45").unwrap();
        assert_eq!(config.job_lease, Duration::from_secs(45));
    }
}
