//! A user's MindfulCRM settings: time zone (for dates on pages, event times typed in forms
//! and the digest hour), default keep-in-touch cadence for new contacts, and the daily digest.
//! A user without a saved row has the defaults.

use keel_platform::domain::{Timestamp, Validator};
use keel_platform::identity::Principal;
use keel_platform::store::Executor;
use keel_platform::{AppError, AppResult, Platform};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct Settings {
    /// IANA time zone name, such as `Europe/Berlin`.
    pub time_zone: String,
    /// Cadence (days) given to new contacts that do not name one; null: none.
    pub default_cadence_days: Option<i64>,
    /// Email a digest of due reconnects and tasks once a day.
    pub digest_enabled: bool,
    /// Local hour (0-23) the digest is sent at.
    pub digest_hour: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            time_zone: "UTC".into(),
            default_cadence_days: None,
            digest_enabled: false,
            digest_hour: 8,
        }
    }
}

impl Settings {
    /// The time zone; a name that stopped resolving (tzdata changes) falls back to UTC.
    pub fn tz(&self) -> jiff::tz::TimeZone {
        jiff::tz::TimeZone::get(&self.time_zone).unwrap_or(jiff::tz::TimeZone::UTC)
    }

    /// `at` as local civil time.
    pub fn local(&self, at: Timestamp) -> jiff::civil::DateTime {
        self.tz().to_datetime(at.to_jiff())
    }

    /// Milliseconds at which local midnight starts `day` (later if midnight is skipped).
    pub fn start_of_day(&self, day: jiff::civil::Date) -> i64 {
        self.tz()
            .to_timestamp(day.to_datetime(jiff::civil::Time::midnight()))
            .map_or(0, |t| t.as_millisecond())
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsInput {
    pub time_zone: String,
    #[serde(default)]
    pub default_cadence_days: Option<i64>,
    #[serde(default)]
    pub digest_enabled: bool,
    #[serde(default = "default_hour")]
    pub digest_hour: i64,
}

fn default_hour() -> i64 {
    8
}

#[derive(sqlx::FromRow)]
struct SettingsRow {
    time_zone: String,
    default_cadence_days: Option<i64>,
    digest_enabled: i64,
    digest_hour: i64,
}

pub async fn get<'c>(db: impl Executor<'c>, user_id: i64) -> AppResult<Settings> {
    let row: Option<SettingsRow> = sqlx::query_as(
        "SELECT time_zone, default_cadence_days, digest_enabled, digest_hour FROM crm_settings WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await?;
    Ok(row.map_or_else(Settings::default, |r| Settings {
        time_zone: r.time_zone,
        default_cadence_days: r.default_cadence_days,
        digest_enabled: r.digest_enabled != 0,
        digest_hour: r.digest_hour,
    }))
}

pub async fn save(
    platform: &Platform,
    principal: &Principal,
    input: &SettingsInput,
) -> AppResult<Settings> {
    let mut v = Validator::new();
    let time_zone = input.time_zone.trim();
    if jiff::tz::TimeZone::get(time_zone).is_err() {
        v.add(
            "time_zone",
            "is not a known IANA time zone (such as Europe/Berlin)",
        );
    }
    if input
        .default_cadence_days
        .is_some_and(|d| !(1..=3650).contains(&d))
    {
        v.add("default_cadence_days", "must be between 1 and 3650 days");
    }
    if !(0..=23).contains(&input.digest_hour) {
        v.add("digest_hour", "must be an hour from 0 to 23");
    }
    v.finish().map_err(AppError::Validation)?;
    // A changed time zone or hour may make today's digest due again; keep the day it was sent.
    sqlx::query(
        "INSERT INTO crm_settings (user_id, time_zone, default_cadence_days, digest_enabled, digest_hour, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (user_id) DO UPDATE SET time_zone = excluded.time_zone, default_cadence_days = excluded.default_cadence_days, \
         digest_enabled = excluded.digest_enabled, digest_hour = excluded.digest_hour, updated_at = excluded.updated_at",
    )
    .bind(principal.user.id)
    .bind(time_zone)
    .bind(input.default_cadence_days)
    .bind(i64::from(input.digest_enabled))
    .bind(input.digest_hour)
    .bind(platform.now().as_millis())
    .execute(platform.db.pool())
    .await?;
    get(platform.db.pool(), principal.user.id).await
}
