use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An instant, stored as milliseconds since the Unix epoch (one BIGINT on both databases)
/// and written as RFC 3339 in the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// An IANA time-zone name, checked against the bundled database.
pub fn parse_time_zone(name: &str) -> Result<jiff::tz::TimeZone, String> {
    jiff::tz::TimeZone::get(name.trim())
        .map_err(|_| format!("unknown time zone `{name}` (use an IANA name such as Europe/Berlin)"))
}

impl Timestamp {
    pub const fn from_millis(millis: i64) -> Self {
        Self(millis)
    }

    pub const fn as_millis(self) -> i64 {
        self.0
    }

    pub fn to_jiff(self) -> jiff::Timestamp {
        jiff::Timestamp::from_millisecond(self.0).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    pub fn parse_rfc3339(text: &str) -> Result<Self, String> {
        text.parse::<jiff::Timestamp>()
            .map(|t| Self(t.as_millisecond()))
            .map_err(|_| "must be an RFC 3339 timestamp such as 2026-01-31T09:00:00Z".to_string())
    }

    pub fn plus(self, duration: std::time::Duration) -> Self {
        Self(self.0.saturating_add(duration.as_millis() as i64))
    }

    pub fn minus(self, duration: std::time::Duration) -> Self {
        Self(self.0.saturating_sub(duration.as_millis() as i64))
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> std::time::Duration {
        std::time::Duration::from_millis(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    /// A moment as a form gives it: RFC 3339, or a local date-time (what
    /// `<input type=datetime-local>` sends, `2026-12-01T22:00`) read in `zone`.
    pub fn parse_local(raw: &str, zone: &jiff::tz::TimeZone) -> Result<Self, String> {
        let raw = raw.trim();
        if let Ok(at) = Self::parse_rfc3339(raw) {
            return Ok(at);
        }
        let local: jiff::civil::DateTime = raw
            .parse()
            .map_err(|_| "must be a date and time such as 2026-12-01T22:00".to_string())?;
        zone.to_timestamp(local)
            .map(|t| Self(t.as_millisecond()))
            .map_err(|e| e.to_string())
    }

    /// This moment as a reader of `zone` says it: "Fri 4 Dec 09:00" (the zone is named
    /// once on the page, not after every time).
    pub fn local_text(self, zone: &jiff::tz::TimeZone) -> String {
        self.to_jiff()
            .to_zoned_datetime(zone.clone())
            .strftime("%a %-d %b %H:%M")
            .to_string()
    }

    /// How long ago this was, in the fewest words a list needs: "just now", "12 min",
    /// "3 h 5 min", "2 d 4 h".
    pub fn age_at(self, now: Timestamp) -> String {
        let minutes = now.since(self).as_secs() / 60;
        let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
        match (days, hours, mins) {
            (0, 0, 0) => "just now".into(),
            (0, 0, m) => format!("{m} min"),
            (0, h, 0) => format!("{h} h"),
            (0, h, m) => format!("{h} h {m} min"),
            (d, 0, _) => format!("{d} d"),
            (d, h, _) => format!("{d} d {h} h"),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}", self.to_jiff())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::DateTime,
            )))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_times_are_read_in_their_zone() {
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        let local = Timestamp::parse_local("2026-12-01T22:00", &berlin).unwrap();
        assert_eq!(local.to_string(), "2026-12-01T21:00:00.000Z");
        let exact = Timestamp::parse_local("2026-12-01T22:00:00Z", &berlin).unwrap();
        assert_eq!(exact.to_string(), "2026-12-01T22:00:00.000Z");
        assert!(Timestamp::parse_local("soon", &berlin).is_err());
    }

    #[test]
    fn local_text_is_in_the_zone_asked_for() {
        let t = Timestamp::parse_rfc3339("2026-12-04T08:00:00Z").unwrap();
        let berlin = jiff::tz::TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(t.local_text(&berlin), "Fri 4 Dec 09:00");
        assert_eq!(t.local_text(&jiff::tz::TimeZone::UTC), "Fri 4 Dec 08:00");
    }

    #[test]
    fn ages_read_in_the_fewest_words() {
        let now = Timestamp::from_millis(10 * 86_400_000);
        let ago = |mins: i64| Timestamp::from_millis(now.as_millis() - mins * 60_000).age_at(now);
        assert_eq!(ago(0), "just now");
        assert_eq!(ago(12), "12 min");
        assert_eq!(ago(60), "1 h");
        assert_eq!(ago(185), "3 h 5 min");
        assert_eq!(ago(2 * 1440 + 4 * 60 + 59), "2 d 4 h");
        assert_eq!(ago(3 * 1440 + 30), "3 d");
        assert_eq!(
            ago(-5),
            "just now",
            "a clock a little ahead is not negative"
        );
    }

    #[test]
    fn round_trips_through_rfc3339() {
        let t = Timestamp::parse_rfc3339("2026-03-08T07:00:00.250Z").unwrap();
        assert_eq!(t.to_string(), "2026-03-08T07:00:00.250Z");
        assert_eq!(Timestamp::parse_rfc3339(&t.to_string()).unwrap(), t);
    }

    #[test]
    fn rejects_garbage() {
        assert!(Timestamp::parse_rfc3339("yesterday").is_err());
    }
}
