//! Reading.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use keel_platform::contentline::{self, ContentLine, unescape};

use super::recur::{self, Parsed, Read, Series};
use super::*;

/// An open component and the properties directly inside it.
struct Frame {
    name: String,
    line: usize,
    props: Vec<ContentLine>,
}

/// Reads every VEVENT of one or more VCALENDAR objects: the events that could be read and the
/// problems (1-based physical line, message) of the rest. Other components (VTIMEZONE, VTODO,
/// VALARM inside an event) and unknown properties are skipped. A recurring event becomes its
/// occurrences within `window` (see [`recur`]).
pub fn read(text: &str, window: &Window) -> (Vec<Event>, Vec<(usize, String)>) {
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
    (recur::expand(read, window), errors)
}

fn unterminated(frame: &Frame) -> (usize, String) {
    (frame.line, format!("BEGIN:{0} has no END:{0}", frame.name))
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
    let series = series(props, &begin)?;
    let replaces = match first("RECURRENCE-ID") {
        Some(p) => Some(moment(p)?.at.as_millisecond()),
        None => None,
    };
    Ok(Read {
        series,
        replaces,
        event: Event {
            uid,
            title: text("SUMMARY"),
            starts_at: begin.at.as_millisecond(),
            ends_at: end.as_millisecond(),
            all_day: begin.date_only,
            location: text("LOCATION"),
            description: text("DESCRIPTION"),
            attendees,
            series_uid: None,
        },
    })
}

/// RRULE, RDATE and EXDATE of an event; `None` when it does not recur (or its rule uses parts
/// that are not expanded, so it stands as its first occurrence).
fn series(props: &[ContentLine], begin: &Moment) -> Result<Option<Series>, (usize, String)> {
    let rule = match props.iter().find(|p| p.name == "RRULE") {
        None => None,
        Some(p) => match recur::parse_rule(&p.value) {
            Parsed::Rule(rule) => Some(rule),
            Parsed::Unsupported => return Ok(None),
            Parsed::Invalid(why) => return Err((p.line, format!("RRULE: {why}"))),
        },
    };
    let instants = |name: &str| -> Result<Vec<i64>, (usize, String)> {
        let mut out = Vec::new();
        for p in props.iter().filter(|p| p.name == name) {
            // Periods (`start/end`) name their start.
            for value in p.value.split(',') {
                let value = value.split('/').next().unwrap_or(value);
                out.push(moment_of(p, value)?.at.as_millisecond());
            }
        }
        Ok(out)
    };
    let rdates = instants("RDATE")?;
    if rule.is_none() && rdates.is_empty() {
        return Ok(None);
    }
    Ok(Some(Series {
        rule,
        start: begin.civil,
        tz: begin.tz.clone(),
        rdates,
        exdates: instants("EXDATE")?,
    }))
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
    moment_of(p, &p.value)
}

/// One value of `p` (EXDATE and RDATE hold lists), read with `p`'s parameters.
fn moment_of(p: &ContentLine, value: &str) -> Result<Moment, (usize, String)> {
    let value = value.trim();
    let date_only = p
        .param("VALUE")
        .is_some_and(|v| v.eq_ignore_ascii_case("DATE"))
        || (value.len() == 8 && !value.contains('T'));
    let not_valid = |what: &str| (p.line, format!("{} `{value}` is not {what}", p.name));
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

pub(super) fn digits(text: &str) -> Option<i64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

pub(super) fn parse_date(text: &str) -> Option<Date> {
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

pub(super) fn parse_date_time(text: &str) -> Option<DateTime> {
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
pub(super) fn parse_duration(text: &str) -> Option<(i64, i64)> {
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
