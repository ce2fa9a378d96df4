//! Recurring events (RFC 5545 §3.3.10, §3.8.5): a series becomes the occurrences that touch a
//! window, each stored as its own event. RRULE with FREQ DAILY, WEEKLY, MONTHLY or YEARLY and
//! INTERVAL, COUNT, UNTIL, BYDAY, BYMONTHDAY, BYMONTH, BYSETPOS and WKST is expanded; RDATE
//! adds occurrences, EXDATE removes them, and an instance with RECURRENCE-ID replaces the
//! occurrence it names. Rules with parts this does not read (BYHOUR, BYWEEKNO, HOURLY, …) keep
//! the series as its first occurrence.

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

use super::{Event, Window};

/// Occurrences of one series kept within a window; a daily series over the default window
/// needs about 550.
const MAX_OCCURRENCES: usize = 1_000;
/// Periods looked at before giving up, so a rule that matches nothing ends.
const MAX_PERIODS: usize = 200_000;
const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

/// UNTIL as written: a date, a UTC instant, or a wall-clock time in the series' zone.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Until {
    Date(Date),
    Instant(Timestamp),
    Local(DateTime),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Rule {
    freq: Freq,
    interval: i64,
    count: Option<usize>,
    until: Option<Until>,
    /// (n, weekday): n = 0 for every such weekday of the period, ±n for the nth from the
    /// start or end.
    by_day: Vec<(i32, Weekday)>,
    by_month_day: Vec<i8>,
    by_month: Vec<i8>,
    by_set_pos: Vec<i32>,
    week_start: Weekday,
}

/// What a rule says: expandable, valid but using parts this does not expand, or unreadable.
pub(super) enum Parsed {
    Rule(Rule),
    Unsupported,
    Invalid(String),
}

/// Reads an RRULE value such as `FREQ=WEEKLY;INTERVAL=2;BYDAY=MO,WE;UNTIL=20261231T000000Z`.
pub(super) fn parse_rule(text: &str) -> Parsed {
    let mut freq = None;
    let mut rule = Rule {
        freq: Freq::Daily,
        interval: 1,
        count: None,
        until: None,
        by_day: Vec::new(),
        by_month_day: Vec::new(),
        by_month: Vec::new(),
        by_set_pos: Vec::new(),
        week_start: Weekday::Monday,
    };
    let mut unsupported = false;
    for part in text.trim().split(';').filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Parsed::Invalid(format!("`{part}` is not NAME=VALUE"));
        };
        let value = value.trim();
        let bad = || Parsed::Invalid(format!("{key} `{value}` cannot be read"));
        match key.trim().to_ascii_uppercase().as_str() {
            "FREQ" => {
                freq = match value.to_ascii_uppercase().as_str() {
                    "DAILY" => Some(Freq::Daily),
                    "WEEKLY" => Some(Freq::Weekly),
                    "MONTHLY" => Some(Freq::Monthly),
                    "YEARLY" => Some(Freq::Yearly),
                    "SECONDLY" | "MINUTELY" | "HOURLY" => {
                        unsupported = true;
                        Some(Freq::Daily)
                    }
                    _ => return bad(),
                }
            }
            "INTERVAL" => match value.parse::<i64>() {
                Ok(n @ 1..=10_000) => rule.interval = n,
                _ => return bad(),
            },
            "COUNT" => match value.parse::<usize>() {
                Ok(n) if n >= 1 => rule.count = Some(n),
                _ => return bad(),
            },
            "UNTIL" => match until(value) {
                Some(u) => rule.until = Some(u),
                None => return bad(),
            },
            "BYDAY" => {
                for item in value.split(',') {
                    match by_day(item) {
                        Some(day) => rule.by_day.push(day),
                        None => return bad(),
                    }
                }
            }
            "BYMONTHDAY" => match numbers(value, 31) {
                Some(days) => rule.by_month_day = days.into_iter().map(|d| d as i8).collect(),
                None => return bad(),
            },
            "BYMONTH" => match numbers(value, 12) {
                Some(months) if months.iter().all(|m| *m > 0) => {
                    rule.by_month = months.into_iter().map(|m| m as i8).collect()
                }
                _ => return bad(),
            },
            "BYSETPOS" => match numbers(value, 366) {
                Some(positions) => rule.by_set_pos = positions,
                None => return bad(),
            },
            "WKST" => match weekday(value) {
                Some(day) => rule.week_start = day,
                None => return bad(),
            },
            "BYSECOND" | "BYMINUTE" | "BYHOUR" | "BYYEARDAY" | "BYWEEKNO" => unsupported = true,
            // Extensions (X-…, RSCALE, SKIP) are ignored.
            _ => {}
        }
    }
    let Some(freq) = freq else {
        return Parsed::Invalid("FREQ is missing".into());
    };
    if unsupported {
        return Parsed::Unsupported;
    }
    rule.freq = freq;
    Parsed::Rule(rule)
}

fn until(value: &str) -> Option<Until> {
    if value.len() == 8 {
        return super::read::parse_date(value).map(Until::Date);
    }
    match value.strip_suffix(['Z', 'z']) {
        Some(local) => {
            let civil = super::read::parse_date_time(local)?;
            TimeZone::UTC.to_timestamp(civil).ok().map(Until::Instant)
        }
        None => super::read::parse_date_time(value).map(Until::Local),
    }
}

fn weekday(text: &str) -> Option<Weekday> {
    Some(match text.trim().to_ascii_uppercase().as_str() {
        "MO" => Weekday::Monday,
        "TU" => Weekday::Tuesday,
        "WE" => Weekday::Wednesday,
        "TH" => Weekday::Thursday,
        "FR" => Weekday::Friday,
        "SA" => Weekday::Saturday,
        "SU" => Weekday::Sunday,
        _ => return None,
    })
}

/// `MO`, `2TU`, `-1SU`, `+3FR`.
fn by_day(item: &str) -> Option<(i32, Weekday)> {
    let item = item.trim();
    let split = item.len().checked_sub(2)?;
    let (n, day) = (item.get(..split)?, item.get(split..)?);
    let n = match n {
        "" => 0,
        n => n.parse::<i32>().ok().filter(|n| *n != 0 && n.abs() <= 53)?,
    };
    Some((n, weekday(day)?))
}

/// Comma-separated non-zero numbers within ±limit.
fn numbers(text: &str, limit: i32) -> Option<Vec<i32>> {
    text.split(',')
        .map(|n| {
            n.trim()
                .parse::<i32>()
                .ok()
                .filter(|n| *n != 0 && n.abs() <= limit)
        })
        .collect()
}

/// A recurring event as read: the first occurrence's wall-clock start and zone, and what makes
/// the other occurrences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Series {
    pub(super) rule: Option<Rule>,
    pub(super) start: DateTime,
    pub(super) tz: TimeZone,
    /// Extra occurrences and removed ones, in milliseconds.
    pub(super) rdates: Vec<i64>,
    pub(super) exdates: Vec<i64>,
}

/// An event as read, before its series is expanded.
pub(super) struct Read {
    pub(super) event: Event,
    pub(super) series: Option<Series>,
    /// RECURRENCE-ID: this instance replaces the occurrence starting then.
    pub(super) replaces: Option<i64>,
}

/// Turns what was read into stored events: single events as they are, each series as its
/// occurrences within the window (each with its own UID: the series UID, `#`, the start), and
/// each replaced occurrence as its instance.
pub(super) fn expand(read: Vec<Read>, window: &Window) -> Vec<Event> {
    let mut instances: Vec<(String, i64, Event)> = Vec::new();
    let mut series_uids = std::collections::HashSet::new();
    let mut singles = Vec::new();
    for r in read {
        match r.replaces {
            Some(at) => instances.push((r.event.uid.clone(), at, r.event)),
            None => {
                if r.series.is_some() {
                    series_uids.insert(r.event.uid.clone());
                }
                singles.push(r);
            }
        }
    }
    let mut out = Vec::new();
    for r in singles {
        let Some(series) = r.series else {
            out.push(r.event);
            continue;
        };
        let duration = r.event.ends_at - r.event.starts_at;
        for at in occurrences(&series, r.event.starts_at, duration, window) {
            let replaced = instances
                .iter()
                .position(|(uid, replaces, _)| *uid == r.event.uid && *replaces == at);
            let event = match replaced {
                Some(i) => instances.remove(i).2,
                None => Event {
                    starts_at: at,
                    ends_at: at.saturating_add(duration),
                    ..r.event.clone()
                },
            };
            out.push(instance(event, &r.event.uid, at));
        }
    }
    // Instances whose occurrence was not generated: moved in from outside the window, or
    // shared without their series.
    for (uid, at, event) in instances {
        let touches = event.ends_at >= window.from && event.starts_at <= window.to;
        if touches || !series_uids.contains(&uid) {
            out.push(instance(event, &uid, at));
        }
    }
    out
}

fn instance(mut event: Event, series_uid: &str, at: i64) -> Event {
    let stamp = Timestamp::from_millisecond(at)
        .map(|t| {
            let format = if event.all_day {
                "%Y%m%d"
            } else {
                "%Y%m%dT%H%M%SZ"
            };
            t.strftime(format).to_string()
        })
        .unwrap_or_else(|_| at.to_string());
    event.uid = format!("{series_uid}#{stamp}");
    event.series_uid = Some(series_uid.to_string());
    event
}

/// Start instants (ms) of the occurrences that touch the window, in order: the first one,
/// the rule's, the RDATEs, without the EXDATEs.
fn occurrences(series: &Series, first: i64, duration: i64, window: &Window) -> Vec<i64> {
    let touches = |at: i64| at.saturating_add(duration) >= window.from && at <= window.to;
    let mut found: Vec<i64> = series.rdates.iter().copied().chain([first]).collect();
    if let Some(rule) = &series.rule {
        found.extend(by_rule(rule, series, first, duration, window));
    }
    found.retain(|at| touches(*at) && !series.exdates.contains(at));
    found.sort_unstable();
    found.dedup();
    found.truncate(MAX_OCCURRENCES);
    found
}

fn by_rule(rule: &Rule, series: &Series, first: i64, duration: i64, window: &Window) -> Vec<i64> {
    let start_date = series.start.date();
    let time = series.start.time();
    let until = rule.until.as_ref().and_then(|u| match u {
        Until::Date(date) => series
            .tz
            .to_timestamp(date.to_datetime(jiff::civil::Time::MAX))
            .ok(),
        Until::Instant(at) => Some(*at),
        Until::Local(civil) => series.tz.to_timestamp(*civil).ok(),
    });
    let until = until.map(|t| t.as_millisecond()).unwrap_or(i64::MAX);
    let mut period = period_start(rule, start_date);
    // Without COUNT nothing before the window matters: start near it.
    if rule.count.is_none() {
        let from = Timestamp::from_millisecond(window.from - duration.max(0) - DAY_MS)
            .map(|t| series.tz.to_datetime(t).date())
            .unwrap_or(start_date);
        let step_days = match rule.freq {
            Freq::Daily => rule.interval,
            Freq::Weekly => 7 * rule.interval,
            _ => 0,
        };
        if step_days > 0 && from > period {
            let skip = (period.until(from).map(|s| s.get_days()).unwrap_or(0) as i64) / step_days;
            period = add_days(period, skip * step_days).unwrap_or(period);
        }
    }
    let mut out = Vec::new();
    let mut counted = 0usize;
    for _ in 0..MAX_PERIODS {
        for date in candidates(rule, start_date, period) {
            let Ok(at) = series.tz.to_timestamp(date.to_datetime(time)) else {
                continue;
            };
            let at = at.as_millisecond();
            if at < first {
                continue;
            }
            if at > until || at > window.to {
                return out;
            }
            counted += 1;
            if at.saturating_add(duration) >= window.from {
                out.push(at);
            }
            if rule.count.is_some_and(|count| counted >= count) || out.len() > MAX_OCCURRENCES {
                return out;
            }
        }
        period = match next_period(rule, period) {
            Some(next) => next,
            None => return out,
        };
        let period_at = series.tz.to_timestamp(period.to_datetime(time));
        if period_at.is_ok_and(|at| at.as_millisecond() > window.to.saturating_add(DAY_MS)) {
            return out;
        }
    }
    out
}

fn add_days(date: Date, days: i64) -> Option<Date> {
    date.checked_add(Span::new().try_days(days).ok()?).ok()
}

/// The first day of the period holding `date`.
fn period_start(rule: &Rule, date: Date) -> Date {
    match rule.freq {
        Freq::Daily => date,
        Freq::Weekly => {
            let back = (date.weekday().to_monday_zero_offset()
                - rule.week_start.to_monday_zero_offset())
            .rem_euclid(7);
            add_days(date, -i64::from(back)).unwrap_or(date)
        }
        Freq::Monthly => date.first_of_month(),
        Freq::Yearly => date.first_of_year(),
    }
}

fn next_period(rule: &Rule, period: Date) -> Option<Date> {
    let n = rule.interval;
    let span = match rule.freq {
        Freq::Daily => Span::new().try_days(n).ok()?,
        Freq::Weekly => Span::new().try_weeks(n).ok()?,
        Freq::Monthly => Span::new().try_months(n).ok()?,
        Freq::Yearly => Span::new().try_years(n).ok()?,
    };
    period.checked_add(span).ok()
}

/// The dates the rule picks in the period starting at `period`, in order, BYSETPOS applied.
fn candidates(rule: &Rule, start: Date, period: Date) -> Vec<Date> {
    let month_ok = |d: &Date| rule.by_month.is_empty() || rule.by_month.contains(&d.month());
    let mut dates: Vec<Date> = match rule.freq {
        Freq::Daily => {
            let weekday_ok =
                rule.by_day.is_empty() || rule.by_day.iter().any(|(_, w)| *w == period.weekday());
            let day_ok = rule.by_month_day.is_empty()
                || rule
                    .by_month_day
                    .iter()
                    .any(|d| month_day(period, *d) == Some(period));
            if month_ok(&period) && weekday_ok && day_ok {
                vec![period]
            } else {
                Vec::new()
            }
        }
        Freq::Weekly => (0..7)
            .filter_map(|i| add_days(period, i))
            .filter(|d| {
                let weekday = if rule.by_day.is_empty() {
                    d.weekday() == start.weekday()
                } else {
                    rule.by_day.iter().any(|(_, w)| *w == d.weekday())
                };
                weekday && month_ok(d)
            })
            .collect(),
        Freq::Monthly => {
            if month_ok(&period) {
                in_month(rule, start, period)
            } else {
                Vec::new()
            }
        }
        Freq::Yearly => {
            if rule.by_month.is_empty() && rule.by_month_day.is_empty() && !rule.by_day.is_empty() {
                // BYDAY over the whole year: `20MO` is the year's twentieth Monday.
                let last = period.last_of_year();
                weekdays_between(&rule.by_day, period, last)
            } else {
                let months: Vec<i8> = if !rule.by_month.is_empty() {
                    rule.by_month.clone()
                } else if !rule.by_month_day.is_empty() {
                    (1..=12).collect()
                } else {
                    vec![start.month()]
                };
                let mut dates = Vec::new();
                for month in months {
                    if let Ok(first) = Date::new(period.year(), month, 1) {
                        dates.extend(in_month(rule, start, first));
                    }
                }
                dates
            }
        }
    };
    dates.sort_unstable();
    dates.dedup();
    if rule.by_set_pos.is_empty() {
        return dates;
    }
    let len = dates.len() as i32;
    let mut picked: Vec<Date> = rule
        .by_set_pos
        .iter()
        .filter_map(|pos| {
            let index = if *pos > 0 { pos - 1 } else { len + pos };
            usize::try_from(index)
                .ok()
                .and_then(|i| dates.get(i).copied())
        })
        .collect();
    picked.sort_unstable();
    picked.dedup();
    picked
}

/// Days of the month starting at `first`: BYMONTHDAY (limited by BYDAY's weekdays), else
/// BYDAY, else the day of the month the series started on.
fn in_month(rule: &Rule, start: Date, first: Date) -> Vec<Date> {
    if !rule.by_month_day.is_empty() {
        return rule
            .by_month_day
            .iter()
            .filter_map(|d| month_day(first, *d))
            .filter(|d| {
                rule.by_day.is_empty() || rule.by_day.iter().any(|(_, w)| *w == d.weekday())
            })
            .collect();
    }
    if !rule.by_day.is_empty() {
        return weekdays_between(&rule.by_day, first, first.last_of_month());
    }
    month_day(first, start.day()).into_iter().collect()
}

/// Day `n` of the month holding `date` (negative: from the end), when the month has it.
fn month_day(date: Date, n: i8) -> Option<Date> {
    let len = date.days_in_month();
    let day = if n > 0 { n } else { len + 1 + n };
    if day < 1 || day > len {
        return None;
    }
    Date::new(date.year(), date.month(), day).ok()
}

/// The BYDAY dates between `first` and `last` (inclusive): every such weekday, or the nth
/// from the start or end.
fn weekdays_between(by_day: &[(i32, Weekday)], first: Date, last: Date) -> Vec<Date> {
    let mut out = Vec::new();
    for (n, weekday) in by_day {
        let ahead = (weekday.to_monday_zero_offset() - first.weekday().to_monday_zero_offset())
            .rem_euclid(7);
        let mut all = Vec::new();
        let mut date = add_days(first, i64::from(ahead));
        while let Some(d) = date.filter(|d| *d <= last) {
            all.push(d);
            date = add_days(d, 7);
        }
        match n {
            0 => out.extend(all),
            n if *n > 0 => out.extend(all.get(*n as usize - 1)),
            n => out.extend(
                all.len()
                    .checked_sub(n.unsigned_abs() as usize)
                    .map(|i| all[i]),
            ),
        }
    }
    out
}
