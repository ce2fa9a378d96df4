//! iCalendar: events written as one VCALENDAR (RFC 5545) and read from files with one or more
//! VCALENDAR objects, as CalDAV servers and calendar apps export them. Reading reports problems
//! by line number; callers refuse the whole file when there are any.
//!
//! Recurrence is kept simple: an event with RRULE is read as its first occurrence (its own
//! DTSTART/DTEND), and an instance that overrides one occurrence (RECURRENCE-ID) is dropped
//! when its series is in the file; without the series, the first such instance stands for it.

use std::collections::HashSet;

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use keel_platform::contentline::{self, ContentLine, escape, fold_into, unescape};

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

fn utc(ms: i64) -> DateTime {
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

/// An open component and the properties directly inside it.
struct Frame {
    name: String,
    line: usize,
    props: Vec<ContentLine>,
}

/// An event read from the file, before recurrence instances are sorted out.
struct Read {
    event: Event,
    overrides_occurrence: bool,
}

/// Reads every VEVENT of one or more VCALENDAR objects: the events that could be read and the
/// problems (1-based physical line, message) of the rest. Other components (VTIMEZONE, VTODO,
/// VALARM inside an event) and unknown properties are skipped. See the module documentation
/// for recurring events.
pub fn read(text: &str) -> (Vec<Event>, Vec<(usize, String)>) {
    let lines = match contentline::parse(text) {
        Ok(lines) => lines,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let mut read = Vec::new();
    let mut errors = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut saw_calendar = false;
    for line in lines {
        match line.name.as_str() {
            "BEGIN" => {
                let name = line.value.trim().to_ascii_uppercase();
                if stack.is_empty() && name != "VCALENDAR" {
                    errors.push((
                        line.line,
                        format!("BEGIN:{name} outside BEGIN:VCALENDAR … END:VCALENDAR"),
                    ));
                } else if name == "VEVENT" && stack.iter().any(|f| f.name == "VEVENT") {
                    errors.push((line.line, "an event begins inside another event".into()));
                }
                saw_calendar |= name == "VCALENDAR";
                stack.push(Frame {
                    name,
                    line: line.line,
                    props: Vec::new(),
                });
            }
            "END" => {
                let name = line.value.trim().to_ascii_uppercase();
                let Some(depth) = stack.iter().rposition(|f| f.name == name) else {
                    errors.push((line.line, format!("END:{name} without BEGIN:{name}")));
                    continue;
                };
                // Components left open inside this one cannot be read.
                for open in stack.drain(depth + 1..) {
                    errors.push(unterminated(&open));
                }
                let frame = stack.pop().expect("found above");
                // Only events directly in a calendar count; one nested in another was reported.
                let in_calendar = stack.last().is_some_and(|f| f.name == "VCALENDAR");
                if frame.name == "VEVENT" && in_calendar {
                    match event(frame.line, &frame.props) {
                        Ok(r) => read.push(r),
                        Err(e) => errors.push(e),
                    }
                }
            }
            _ => match stack.last_mut() {
                Some(frame) => frame.props.push(line),
                None => errors.push((
                    line.line,
                    format!("`{}` outside BEGIN:VCALENDAR … END:VCALENDAR", line.name),
                )),
            },
        }
    }
    errors.extend(stack.iter().map(unterminated));
    if !saw_calendar {
        // Whatever else is wrong, this says most plainly what the file is not.
        return (
            Vec::new(),
            vec![(1, "the file has no BEGIN:VCALENDAR".into())],
        );
    }
    errors.sort_by_key(|(line, _)| *line);
    (first_occurrences(read), errors)
}

fn unterminated(frame: &Frame) -> (usize, String) {
    (frame.line, format!("BEGIN:{0} has no END:{0}", frame.name))
}

/// Drops instances that override one occurrence of a series (RECURRENCE-ID) when the series
/// itself was read, and keeps only the first of them otherwise.
fn first_occurrences(read: Vec<Read>) -> Vec<Event> {
    let series: HashSet<String> = read
        .iter()
        .filter(|r| !r.overrides_occurrence)
        .map(|r| r.event.uid.clone())
        .collect();
    let mut instances_kept = HashSet::new();
    read.into_iter()
        .filter(|r| {
            !r.overrides_occurrence
                || (!series.contains(&r.event.uid) && instances_kept.insert(r.event.uid.clone()))
        })
        .map(|r| r.event)
        .collect()
}

fn event(start: usize, props: &[ContentLine]) -> Result<Read, (usize, String)> {
    let first = |name: &str| props.iter().find(|p| p.name == name);
    let text = |name: &str| first(name).map(|p| unescape(&p.value)).unwrap_or_default();
    let uid = text("UID");
    if uid.trim().is_empty() {
        return Err((start, "this event has no UID".into()));
    }
    let dtstart = first("DTSTART").ok_or((start, "this event has no DTSTART".to_string()))?;
    let begin = moment(dtstart)?;
    let end = if let Some(dtend) = first("DTEND") {
        let end = moment(dtend)?;
        if end.at < begin.at {
            return Err((dtend.line, "DTEND is before DTSTART".into()));
        }
        end.at
    } else if let Some(duration) = first("DURATION") {
        let (days, seconds) = parse_duration(&duration.value).ok_or((
            duration.line,
            format!("DURATION `{}` is not a duration", duration.value),
        ))?;
        if days < 0 || seconds < 0 {
            return Err((
                duration.line,
                format!("DURATION `{}` is negative", duration.value),
            ));
        }
        // Days are nominal (the same wall-clock time, whatever DST does); the rest is exact.
        begin
            .civil
            .checked_add(SignedDuration::from_hours(days * 24))
            .and_then(|civil| begin.tz.to_timestamp(civil))
            .and_then(|at| at.checked_add(SignedDuration::from_secs(seconds)))
            .map_err(|_| {
                (
                    duration.line,
                    format!("DURATION `{}` is too long", duration.value),
                )
            })?
    } else if begin.date_only {
        begin
            .at
            .checked_add(SignedDuration::from_hours(24))
            .unwrap_or(begin.at)
    } else {
        begin.at
    };
    let mut attendees: Vec<String> = Vec::new();
    for p in props
        .iter()
        .filter(|p| matches!(p.name.as_str(), "ATTENDEE" | "ORGANIZER"))
    {
        let value = p.value.trim();
        let Some(address) = value
            .get(..7)
            .filter(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
            .map(|_| value[7..].trim().to_lowercase())
        else {
            continue;
        };
        if !address.is_empty() && !attendees.contains(&address) {
            attendees.push(address);
        }
    }
    Ok(Read {
        event: Event {
            uid,
            title: text("SUMMARY"),
            starts_at: begin.at.as_millisecond(),
            ends_at: end.as_millisecond(),
            all_day: begin.date_only,
            location: text("LOCATION"),
            description: text("DESCRIPTION"),
            attendees,
        },
        overrides_occurrence: first("RECURRENCE-ID").is_some(),
    })
}

/// A DTSTART/DTEND value: the instant, and the wall-clock time and zone it was given in (for
/// adding nominal days).
struct Moment {
    at: Timestamp,
    civil: DateTime,
    tz: TimeZone,
    date_only: bool,
}

/// `20261123T090000Z` (UTC), `20261123T090000` (floating, taken as UTC), with `TZID=` (an IANA
/// name), or `VALUE=DATE` / a bare `20261123` (00:00 UTC).
fn moment(p: &ContentLine) -> Result<Moment, (usize, String)> {
    let value = p.value.trim();
    let date_only = p
        .param("VALUE")
        .is_some_and(|v| v.eq_ignore_ascii_case("DATE"))
        || (value.len() == 8 && !value.contains('T'));
    let not_valid = |what: &str| (p.line, format!("{} `{}` is not {what}", p.name, p.value));
    if date_only {
        let date = parse_date(value).ok_or_else(|| not_valid("a date (YYYYMMDD)"))?;
        let civil = date.to_datetime(jiff::civil::Time::midnight());
        let at = TimeZone::UTC
            .to_timestamp(civil)
            .map_err(|_| not_valid("a date (YYYYMMDD)"))?;
        return Ok(Moment {
            at,
            civil,
            tz: TimeZone::UTC,
            date_only,
        });
    }
    let (local, is_utc) = match value.strip_suffix(['Z', 'z']) {
        Some(local) => (local, true),
        None => (value, false),
    };
    let civil =
        parse_date_time(local).ok_or_else(|| not_valid("a date-time (YYYYMMDDTHHMMSSZ)"))?;
    // A UTC value ignores any TZID (RFC 5545 forbids the pair); floating time is taken as UTC.
    let tz = match p.param("TZID").filter(|_| !is_utc) {
        Some(tzid) => time_zone(tzid).ok_or_else(|| {
            (
                p.line,
                format!("{} has an unknown time zone `{tzid}`", p.name),
            )
        })?,
        None => TimeZone::UTC,
    };
    let at = tz
        .to_timestamp(civil)
        .map_err(|_| not_valid("a date-time (YYYYMMDDTHHMMSSZ)"))?;
    Ok(Moment {
        at,
        civil,
        tz,
        date_only,
    })
}

/// An IANA name; a leading `/` marks a globally unique TZID (`/mozilla.org/…/Europe/Berlin`),
/// whose IANA name is its tail.
fn time_zone(tzid: &str) -> Option<TimeZone> {
    let tzid = tzid.trim();
    if let Ok(tz) = TimeZone::get(tzid) {
        return Some(tz);
    }
    if !tzid.starts_with('/') {
        return None;
    }
    tzid.match_indices('/')
        .find_map(|(i, _)| TimeZone::get(&tzid[i + 1..]).ok())
}

fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn parse_date(text: &str) -> Option<Date> {
    // ASCII first, so the slicing below stays on character boundaries.
    if text.len() != 8 || !text.is_ascii() {
        return None;
    }
    let (year, month, day) = (
        digits(&text[..4])?,
        digits(&text[4..6])?,
        digits(&text[6..])?,
    );
    Date::new(year as i16, month as i8, day as i8).ok()
}

fn parse_date_time(text: &str) -> Option<DateTime> {
    let (date, time) = text.split_once(['T', 't'])?;
    if time.len() != 6 || !time.is_ascii() {
        return None;
    }
    let (hour, minute, second) = (
        digits(&time[..2])?,
        digits(&time[2..4])?,
        digits(&time[4..])?,
    );
    // A leap second (60) is allowed by RFC 5545 but not by jiff.
    let time = jiff::civil::Time::new(hour as i8, minute as i8, second.min(59) as i8, 0).ok()?;
    Some(parse_date(date)?.to_datetime(time))
}

/// `[+|-]P…`: weeks and days (nominal) and hours, minutes, seconds (exact), as signed
/// `(days, seconds)`. Accepts `P1D`, `PT1H30M`, `P1DT2H`, `P2W`.
fn parse_duration(text: &str) -> Option<(i64, i64)> {
    let text = text.trim();
    let (sign, rest) = match text.as_bytes().first()? {
        b'-' => (-1, &text[1..]),
        b'+' => (1, &text[1..]),
        _ => (1, text),
    };
    let rest = rest.strip_prefix(['P', 'p'])?;
    let (mut days, mut seconds) = (0i64, 0i64);
    let mut in_time = false;
    let (mut parts, mut time_parts) = (0, 0);
    let mut number = String::new();
    for c in rest.chars() {
        match c.to_ascii_uppercase() {
            '0'..='9' => number.push(c),
            'T' if !in_time && number.is_empty() => in_time = true,
            unit => {
                let n = digits(&number)?;
                number.clear();
                parts += 1;
                time_parts += usize::from(in_time);
                match (unit, in_time) {
                    ('W', false) => days = days.checked_add(n.checked_mul(7)?)?,
                    ('D', false) => days = days.checked_add(n)?,
                    ('H', true) => seconds = seconds.checked_add(n.checked_mul(3600)?)?,
                    ('M', true) => seconds = seconds.checked_add(n.checked_mul(60)?)?,
                    ('S', true) => seconds = seconds.checked_add(n)?,
                    _ => return None,
                }
            }
        }
    }
    if parts == 0 || (in_time && time_parts == 0) || !number.is_empty() {
        return None;
    }
    // Limits keep the later arithmetic in range (jiff spans about 20,000 years).
    if days > 7_300_000 || seconds > 630_000_000_000 {
        return None;
    }
    Some((sign * days, sign * seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(rfc3339: &str) -> i64 {
        rfc3339.parse::<Timestamp>().unwrap().as_millisecond()
    }

    fn read_ok(text: &str) -> Vec<Event> {
        let (events, errors) = read(text);
        assert!(errors.is_empty(), "{errors:?}");
        events
    }

    /// Wraps VEVENT lines in a calendar, joined with CRLF.
    fn calendar(lines: &[&str]) -> String {
        let mut text = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n");
        for line in lines {
            text.push_str(line);
            text.push_str("\r\n");
        }
        text.push_str("END:VCALENDAR\r\n");
        text
    }

    #[test]
    fn round_trips_events_field_for_field() {
        let events = vec![
            Event {
                uid: "timed-1@keel".into(),
                title: "Coffee; with Ada, maybe\nthen a walk \\ talk".into(),
                starts_at: ms("2026-11-23T09:00:00Z"),
                ends_at: ms("2026-11-23T10:30:00Z"),
                all_day: false,
                location: "Café Größe, Berlin; upstairs".into(),
                description: "Agenda:\n1. Ünïcode, commas; semicolons\n".repeat(8),
                attendees: vec!["ada@example.com".into(), "grace@example.org".into()],
            },
            Event {
                uid: "all-day-1@keel".into(),
                title: String::new(),
                starts_at: ms("2026-11-23T00:00:00Z"),
                ends_at: ms("2026-11-26T00:00:00Z"),
                all_day: true,
                location: String::new(),
                description: String::new(),
                attendees: Vec::new(),
            },
        ];
        let text = write_calendar(&events, ms("2026-01-02T03:04:05Z"));
        assert!(text.starts_with(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//keel//MindfulCRM//EN\r\nCALSCALE:GREGORIAN\r\n"
        ));
        assert!(text.contains("\r\nDTSTAMP:20260102T030405Z\r\n"));
        assert!(text.contains("\r\nDTSTART:20261123T090000Z\r\nDTEND:20261123T103000Z\r\n"));
        assert!(text.contains("\r\nDTSTART;VALUE=DATE:20261123\r\nDTEND;VALUE=DATE:20261126\r\n"));
        assert!(text.contains("\r\nATTENDEE:mailto:ada@example.com\r\n"));
        assert!(text.contains("\r\n "), "the long description is folded");
        assert!(text.ends_with("END:VCALENDAR\r\n"));
        for line in text.split("\r\n") {
            assert!(line.len() <= 75, "{line:?}");
            assert!(!line.contains('\n'));
        }
        assert_eq!(read_ok(&text), events);
    }

    #[test]
    fn writes_unreadable_stored_values_as_readable_ones() {
        let event = Event {
            uid: "x".into(),
            title: String::new(),
            starts_at: ms("2026-11-23T09:00:00.750Z"),
            ends_at: ms("2026-11-23T08:00:00Z"),
            all_day: false,
            location: String::new(),
            description: String::new(),
            attendees: vec!["evil@example.com\r\nX-INJECTED:1".into()],
        };
        let text = write_calendar(std::slice::from_ref(&event), i64::MAX);
        assert!(text.contains("DTSTAMP:99981231T235959Z"));
        assert!(!text.contains("\r\nX-INJECTED"));
        let back = &read_ok(&text)[0];
        assert_eq!(back.starts_at, ms("2026-11-23T09:00:00Z"));
        assert_eq!(back.ends_at, back.starts_at);
        // An all-day event ending mid-day covers that day; one without length covers one day.
        let all_day = |starts_at, ends_at| Event {
            all_day: true,
            starts_at,
            ends_at,
            ..event.clone()
        };
        let text = write_calendar(
            &[
                all_day(ms("2026-11-23T00:00:00Z"), ms("2026-11-24T12:00:00Z")),
                all_day(ms("2026-11-23T00:00:00Z"), ms("2026-11-23T00:00:00Z")),
            ],
            0,
        );
        let back = read_ok(&text);
        assert_eq!(back[0].ends_at, ms("2026-11-25T00:00:00Z"));
        assert_eq!(back[1].ends_at, ms("2026-11-24T00:00:00Z"));
        let last = read_ok(&write_calendar(&[all_day(i64::MAX, i64::MAX)], 0));
        assert_eq!(last[0].starts_at, ms("9998-12-31T00:00:00Z"));
        assert_eq!(last[0].ends_at, ms("9999-01-01T00:00:00Z"));
        assert_eq!(MIN_MS, ms("0001-01-01T00:00:00Z"));
        assert_eq!(MAX_MS, ms("9998-12-31T23:59:59.999Z"));
    }

    #[test]
    fn converts_time_zones_across_daylight_saving() {
        // Europe/Berlin moves from +01:00 to +02:00 at 02:00 local on 2026-03-29.
        let events = read_ok(&calendar(&[
            "BEGIN:VEVENT",
            "UID:over-the-switch",
            "DTSTART;TZID=Europe/Berlin:20260329T010000",
            "DTEND;TZID=\"Europe/Berlin\":20260329T040000",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:in-the-gap",
            "DTSTART;TZID=/example.com/20260101_1/Europe/Berlin:20260329T023000",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:floating",
            "DTSTART:20260329T010000",
            "DTEND;TZID=America/New_York:20260329T010000",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:utc-wins-over-tzid",
            "DTSTART;TZID=Europe/Berlin:20260329T010000Z",
            "END:VEVENT",
        ]));
        assert_eq!(events[0].starts_at, ms("2026-03-29T00:00:00Z"));
        assert_eq!(events[0].ends_at, ms("2026-03-29T02:00:00Z"));
        assert!(!events[0].all_day);
        // RFC 5545: a time that does not exist uses the offset from before the gap.
        assert_eq!(events[1].starts_at, ms("2026-03-29T01:30:00Z"));
        assert_eq!(events[1].ends_at, events[1].starts_at);
        assert_eq!(events[2].starts_at, ms("2026-03-29T01:00:00Z"));
        assert_eq!(events[2].ends_at, ms("2026-03-29T05:00:00Z"));
        assert_eq!(events[3].starts_at, ms("2026-03-29T01:00:00Z"));
    }

    #[test]
    fn reads_durations() {
        let events = read_ok(&calendar(&[
            "BEGIN:VEVENT",
            "UID:hour",
            "DTSTART:20261123T090000Z",
            "DURATION:PT1H",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:half-hour",
            "DTSTART:20261123T090000Z",
            "DURATION:+PT30M",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:day-and-two-hours",
            "DTSTART:20261123T090000Z",
            "DURATION:P1DT2H",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:two-weeks",
            "DTSTART;VALUE=DATE:20261123",
            "DURATION:P2W",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:nominal-day-over-dst",
            "DTSTART;TZID=Europe/Berlin:20260328T120000",
            "DURATION:P1D",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:all-day-default",
            "DTSTART;VALUE=DATE:20261123",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:dtend-wins",
            "DTSTART:20261123T090000Z",
            "DTEND:20261123T091500Z",
            "DURATION:PT1H",
            "END:VEVENT",
        ]));
        let lengths: Vec<i64> = events.iter().map(|e| e.ends_at - e.starts_at).collect();
        let hour = 3_600_000;
        assert_eq!(
            lengths,
            [
                hour,
                hour / 2,
                26 * hour,
                14 * 24 * hour,
                23 * hour,
                24 * hour,
                hour / 4
            ]
        );
        assert!(events[3].all_day && events[5].all_day);
        assert_eq!(events[3].starts_at, ms("2026-11-23T00:00:00Z"));
        assert_eq!(
            parse_duration("P1W2DT3H4M5S"),
            Some((9, 3 * 3600 + 4 * 60 + 5))
        );
        for bad in [
            "", "P", "PT", "1H", "PH", "P1H", "PT1D", "P1DT", "P1.5D", "PT1H2",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn reads_a_server_export_with_other_components() {
        let text = "\
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Example Corp//Example Calendar 4.2//EN\r
METHOD:PUBLISH\r
X-WR-CALNAME:Work\r
X-WR-TIMEZONE:Europe/Berlin\r
BEGIN:VTIMEZONE\r
TZID:Europe/Berlin\r
X-LIC-LOCATION:Europe/Berlin\r
BEGIN:DAYLIGHT\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
TZNAME:CEST\r
DTSTART:19700329T020000\r
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r
END:DAYLIGHT\r
BEGIN:STANDARD\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
TZNAME:CET\r
DTSTART:19701025T030000\r
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r
END:STANDARD\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
DTSTAMP:20260101T120000Z\r
UID:5f1c2e7a-9a0b-4c1d-8e2f-3a4b5c6d7e8f@calendar.example.com\r
SEQUENCE:2\r
CREATED:20251201T080000Z\r
SUMMARY;LANGUAGE=en:Quarterly review\\, Q2\r
DTSTART;TZID=Europe/Berlin:20260615T140000\r
DTEND;TZID=Europe/Berlin:20260615T153000\r
LOCATION:Room 4\\; Building B\r
DESCRIPTION:Bring the numbers.\\nAnd the slides\\, please. This line is lo\r
 ng enough that the server folded it across two physical lines.\r
ORGANIZER;CN=\"Doe, Jane\":MAILTO:Jane.Doe@Example.com\r
ATTENDEE;CN=Sam;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:\r
 sam@example.com\r
ATTENDEE;CUTYPE=ROOM;CN=Room 4:urn:uuid:00000000-0000-0000-0000-000000000004\r
ATTENDEE;CN=Jane;PARTSTAT=ACCEPTED:mailto:jane.doe@example.com\r
X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r
X-ALT-DESC;FMTTYPE=text/html:<p>Bring the numbers: <b>all</b></p>\r
X-GOOGLE-CONFERENCE:https://meet.example.com/abc-defg-hij\r
BEGIN:VALARM\r
ACTION:DISPLAY\r
DESCRIPTION:Reminder\r
SUMMARY:Alarm summary\r
TRIGGER;RELATED=START:-PT15M\r
UID:alarm-1\r
END:VALARM\r
STATUS:CONFIRMED\r
END:VEVENT\r
BEGIN:VTODO\r
UID:todo-1@calendar.example.com\r
DTSTART:20260601T090000Z\r
SUMMARY:Not an event\r
END:VTODO\r
BEGIN:VEVENT\r
UID:weekly@calendar.example.com\r
DTSTART;TZID=Europe/Berlin:20260105T090000\r
DURATION:PT15M\r
RRULE:FREQ=WEEKLY;BYDAY=MO\r
SUMMARY:Stand-up\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:weekly@calendar.example.com\r
RECURRENCE-ID;TZID=Europe/Berlin:20260112T090000\r
DTSTART;TZID=Europe/Berlin:20260112T100000\r
DURATION:PT15M\r
SUMMARY:Stand-up (moved)\r
END:VEVENT\r
END:VCALENDAR\r
BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//Example Corp//Other//EN\r
BEGIN:VEVENT\r
UID:one-instance@calendar.example.com\r
RECURRENCE-ID:20260302T080000Z\r
DTSTART:20260302T080000Z\r
SUMMARY:Only this instance was shared\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:one-instance@calendar.example.com\r
RECURRENCE-ID:20260309T080000Z\r
DTSTART:20260309T080000Z\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:birthday@calendar.example.com\r
DTSTART;VALUE=DATE:20261224\r
DTEND;VALUE=DATE:20261225\r
SUMMARY:Ada's birthday\r
END:VEVENT\r
END:VCALENDAR\r
";
        let events = read_ok(text);
        let uids: Vec<&str> = events.iter().map(|e| e.uid.as_str()).collect();
        assert_eq!(
            uids,
            [
                "5f1c2e7a-9a0b-4c1d-8e2f-3a4b5c6d7e8f@calendar.example.com",
                "weekly@calendar.example.com",
                "one-instance@calendar.example.com",
                "birthday@calendar.example.com",
            ]
        );
        let review = &events[0];
        assert_eq!(review.title, "Quarterly review, Q2");
        assert_eq!(review.starts_at, ms("2026-06-15T12:00:00Z"));
        assert_eq!(review.ends_at, ms("2026-06-15T13:30:00Z"));
        assert_eq!(review.location, "Room 4; Building B");
        assert_eq!(
            review.description,
            "Bring the numbers.\nAnd the slides, please. This line is long enough that the server folded it across two physical lines."
        );
        assert_eq!(
            review.attendees,
            ["jane.doe@example.com", "sam@example.com"]
        );
        // The series, not the moved instance; the winter offset is +01:00.
        assert_eq!(events[1].title, "Stand-up");
        assert_eq!(events[1].starts_at, ms("2026-01-05T08:00:00Z"));
        assert_eq!(events[1].ends_at, ms("2026-01-05T08:15:00Z"));
        assert_eq!(events[2].title, "Only this instance was shared");
        assert!(events[3].all_day);
        assert_eq!(events[3].title, "Ada's birthday");
    }

    #[test]
    fn reports_problems_by_line() {
        let text = calendar(&[
            "BEGIN:VEVENT",                                   // 3
            "UID:no-start",                                   // 4
            "SUMMARY:No start",                               // 5
            "END:VEVENT",                                     // 6
            "BEGIN:VEVENT",                                   // 7
            "UID:bad-date",                                   // 8
            "DTSTART:20261332T100000Z",                       // 9
            "END:VEVENT",                                     // 10
            "BEGIN:VEVENT",                                   // 11
            "UID:unknown-zone",                               // 12
            "DTSTART;TZID=Mars/Olympus_Mons:20261101T100000", // 13
            "END:VEVENT",                                     // 14
            "BEGIN:VEVENT",                                   // 15
            "UID:backwards",                                  // 16
            "DTSTART:20261101T100000Z",                       // 17
            "DTEND:20261101T090000Z",                         // 18
            "END:VEVENT",                                     // 19
            "BEGIN:VEVENT",                                   // 20
            "UID:negative",                                   // 21
            "DTSTART:20261101T100000Z",                       // 22
            "DURATION:-PT1H",                                 // 23
            "END:VEVENT",                                     // 24
            "BEGIN:VEVENT",                                   // 25
            "DTSTART:20261101T100000Z",                       // 26
            "END:VEVENT",                                     // 27
            "BEGIN:VEVENT",                                   // 28
            "UID:bad-day",                                    // 29
            "DTSTART;VALUE=DATE:2026-11-01",                  // 30
            "END:VEVENT",                                     // 31
            "BEGIN:VEVENT",                                   // 32
            "UID:fine",                                       // 33
            "DTSTART:20261101T100000Z",                       // 34
            "END:VEVENT",                                     // 35
        ]);
        let (events, errors) = read(&text);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].uid, "fine");
        let expected = [
            (3, "this event has no DTSTART"),
            (
                9,
                "DTSTART `20261332T100000Z` is not a date-time (YYYYMMDDTHHMMSSZ)",
            ),
            (13, "DTSTART has an unknown time zone `Mars/Olympus_Mons`"),
            (18, "DTEND is before DTSTART"),
            (23, "DURATION `-PT1H` is negative"),
            (25, "this event has no UID"),
            (30, "DTSTART `2026-11-01` is not a date (YYYYMMDD)"),
        ];
        let expected: Vec<(usize, String)> =
            expected.iter().map(|(l, m)| (*l, m.to_string())).collect();
        assert_eq!(errors, expected);
        // Multi-byte characters where digits belong are refused, not sliced through.
        let (_, errors) = read(&calendar(&[
            "BEGIN:VEVENT",
            "UID:x",
            "DTSTART:2026é101T10000é",
            "END:VEVENT",
        ]));
        assert_eq!(
            errors,
            [(
                5,
                "DTSTART `2026é101T10000é` is not a date-time (YYYYMMDDTHHMMSSZ)".to_string()
            )]
        );
    }

    #[test]
    fn reports_unterminated_and_misplaced_components() {
        let (events, errors) =
            read("BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:x\nDTSTART:20261101T100000Z\n");
        assert!(events.is_empty());
        assert_eq!(
            errors,
            [
                (1, "BEGIN:VCALENDAR has no END:VCALENDAR".to_string()),
                (3, "BEGIN:VEVENT has no END:VEVENT".to_string()),
            ]
        );
        // A VALARM left open is closed by its event's END, which still reads the event.
        let (events, errors) = read(&calendar(&[
            "BEGIN:VEVENT",
            "UID:x",
            "DTSTART:20261101T100000Z",
            "BEGIN:VALARM",
            "TRIGGER:-PT5M",
            "END:VEVENT",
            "END:VALARM",
        ]));
        assert_eq!(events.len(), 1);
        assert_eq!(
            errors,
            [
                (6, "BEGIN:VALARM has no END:VALARM".to_string()),
                (9, "END:VALARM without BEGIN:VALARM".to_string()),
            ]
        );
        // An event whose END is missing is not read, even when its calendar ends.
        let (events, errors) = read(&calendar(&[
            "BEGIN:VEVENT",
            "UID:x",
            "DTSTART:20261101T100000Z",
        ]));
        assert!(events.is_empty());
        assert_eq!(errors, [(3, "BEGIN:VEVENT has no END:VEVENT".to_string())]);
        let (_, errors) = read(&format!(
            "{}UID:stray\n",
            calendar(&[
                "BEGIN:VEVENT",
                "UID:a",
                "DTSTART:20261101",
                "BEGIN:VEVENT",
                "END:VEVENT",
                "END:VEVENT"
            ])
        ));
        assert_eq!(
            errors,
            [
                (6, "an event begins inside another event".to_string()),
                (
                    10,
                    "`UID` outside BEGIN:VCALENDAR … END:VCALENDAR".to_string()
                ),
            ]
        );
    }

    #[test]
    fn refuses_files_without_a_calendar() {
        let none = vec![(1, "the file has no BEGIN:VCALENDAR".to_string())];
        assert_eq!(read(""), (Vec::new(), none.clone()));
        assert_eq!(
            read("BEGIN:VCARD\r\nVERSION:4.0\r\nFN:Ada\r\nEND:VCARD\r\n"),
            (Vec::new(), none)
        );
        assert_eq!(
            read("BEGIN:VCALENDAR\r\nnot a content line\r\n").1,
            [(2, "is not a content line (NAME:value)".to_string())]
        );
        // An empty calendar is a valid file with no events.
        assert_eq!(read(&calendar(&[])), (Vec::new(), Vec::new()));
    }
}
