//! Daily uptime of a component from its status intervals: the days are the page's local days
//! (23 or 25 hours long across a DST change), each day shows its worst status and how many
//! minutes were degraded or down. Maintenance is neither. No I/O here.

use jiff::civil::Date;
use jiff::tz::TimeZone;

use super::model::ComponentStatus;

/// A status held from `start` until `end` (milliseconds; `None`: still holds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interval {
    pub status: ComponentStatus,
    pub start: i64,
    pub end: Option<i64>,
}

/// One day of a component's bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Day {
    pub date: Date,
    /// Worst status seen that day; `None` before the component existed.
    pub worst: Option<ComponentStatus>,
    pub degraded_minutes: i64,
    pub partial_minutes: i64,
    pub major_minutes: i64,
    pub maintenance_minutes: i64,
}

impl Day {
    pub fn downtime_minutes(&self) -> i64 {
        self.partial_minutes + self.major_minutes
    }
}

/// The bar of the `days` local days ending with the day holding `now`, oldest first, and the
/// share of observed time not down over those days (percent; `None` with nothing observed).
pub fn daily(
    intervals: &[Interval],
    tz: &TimeZone,
    now: i64,
    days: u16,
) -> (Vec<Day>, Option<f64>) {
    let today = tz
        .to_datetime(jiff::Timestamp::from_millisecond(now).unwrap_or_default())
        .date();
    let start_of = |d: Date| -> i64 {
        d.to_zoned_datetime(tz.clone())
            .map(|z| z.timestamp().as_millisecond())
            .unwrap_or(i64::MIN)
    };
    let mut out = Vec::with_capacity(days as usize);
    let (mut observed, mut down) = (0i64, 0i64);
    let mut date = today
        .checked_sub(jiff::Span::new().days(i64::from(days.saturating_sub(1))))
        .unwrap_or(today);
    for _ in 0..days {
        let next = date.tomorrow().unwrap_or(date);
        let (from, until) = (start_of(date), start_of(next).min(now));
        let mut day = Day {
            date,
            worst: None,
            degraded_minutes: 0,
            partial_minutes: 0,
            major_minutes: 0,
            maintenance_minutes: 0,
        };
        for iv in intervals {
            let (a, b) = (iv.start.max(from), iv.end.unwrap_or(now).min(until));
            // A day that has just begun (`from == until`) still shows the status holding.
            if iv.start >= until.max(from + 1) || iv.end.is_some_and(|e| e <= from) {
                continue;
            }
            day.worst = Some(day.worst.map_or(iv.status, |w| w.max(iv.status)));
            let ms = (b - a).max(0);
            observed += ms;
            let minutes = (ms + 59_999) / 60_000;
            match iv.status {
                ComponentStatus::DegradedPerformance => day.degraded_minutes += minutes,
                ComponentStatus::PartialOutage => day.partial_minutes += minutes,
                ComponentStatus::MajorOutage => day.major_minutes += minutes,
                ComponentStatus::UnderMaintenance => day.maintenance_minutes += minutes,
                ComponentStatus::Operational => {}
            }
            if iv.status.is_downtime() {
                down += ms;
            }
        }
        out.push(day);
        date = next;
    }
    let uptime = (observed > 0).then(|| 100.0 * (observed - down) as f64 / observed as f64);
    (out, uptime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus::*;
    use jiff::civil::date;

    fn at(tz: &TimeZone, y: i16, m: i8, d: i8, h: i8, min: i8) -> i64 {
        date(y, m, d)
            .at(h, min, 0, 0)
            .to_zoned_datetime(tz.clone())
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    fn iv(status: ComponentStatus, start: i64, end: Option<i64>) -> Interval {
        Interval { status, start, end }
    }

    #[test]
    fn an_outage_across_midnight_counts_on_both_local_days() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let created = at(&tz, 2026, 6, 1, 0, 0);
        let down = at(&tz, 2026, 6, 9, 23, 30);
        let up = at(&tz, 2026, 6, 10, 0, 45);
        let now = at(&tz, 2026, 6, 10, 12, 0);
        let intervals = [
            iv(Operational, created, Some(down)),
            iv(MajorOutage, down, Some(up)),
            iv(Operational, up, None),
        ];
        let (days, uptime) = daily(&intervals, &tz, now, 3);
        assert_eq!(days.len(), 3);
        assert_eq!(days[0].date, date(2026, 6, 8));
        assert_eq!(days[0].worst, Some(Operational));
        assert_eq!(
            (days[1].date, days[1].major_minutes),
            (date(2026, 6, 9), 30)
        );
        assert_eq!(
            (days[2].date, days[2].major_minutes),
            (date(2026, 6, 10), 45)
        );
        assert_eq!(days[2].worst, Some(MajorOutage));
        // Observed: 2 whole days + 12 hours = 3,600 minutes, 75 of them down.
        let expected = 100.0 * (3600.0 - 75.0) / 3600.0;
        assert!((uptime.unwrap() - expected).abs() < 1e-9);
    }

    #[test]
    fn dst_days_are_23_and_25_hours_long() {
        let tz = TimeZone::get("America/New_York").unwrap();
        let created = at(&tz, 2026, 3, 1, 0, 0);
        // A partial outage for the whole of 8 March (clocks skip 02:00 → 03:00).
        let intervals = [
            iv(Operational, created, Some(at(&tz, 2026, 3, 8, 0, 0))),
            iv(
                PartialOutage,
                at(&tz, 2026, 3, 8, 0, 0),
                Some(at(&tz, 2026, 3, 9, 0, 0)),
            ),
            iv(
                Operational,
                at(&tz, 2026, 3, 9, 0, 0),
                Some(at(&tz, 2026, 11, 1, 0, 0)),
            ),
            iv(
                MajorOutage,
                at(&tz, 2026, 11, 1, 0, 0),
                Some(at(&tz, 2026, 11, 2, 0, 0)),
            ),
            iv(Operational, at(&tz, 2026, 11, 2, 0, 0), None),
        ];
        let (march, _) = daily(&intervals, &tz, at(&tz, 2026, 3, 9, 12, 0), 2);
        assert_eq!(march[0].partial_minutes, 23 * 60);
        let (november, _) = daily(&intervals, &tz, at(&tz, 2026, 11, 2, 12, 0), 2);
        assert_eq!(november[0].major_minutes, 25 * 60);
    }

    #[test]
    fn maintenance_is_not_downtime_and_days_before_creation_have_no_data() {
        let tz = TimeZone::UTC;
        let created = at(&tz, 2026, 1, 10, 0, 0);
        let intervals = [
            iv(Operational, created, Some(at(&tz, 2026, 1, 11, 2, 0))),
            iv(
                UnderMaintenance,
                at(&tz, 2026, 1, 11, 2, 0),
                Some(at(&tz, 2026, 1, 11, 4, 0)),
            ),
            iv(Operational, at(&tz, 2026, 1, 11, 4, 0), None),
        ];
        let (days, uptime) = daily(&intervals, &tz, at(&tz, 2026, 1, 11, 23, 0), 90);
        assert_eq!(days.len(), 90);
        assert_eq!(days[0].worst, None);
        assert_eq!(days[87].worst, None, "9 January: before the component");
        assert_eq!(days[88].worst, Some(Operational));
        assert_eq!(days[89].worst, Some(UnderMaintenance));
        assert_eq!(days[89].maintenance_minutes, 120);
        assert_eq!(days[89].downtime_minutes(), 0);
        assert_eq!(uptime, Some(100.0));
    }
}
