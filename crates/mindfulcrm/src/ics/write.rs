//! Writing.

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use keel_platform::contentline::{escape, fold_into};

use super::*;

/// Writes a whole VCALENDAR with one VEVENT per event. DTSTAMP is `stamp_ms` in UTC. Timed
/// events are written in UTC (`20261123T090000Z`, whole seconds); all-day events as
/// `DTSTART;VALUE=DATE:20261123` and `DTEND;VALUE=DATE:` the exclusive end date.
pub fn write_calendar(events: &[Event], stamp_ms: i64) -> String {
    let mut out = String::new();
    let mut line = |text: String| fold_into(&mut out, &text);
    line("BEGIN:VCALENDAR".into());
    line("VERSION:2.0".into());
    line("PRODID:-//keel//MindfulCRM//EN".into());
    line("CALSCALE:GREGORIAN".into());
    for event in events {
        line("BEGIN:VEVENT".into());
        line(format!("UID:{}", escape(&event.uid)));
        line(format!("DTSTAMP:{}", utc_date_time(stamp_ms)));
        // An end before the start would make the file unreadable; such an event has no length.
        let ends_at = event.ends_at.max(event.starts_at);
        if event.all_day {
            let start = utc(event.starts_at).date();
            let end = utc(ends_at);
            // Exclusive end: a partly covered last day counts, and an all-day event lasts at
            // least one day.
            let mut end_date = end.date();
            if end.time() != jiff::civil::Time::midnight() {
                end_date = end_date.tomorrow().unwrap_or(end_date);
            }
            if end_date <= start {
                end_date = start.tomorrow().unwrap_or(start);
            }
            line(format!("DTSTART;VALUE=DATE:{}", basic_date(start)));
            line(format!("DTEND;VALUE=DATE:{}", basic_date(end_date)));
        } else {
            line(format!("DTSTART:{}", utc_date_time(event.starts_at)));
            line(format!("DTEND:{}", utc_date_time(ends_at)));
        }
        if !event.title.is_empty() {
            line(format!("SUMMARY:{}", escape(&event.title)));
        }
        if !event.location.is_empty() {
            line(format!("LOCATION:{}", escape(&event.location)));
        }
        if !event.description.is_empty() {
            line(format!("DESCRIPTION:{}", escape(&event.description)));
        }
        for address in &event.attendees {
            // A URI, not TEXT: no escaping, but a line break would end the property.
            let address: String = address.chars().filter(|c| !c.is_control()).collect();
            line(format!("ATTENDEE:mailto:{address}"));
        }
        line("END:VEVENT".into());
    }
    line("END:VCALENDAR".into());
    out
}

pub(super) fn utc(ms: i64) -> DateTime {
    let ts = Timestamp::from_millisecond(ms.clamp(MIN_MS, MAX_MS))
        .expect("years 1 to 9998 are within jiff's range");
    TimeZone::UTC.to_datetime(ts)
}

fn basic_date(date: Date) -> String {
    format!("{:04}{:02}{:02}", date.year(), date.month(), date.day())
}

fn utc_date_time(ms: i64) -> String {
    let dt = utc(ms);
    format!(
        "{}T{:02}{:02}{:02}Z",
        basic_date(dt.date()),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}
