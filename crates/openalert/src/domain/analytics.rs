//! On-call figures from incident facts: duration summaries, counts, the time-of-day band of
//! each interruption in the person's own zone, and the alert keys that make noise. Pure
//! functions over rows the store reads; no I/O here.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::civil::Weekday;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::Urgency;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 86_400_000;

/// One incident as the figures need it; times in milliseconds since the epoch.
#[derive(Debug, Clone)]
pub struct IncidentFacts {
    pub id: i64,
    pub service_id: i64,
    pub team_id: i64,
    pub policy_id: Option<i64>,
    pub urgency: Urgency,
    pub dedup_key: String,
    pub created_at: i64,
    pub first_acknowledged_at: Option<i64>,
    pub acknowledged_by_person: bool,
    pub resolved_at: Option<i64>,
    /// `user`, `source` or `timeout`.
    pub resolved_how: Option<String>,
    pub retriggers: i64,
    /// Highest escalation level reached, from 0; -1 when nobody was paged by the policy.
    pub peak_level: i64,
}

impl IncidentFacts {
    pub fn seconds_to_acknowledge(&self) -> Option<f64> {
        self.first_acknowledged_at
            .map(|at| (at - self.created_at) as f64 / 1000.0)
    }

    pub fn seconds_to_resolve(&self) -> Option<f64> {
        self.resolved_at
            .map(|at| (at - self.created_at) as f64 / 1000.0)
    }

    /// Resolved by its source or a timeout without anyone acknowledging it.
    pub fn auto_resolved(&self) -> bool {
        self.resolved_at.is_some()
            && self.first_acknowledged_at.is_none()
            && self.resolved_how.as_deref() != Some("user")
    }
}

/// Mean, median and 90th percentile of a set of durations, in seconds. The median of an even
/// count is the mean of the middle two; the 90th percentile is the nearest rank
/// (the ⌈0.9·n⌉-th smallest).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Durations {
    pub count: usize,
    pub mean_seconds: Option<f64>,
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
}

impl Durations {
    pub fn of(mut seconds: Vec<f64>) -> Self {
        let n = seconds.len();
        if n == 0 {
            return Self::default();
        }
        seconds.sort_by(f64::total_cmp);
        let median = if n % 2 == 1 {
            seconds[n / 2]
        } else {
            (seconds[n / 2 - 1] + seconds[n / 2]) / 2.0
        };
        let rank = (n * 9).div_ceil(10).max(1);
        Self {
            count: n,
            mean_seconds: Some(seconds.iter().sum::<f64>() / n as f64),
            median_seconds: Some(median),
            p90_seconds: Some(seconds[rank - 1]),
        }
    }
}

/// The headline figures of a set of incidents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct IncidentFigures {
    pub opened: usize,
    /// Acknowledged by a person (not by the monitoring tool).
    pub acknowledged_by_person: usize,
    /// Resolved by its source or a timeout without an acknowledgement.
    pub auto_resolved: usize,
    /// Paged past the first escalation level.
    pub escalated: usize,
    /// Triggered again after an acknowledgement timed out.
    pub reopened: usize,
    pub time_to_acknowledge: Durations,
    pub time_to_resolve: Durations,
}

impl IncidentFigures {
    pub fn of<'a>(incidents: impl IntoIterator<Item = &'a IncidentFacts>) -> Self {
        let mut figures = Self::default();
        let (mut ack, mut resolve) = (Vec::new(), Vec::new());
        for i in incidents {
            figures.opened += 1;
            figures.acknowledged_by_person += usize::from(i.acknowledged_by_person);
            figures.auto_resolved += usize::from(i.auto_resolved());
            figures.escalated += usize::from(i.peak_level >= 1);
            figures.reopened += usize::from(i.retriggers > 0);
            ack.extend(i.seconds_to_acknowledge());
            resolve.extend(i.seconds_to_resolve());
        }
        figures.time_to_acknowledge = Durations::of(ack);
        figures.time_to_resolve = Durations::of(resolve);
        figures
    }
}

/// Figures of incidents grouped by `key` (a service, team, policy or urgency), busiest first.
pub fn grouped<K: Ord + Clone>(
    incidents: &[IncidentFacts],
    key: impl Fn(&IncidentFacts) -> Option<K>,
) -> Vec<(K, IncidentFigures)> {
    let mut groups: BTreeMap<K, Vec<&IncidentFacts>> = BTreeMap::new();
    for i in incidents {
        if let Some(k) = key(i) {
            groups.entry(k).or_default().push(i);
        }
    }
    let mut out: Vec<_> = groups
        .into_iter()
        .map(|(k, list)| (k, IncidentFigures::of(list)))
        .collect();
    out.sort_by_key(|g| std::cmp::Reverse(g.1.opened));
    out
}

/// When an interruption fell, in the interrupted person's own time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Band {
    /// Monday to Friday, 09:00–18:00.
    BusinessHours,
    /// Evenings and weekends outside sleep hours.
    OffHours,
    /// 22:00–07:00, every day.
    Sleep,
}

impl Band {
    pub fn at(local: jiff::civil::DateTime) -> Self {
        let hour = local.hour();
        let weekend = matches!(local.weekday(), Weekday::Saturday | Weekday::Sunday);
        if !(7..22).contains(&hour) {
            Self::Sleep
        } else if !weekend && (9..18).contains(&hour) {
            Self::BusinessHours
        } else {
            Self::OffHours
        }
    }
}

/// A page that reached a person: a chat, SMS, voice or webhook notification (not e-mail).
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub user_id: i64,
    pub sent_at: i64,
    /// The schedule that put the person on call, if one did.
    pub schedule_id: Option<i64>,
}

/// How much the pager took from one person.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PersonLoad {
    pub user_id: i64,
    /// Pages, counting those within 60 s of a counted one as the same interruption.
    pub interruptions: usize,
    pub business_hours: usize,
    pub off_hours: usize,
    pub sleep: usize,
    /// Distinct clock hours (in the person's zone) with at least one interruption.
    pub disrupted_hours: usize,
}

/// Each person's load, most interrupted first. `zones` maps people to their time zone (UTC
/// for anyone missing).
pub fn person_loads(pages: &[Page], zones: &HashMap<i64, TimeZone>) -> Vec<PersonLoad> {
    let mut by_person: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for p in pages {
        by_person.entry(p.user_id).or_default().push(p.sent_at);
    }
    let mut loads: Vec<PersonLoad> = by_person
        .into_iter()
        .map(|(user_id, mut times)| {
            times.sort_unstable();
            let zone = zones.get(&user_id).cloned().unwrap_or(TimeZone::UTC);
            let mut load = PersonLoad {
                user_id,
                ..PersonLoad::default()
            };
            let mut hours = HashSet::new();
            let mut counted: Option<i64> = None;
            for at in times {
                if counted.is_some_and(|c| at - c < MINUTE_MS) {
                    continue;
                }
                counted = Some(at);
                load.interruptions += 1;
                let Ok(instant) = jiff::Timestamp::from_millisecond(at) else {
                    continue;
                };
                let local = zone.to_datetime(instant);
                match Band::at(local) {
                    Band::BusinessHours => load.business_hours += 1,
                    Band::OffHours => load.off_hours += 1,
                    Band::Sleep => load.sleep += 1,
                }
                hours.insert((local.date(), local.hour()));
            }
            load.disrupted_hours = hours.len();
            load
        })
        .collect();
    loads.sort_by_key(|l| std::cmp::Reverse(l.interruptions));
    loads
}

/// How much the pager took through one schedule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ScheduleLoad {
    pub schedule_id: i64,
    /// Counted as for people: pages to one person within 60 s count once.
    pub interruptions: usize,
    /// People it paged.
    pub people: usize,
}

/// Each schedule's load, most interrupted first; pages not sent through a schedule are left out.
pub fn schedule_loads(pages: &[Page]) -> Vec<ScheduleLoad> {
    let mut by_schedule: BTreeMap<i64, BTreeMap<i64, Vec<i64>>> = BTreeMap::new();
    for p in pages {
        if let Some(schedule_id) = p.schedule_id {
            by_schedule
                .entry(schedule_id)
                .or_default()
                .entry(p.user_id)
                .or_default()
                .push(p.sent_at);
        }
    }
    let mut loads: Vec<ScheduleLoad> = by_schedule
        .into_iter()
        .map(|(schedule_id, people)| ScheduleLoad {
            schedule_id,
            people: people.len(),
            interruptions: people.into_values().map(interruptions).sum(),
        })
        .collect();
    loads.sort_by_key(|l| std::cmp::Reverse(l.interruptions));
    loads
}

/// Interruptions among one person's page times: a page within 60 s of a counted one is part
/// of it.
fn interruptions(mut times: Vec<i64>) -> usize {
    times.sort_unstable();
    let mut counted: Option<i64> = None;
    let mut n = 0;
    for at in times {
        if counted.is_none_or(|c| at - c >= MINUTE_MS) {
            counted = Some(at);
            n += 1;
        }
    }
    n
}

/// An alert key (service and dedup key) ranked by the noise it made in a period.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct NoisyKey {
    pub service_id: i64,
    pub dedup_key: String,
    pub incidents: usize,
    /// Resolved without anyone acknowledging: nobody needed to act.
    pub unacknowledged: usize,
    /// Opened within 24 h after the previous incident of the key resolved.
    pub refired_within_24h: usize,
    /// UTC days on which the key opened three or more incidents.
    pub flapping_days: usize,
}

impl NoisyKey {
    fn noise(&self) -> usize {
        self.unacknowledged + self.refired_within_24h + self.flapping_days
    }
}

/// The `limit` noisiest keys among incidents created from `from` on. `incidents` may start a
/// day earlier, so a re-fire just after `from` finds the incident before it.
pub fn noisy_keys(incidents: &[IncidentFacts], from: i64, limit: usize) -> Vec<NoisyKey> {
    let mut by_key: HashMap<(i64, &str), Vec<&IncidentFacts>> = HashMap::new();
    for i in incidents {
        by_key
            .entry((i.service_id, i.dedup_key.as_str()))
            .or_default()
            .push(i);
    }
    let mut keys: Vec<NoisyKey> = by_key
        .into_iter()
        .map(|((service_id, dedup_key), mut list)| {
            list.sort_by_key(|i| (i.created_at, i.id));
            let mut key = NoisyKey {
                service_id,
                dedup_key: dedup_key.to_string(),
                ..NoisyKey::default()
            };
            let mut per_day: HashMap<i64, usize> = HashMap::new();
            for (n, i) in list.iter().enumerate() {
                if i.created_at < from {
                    continue;
                }
                key.incidents += 1;
                key.unacknowledged += usize::from(i.auto_resolved());
                let previous = n.checked_sub(1).map(|p| list[p]);
                if previous
                    .and_then(|p| p.resolved_at)
                    .is_some_and(|resolved| i.created_at - resolved <= DAY_MS)
                {
                    key.refired_within_24h += 1;
                }
                *per_day.entry(i.created_at.div_euclid(DAY_MS)).or_default() += 1;
            }
            key.flapping_days = per_day.values().filter(|&&n| n >= 3).count();
            key
        })
        .filter(|k| k.noise() > 0)
        .collect();
    keys.sort_by(|a, b| {
        (b.noise(), b.incidents, &a.dedup_key).cmp(&(a.noise(), a.incidents, &b.dedup_key))
    });
    keys.truncate(limit);
    keys
}

/// "45 s", "12 min", "3.5 h", "2.1 d"; a dash for none.
pub fn duration_words(seconds: Option<f64>) -> String {
    match seconds {
        None => "—".into(),
        Some(s) if s < 90.0 => format!("{s:.0} s"),
        Some(s) if s < 90.0 * 60.0 => format!("{:.0} min", s / 60.0),
        Some(s) if s < 36.0 * 3600.0 => format!("{:.1} h", s / 3600.0),
        Some(s) => format!("{:.1} d", s / 86_400.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(id: i64, created_at: i64) -> IncidentFacts {
        IncidentFacts {
            id,
            service_id: 1,
            team_id: 1,
            policy_id: None,
            urgency: Urgency::High,
            dedup_key: "disk".into(),
            created_at,
            first_acknowledged_at: None,
            acknowledged_by_person: false,
            resolved_at: None,
            resolved_how: None,
            retriggers: 0,
            peak_level: 0,
        }
    }

    #[test]
    fn durations_by_hand() {
        assert_eq!(Durations::of(vec![]), Durations::default());
        let d = Durations::of(vec![30.0, 10.0, 20.0, 40.0]);
        assert_eq!(d.count, 4);
        assert_eq!(d.mean_seconds, Some(25.0));
        assert_eq!(d.median_seconds, Some(25.0), "mean of the middle two");
        assert_eq!(d.p90_seconds, Some(40.0), "rank ⌈3.6⌉ = 4");
        let ten: Vec<f64> = (1..=10).map(f64::from).collect();
        let d = Durations::of(ten);
        assert_eq!(d.median_seconds, Some(5.5));
        assert_eq!(d.p90_seconds, Some(9.0), "rank 9 of 10");
        assert_eq!(Durations::of(vec![7.0]).p90_seconds, Some(7.0));
    }

    #[test]
    fn bands_follow_the_local_clock() {
        let at = |text: &str| Band::at(text.parse().unwrap());
        assert_eq!(at("2026-03-02T09:00"), Band::BusinessHours, "Monday 09:00");
        assert_eq!(at("2026-03-02T17:59"), Band::BusinessHours);
        assert_eq!(at("2026-03-02T18:00"), Band::OffHours);
        assert_eq!(at("2026-03-02T08:30"), Band::OffHours);
        assert_eq!(at("2026-03-07T12:00"), Band::OffHours, "Saturday noon");
        assert_eq!(at("2026-03-02T22:00"), Band::Sleep);
        assert_eq!(at("2026-03-03T06:59"), Band::Sleep);
    }

    #[test]
    fn pages_within_a_minute_are_one_interruption() {
        let base = 1_772_442_000_000; // 2026-03-02T09:00:00Z, a Monday
        let pages = [0, 30_000, 59_999, 60_000, 3_600_000].map(|offset| Page {
            user_id: 7,
            sent_at: base + offset,
            schedule_id: None,
        });
        let loads = person_loads(&pages, &HashMap::new());
        assert_eq!(loads.len(), 1);
        assert_eq!(loads[0].interruptions, 3, "0 s, 60 s and one hour later");
        assert_eq!(loads[0].business_hours, 3);
        assert_eq!(loads[0].disrupted_hours, 2);
        // The same instants in Tokyo are 18:00 and 19:00 local: off hours.
        let tokyo = HashMap::from([(7, TimeZone::get("Asia/Tokyo").unwrap())]);
        let loads = person_loads(&pages, &tokyo);
        assert_eq!((loads[0].business_hours, loads[0].off_hours), (0, 3));
    }

    #[test]
    fn schedules_count_their_own_pages_per_person() {
        let page = |user_id, sent_at, schedule_id| Page {
            user_id,
            sent_at,
            schedule_id,
        };
        let pages = [
            page(1, 0, Some(10)),
            page(1, 30_000, Some(10)),
            page(2, 30_000, Some(10)),
            page(1, 120_000, Some(10)),
            page(3, 0, Some(20)),
            page(3, 10_000, None),
        ];
        let loads = schedule_loads(&pages);
        assert_eq!(
            loads,
            vec![
                ScheduleLoad {
                    schedule_id: 10,
                    interruptions: 3,
                    people: 2
                },
                ScheduleLoad {
                    schedule_id: 20,
                    interruptions: 1,
                    people: 1
                },
            ]
        );
    }

    #[test]
    fn noisy_keys_count_unacknowledged_refires_and_flapping() {
        let hour = 3_600_000;
        let day0 = 20_000 * DAY_MS;
        let mut list = Vec::new();
        // Three incidents on one day, each resolved by its source after ten minutes.
        for n in 0..3 {
            let mut i = incident(n, day0 + n * 2 * hour);
            i.resolved_at = Some(i.created_at + 10 * MINUTE_MS);
            i.resolved_how = Some("source".into());
            list.push(i);
        }
        // Two days later: acknowledged by a person, not a re-fire.
        let mut later = incident(10, day0 + 2 * DAY_MS);
        later.first_acknowledged_at = Some(later.created_at + MINUTE_MS);
        later.acknowledged_by_person = true;
        list.push(later);
        let keys = noisy_keys(&list, day0, 10);
        assert_eq!(keys.len(), 1);
        let k = &keys[0];
        assert_eq!(k.incidents, 4);
        assert_eq!(k.unacknowledged, 3);
        assert_eq!(k.refired_within_24h, 2, "the second and third of the day");
        assert_eq!(k.flapping_days, 1);
        // From the second incident on, the first still counts as the one before it.
        let keys = noisy_keys(&list, day0 + hour, 10);
        assert_eq!(keys[0].incidents, 3);
        assert_eq!(keys[0].refired_within_24h, 2);
    }
}
