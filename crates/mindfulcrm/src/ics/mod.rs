//! iCalendar: events written as one VCALENDAR (RFC 5545) and read from files with one or more
//! VCALENDAR objects, as CalDAV servers and calendar apps export them. Reading reports problems
//! by line number; callers refuse the whole file when there are any.
//!
//! Recurrence is kept simple: an event with RRULE is read as its first occurrence (its own
//! DTSTART/DTEND), and an instance that overrides one occurrence (RECURRENCE-ID) is dropped
//! when its series is in the file; without the series, the first such instance stands for it.

mod read;
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
}

/// 0001-01-01T00:00:00Z and 9998-12-31T23:59:59.999Z: four-digit years, with room for an
/// exclusive end date within jiff's range, so the output stays readable whatever is stored.
const MIN_MS: i64 = -62_135_596_800_000;
const MAX_MS: i64 = 253_370_764_799_999;

pub use read::*;
pub use write::*;
