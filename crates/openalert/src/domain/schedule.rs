//! Who is on call when: rotations in a schedule's time zone, layered, with overrides on top.
//!
//! Shift boundaries of day- and week-long rotations are computed in local (civil) time and
//! only then converted to instants, so "daily at 09:00" hands off at 09:00 on both sides of a
//! daylight saving transition. Boundary `k` is derived from the rotation start directly (never
//! by adding shift after shift), so consecutive shifts always meet: no gaps, no overlaps.

use jiff::civil::{Date, DateTime, Time};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp as Instant};
use serde::{Deserialize, Serialize};

const MS_PER_HOUR: i64 = 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ShiftUnit {
    Hours,
    Days,
    Weeks,
}

impl ShiftUnit {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "hours" => Ok(Self::Hours),
            "days" => Ok(Self::Days),
            "weeks" => Ok(Self::Weeks),
            _ => Err("must be `hours`, `days` or `weeks`".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hours => "hours",
            Self::Days => "days",
            Self::Weeks => "weeks",
        }
    }
}

/// A recurring local-time window a layer is limited to, e.g. weekdays 09:00–17:00. An `end`
/// at or before `start` runs past midnight into the next day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Restriction {
    /// ISO weekdays the window starts on (1 = Monday … 7 = Sunday).
    pub days: Vec<i8>,
    /// Local start, `HH:MM`.
    #[schema(value_type = String, example = "09:00")]
    pub start: String,
    /// Local end, `HH:MM`.
    #[schema(value_type = String, example = "17:00")]
    pub end: String,
}

impl Restriction {
    pub fn validate(&self) -> Result<(Time, Time), String> {
        if self.days.is_empty() || self.days.iter().any(|d| !(1..=7).contains(d)) {
            return Err("days must list ISO weekdays 1 (Monday) to 7 (Sunday)".into());
        }
        let start = parse_hhmm(&self.start).ok_or("start must be HH:MM")?;
        let end = parse_hhmm(&self.end).ok_or("end must be HH:MM")?;
        Ok((start, end))
    }
}

fn parse_hhmm(raw: &str) -> Option<Time> {
    let (h, m) = raw.split_once(':')?;
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

/// One layer's rotation.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub unit: ShiftUnit,
    pub length: i64,
    /// First handoff, in the schedule's local time.
    pub start: DateTime,
    pub participants: Vec<i64>,
    pub restrictions: Vec<Restriction>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum OverrideMode {
    /// The person takes the time range from whoever is on call.
    Replace,
    /// The person is on call as well as whoever already is.
    Add,
}

impl OverrideMode {
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw {
            "replace" => Ok(Self::Replace),
            "add" => Ok(Self::Add),
            _ => Err("must be `replace` or `add`".into()),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replace => "replace",
            Self::Add => "add",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Override {
    pub user_id: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub mode: OverrideMode,
}

/// A span of time and who is on call in it (milliseconds since the epoch, end exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnCallSpan {
    pub starts_at: i64,
    pub ends_at: i64,
    pub user_ids: Vec<i64>,
}

/// One person's shift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shift {
    pub user_id: i64,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// A schedule ready to compute: layers bottom to top.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub time_zone: TimeZone,
    pub layers: Vec<Rotation>,
    pub overrides: Vec<Override>,
}

pub fn time_zone(name: &str) -> Result<TimeZone, String> {
    TimeZone::get(name)
        .map_err(|_| format!("unknown time zone `{name}` (use an IANA name such as Europe/Berlin)"))
}

/// Parses a local date-time `YYYY-MM-DDTHH:MM` (seconds optional).
/// Years are kept to 1970-2200: rotations are about the present, and arithmetic stays far
/// from the calendar's limits.
pub fn parse_local(raw: &str) -> Result<DateTime, String> {
    let local = raw
        .trim()
        .parse::<DateTime>()
        .map_err(|_| "must be a local date and time, e.g. 2026-01-05T09:00".to_string())?;
    if !(1970..=2200).contains(&local.year()) {
        return Err("the year must be between 1970 and 2200".into());
    }
    Ok(local)
}

impl Rotation {
    /// Start of shift `k` (k ≥ 0) as an instant in ms.
    fn boundary(&self, tz: &TimeZone, k: i64) -> i64 {
        match self.unit {
            ShiftUnit::Hours => local_ms(tz, self.start) + k * self.length * MS_PER_HOUR,
            ShiftUnit::Days | ShiftUnit::Weeks => {
                let days = k * self.length * if self.unit == ShiftUnit::Weeks { 7 } else { 1 };
                self.start
                    .checked_add(Span::new().days(days))
                    .map(|local| local_ms(tz, local))
                    .unwrap_or(i64::MAX)
            }
        }
    }

    fn nominal_ms(&self) -> i64 {
        let hours = match self.unit {
            ShiftUnit::Hours => self.length,
            ShiftUnit::Days => self.length * 24,
            ShiftUnit::Weeks => self.length * 24 * 7,
        };
        hours.max(1) * MS_PER_HOUR
    }

    /// Index of the shift containing `at`, or `None` before the rotation starts.
    fn shift_index(&self, tz: &TimeZone, at: i64) -> Option<i64> {
        let first = self.boundary(tz, 0);
        if at < first {
            return None;
        }
        let mut k = (at - first) / self.nominal_ms();
        while k > 0 && self.boundary(tz, k) > at {
            k -= 1;
        }
        while self.boundary(tz, k + 1) <= at {
            k += 1;
        }
        Some(k)
    }

    /// Raw shifts (before restrictions) overlapping `[from, to)`, clipped to it.
    fn shifts(&self, tz: &TimeZone, from: i64, to: i64) -> Vec<Shift> {
        let mut out = Vec::new();
        if self.participants.is_empty() || from >= to {
            return out;
        }
        let first = self.boundary(tz, 0);
        let mut k = self.shift_index(tz, from.max(first)).unwrap_or(0);
        loop {
            let start = self.boundary(tz, k);
            if start >= to {
                break;
            }
            let end = self.boundary(tz, k + 1);
            let who = self.participants[(k as usize) % self.participants.len()];
            if end > from {
                out.push(Shift {
                    user_id: who,
                    starts_at: start.max(from),
                    ends_at: end.min(to),
                });
            }
            k += 1;
        }
        out
    }

    /// Instants within `[from, to)` the restrictions allow, merged; `None`: unrestricted.
    fn allowed(&self, tz: &TimeZone, from: i64, to: i64) -> Option<Vec<(i64, i64)>> {
        if self.restrictions.is_empty() {
            return None;
        }
        let first_day = date_of(tz, from).checked_sub(Span::new().days(1)).ok()?;
        let last_day = date_of(tz, to);
        let mut windows = Vec::new();
        let mut day = first_day;
        while day <= last_day {
            let weekday = day.weekday().to_monday_one_offset();
            for restriction in &self.restrictions {
                let Ok((start, end)) = restriction.validate() else {
                    continue;
                };
                if !restriction.days.contains(&weekday) {
                    continue;
                }
                let end_day = if end <= start {
                    day.tomorrow().unwrap_or(day)
                } else {
                    day
                };
                let a = local_ms(tz, day.to_datetime(start)).max(from);
                let b = local_ms(tz, end_day.to_datetime(end)).min(to);
                if a < b {
                    windows.push((a, b));
                }
            }
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        windows.sort_unstable();
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(windows.len());
        for (a, b) in windows {
            match merged.last_mut() {
                Some(last) if a <= last.1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        Some(merged)
    }

    /// This layer's shifts in `[from, to)`, restrictions applied.
    pub fn layer_shifts(&self, tz: &TimeZone, from: i64, to: i64) -> Vec<Shift> {
        let shifts = self.shifts(tz, from, to);
        let Some(allowed) = self.allowed(tz, from, to) else {
            return shifts;
        };
        let mut out = Vec::new();
        for shift in shifts {
            for &(a, b) in &allowed {
                let (s, e) = (shift.starts_at.max(a), shift.ends_at.min(b));
                if s < e {
                    out.push(Shift {
                        user_id: shift.user_id,
                        starts_at: s,
                        ends_at: e,
                    });
                }
            }
        }
        out
    }
}

fn local_ms(tz: &TimeZone, local: DateTime) -> i64 {
    // `to_zoned` resolves a local time skipped by DST forwards and a repeated one to its
    // first occurrence ("compatible"), so every local time names exactly one instant.
    local
        .to_zoned_datetime(tz.clone())
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(i64::MAX)
}

fn date_of(tz: &TimeZone, ms: i64) -> Date {
    Instant::from_millisecond(ms)
        .unwrap_or(Instant::UNIX_EPOCH)
        .to_zoned_datetime(tz.clone())
        .date()
}

impl Schedule {
    /// The final timeline over `[from, to)`: the highest layer with someone on call wins,
    /// then overrides apply. Adjacent spans with the same people are merged; spans with
    /// nobody on call are left out.
    pub fn timeline(&self, from: i64, to: i64) -> Vec<OnCallSpan> {
        let layers: Vec<Vec<Shift>> = self
            .layers
            .iter()
            .map(|layer| layer.layer_shifts(&self.time_zone, from, to))
            .collect();
        let overrides: Vec<&Override> = self
            .overrides
            .iter()
            .filter(|o| o.starts_at < to && o.ends_at > from)
            .collect();
        let mut cuts = vec![from, to];
        for shift in layers.iter().flatten() {
            cuts.extend([shift.starts_at, shift.ends_at]);
        }
        for o in &overrides {
            cuts.extend([o.starts_at.max(from), o.ends_at.min(to)]);
        }
        cuts.sort_unstable();
        cuts.dedup();

        let mut out: Vec<OnCallSpan> = Vec::new();
        for pair in cuts.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let mut users: Vec<i64> = layers
                .iter()
                .rev()
                .find_map(|shifts| {
                    shifts
                        .iter()
                        .find(|s| s.starts_at <= a && s.ends_at >= b)
                        .map(|s| vec![s.user_id])
                })
                .unwrap_or_default();
            for o in overrides
                .iter()
                .filter(|o| o.starts_at <= a && o.ends_at >= b)
            {
                if o.mode == OverrideMode::Replace {
                    users.clear();
                }
            }
            for o in overrides
                .iter()
                .filter(|o| o.starts_at <= a && o.ends_at >= b)
            {
                if !users.contains(&o.user_id) {
                    users.push(o.user_id);
                }
            }
            if users.is_empty() {
                continue;
            }
            match out.last_mut() {
                Some(last) if last.ends_at == a && last.user_ids == users => last.ends_at = b,
                _ => out.push(OnCallSpan {
                    starts_at: a,
                    ends_at: b,
                    user_ids: users,
                }),
            }
        }
        out
    }

    /// Who is on call at `at`.
    pub fn on_call(&self, at: i64) -> Vec<i64> {
        self.timeline(at, at + 1)
            .into_iter()
            .next()
            .map(|s| s.user_ids)
            .unwrap_or_default()
    }

    /// Each person's shifts over `[from, to)` in the final timeline, by start time.
    pub fn shifts(&self, from: i64, to: i64) -> Vec<Shift> {
        per_person(&self.timeline(from, to))
    }
}

/// Splits a timeline into per-person shifts, joining a person's contiguous spans.
pub fn per_person(timeline: &[OnCallSpan]) -> Vec<Shift> {
    let mut open: Vec<Shift> = Vec::new();
    let mut done: Vec<Shift> = Vec::new();
    for span in timeline {
        let (continuing, ended): (Vec<Shift>, Vec<Shift>) = open
            .drain(..)
            .partition(|s| s.ends_at == span.starts_at && span.user_ids.contains(&s.user_id));
        done.extend(ended);
        open = continuing;
        for user in &span.user_ids {
            match open.iter_mut().find(|s| s.user_id == *user) {
                Some(shift) => shift.ends_at = span.ends_at,
                None => open.push(Shift {
                    user_id: *user,
                    starts_at: span.starts_at,
                    ends_at: span.ends_at,
                }),
            }
        }
    }
    done.extend(open);
    done.sort_by_key(|s| (s.starts_at, s.user_id));
    done
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// Reads lines like `mon-fri 09:00-17:00` or `sat,sun 10:00-14:00`.
pub fn parse_restrictions(text: &str) -> Result<Vec<Restriction>, String> {
    let mut out = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let err = || format!("`{line}`: write days and hours like `mon-fri 09:00-17:00`");
        let (days_part, hours) = line.split_once(' ').ok_or_else(err)?;
        let (start, end) = hours.trim().split_once('-').ok_or_else(err)?;
        let day = |name: &str| {
            DAYS.iter()
                .position(|d| name.trim().to_ascii_lowercase().starts_with(d))
                .map(|p| p as i8 + 1)
        };
        let mut days = Vec::new();
        for part in days_part.split(',') {
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (day(a).ok_or_else(err)?, day(b).ok_or_else(err)?);
                    let mut d = a;
                    loop {
                        days.push(d);
                        if d == b {
                            break;
                        }
                        d = d % 7 + 1;
                    }
                }
                None => days.push(day(part).ok_or_else(err)?),
            }
        }
        let restriction = Restriction {
            days,
            start: start.trim().into(),
            end: end.trim().into(),
        };
        restriction
            .validate()
            .map_err(|e| format!("`{line}`: {e}"))?;
        out.push(restriction);
    }
    Ok(out)
}

/// Writes restrictions back in the form [`parse_restrictions`] reads.
pub fn format_restrictions(list: &[Restriction]) -> String {
    list.iter()
        .map(|r| {
            let days: Vec<&str> = r
                .days
                .iter()
                .filter_map(|d| DAYS.get((*d - 1) as usize).copied())
                .collect();
            format!("{} {}-{}", days.join(","), r.start, r.end)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
