//! iCalendar: events written as one VCALENDAR (RFC 5545) and read from files with one or more
//! VCALENDAR objects, as CalDAV servers and calendar apps export them. Reading reports problems
//! by line number; callers refuse the whole file when there are any.
//!
//! A recurring event is stored as its occurrences within a window around today, each its own
//! event (see `recur`).

mod read;
mod recur;
#[cfg(test)]
mod recur_tests;
#[cfg(test)]
mod tests;
mod write;

/// One calendar event as MindfulCRM keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// UID; required when reading.
    pub uid: String,
    /// SUMMARY (may be empty).
    pub title: String,
    /// Milliseconds since the Unix epoch, UTC.
    pub starts_at: i64,
    /// Milliseconds since the Unix epoch, UTC; `>= starts_at`.
    pub ends_at: i64,
    /// `DTSTART;VALUE=DATE`: the event starts at 00:00 UTC of its date.
    pub all_day: bool,
    /// LOCATION.
    pub location: String,
    /// DESCRIPTION.
    pub description: String,
    /// Lower-cased email addresses from ATTENDEE/ORGANIZER `mailto:` URIs, deduplicated, in
    /// order.
    pub attendees: Vec<String>,
    /// For one occurrence of a recurring event: the series' UID (`uid` is then the series'
    /// UID, `#` and the occurrence's start).
    pub series_uid: Option<String>,
}

/// The span recurring events are expanded within, in milliseconds since the epoch: the past
/// year (meetings that land on the timeline) and the next half year (what the dashboard and
/// goals look ahead to).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

impl Window {
    const BEHIND_MS: i64 = 366 * 86_400_000;
    const AHEAD_MS: i64 = 183 * 86_400_000;

    pub fn around(now_ms: i64) -> Self {
        Self {
            from: now_ms.saturating_sub(Self::BEHIND_MS),
            to: now_ms.saturating_add(Self::AHEAD_MS),
        }
    }
}

/// 0001-01-01T00:00:00Z and 9998-12-31T23:59:59.999Z: four-digit years, with room for an
/// exclusive end date within jiff's range, so the output stays readable whatever is stored.
const MIN_MS: i64 = -62_135_596_800_000;
const MAX_MS: i64 = 253_370_764_799_999;

pub use read::*;
pub use write::*;
