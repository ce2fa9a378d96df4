//! Incident analytics and on-call health for a team (or every team the caller sees) over a
//! period, each headline compared with the period of the same length before it.

use std::collections::HashMap;

use keel_platform::authz::{self, TeamScope};
use keel_platform::domain::{Timestamp, Validator, parse_time_zone};
use keel_platform::identity::Principal;
use keel_platform::{AppError, AppResult, Platform};
use serde::Serialize;

use crate::domain::analytics::{
    self, IncidentFacts, IncidentFigures, NoisyKey, PersonLoad, ScheduleLoad, person_loads,
    schedule_loads,
};
use crate::store::analytics as store;

const DAY_MS: i64 = 86_400_000;
/// The longest period one report covers.
pub const MAX_DAYS: i64 = 366;

/// What a report is asked for, as the API and the page pass it.
#[derive(Debug, Default)]
pub struct ReportQuery<'a> {
    pub team_id: Option<i64>,
    /// Period length in days, ending at `until` (default 30).
    pub days: Option<i64>,
    /// End of the period (RFC 3339); default now.
    pub until: Option<&'a str>,
    /// Zone of the weekly trend's weeks (IANA name); default UTC.
    pub time_zone: Option<&'a str>,
}

/// Figures of one group (a service, team, policy or urgency).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Group {
    /// The service, team or policy id; absent for urgencies and for "no policy".
    pub id: Option<i64>,
    pub name: String,
    #[serde(flatten)]
    pub figures: IncidentFigures,
}

/// One week of the trend: incidents opened that week and how fast they were handled.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Week {
    /// Monday of the week (`YYYY-MM-DD`, in the report's zone).
    pub starts_on: String,
    pub starts_at: Timestamp,
    pub opened: usize,
    pub mean_seconds_to_acknowledge: Option<f64>,
    pub mean_seconds_to_resolve: Option<f64>,
}

/// One person's on-call load, with the previous period's interruptions beside it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Person {
    pub name: String,
    /// The zone the bands were read in (empty: the person has not set one; UTC was used).
    pub time_zone: String,
    #[serde(flatten)]
    pub load: PersonLoad,
    pub previous_interruptions: usize,
}

/// One schedule's on-call load, with the previous period's interruptions beside it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScheduleGroup {
    pub name: String,
    #[serde(flatten)]
    pub load: ScheduleLoad,
    pub previous_interruptions: usize,
}

/// A noisy alert key with its service's name.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Noisy {
    pub service_name: String,
    #[serde(flatten)]
    pub key: NoisyKey,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Report {
    /// The team reported on; absent for every team the caller sees.
    pub team_id: Option<i64>,
    pub from: Timestamp,
    pub until: Timestamp,
    /// Start of the comparison period, which ends at `from`.
    pub previous_from: Timestamp,
    pub time_zone: String,
    pub current: IncidentFigures,
    pub previous: IncidentFigures,
    pub by_service: Vec<Group>,
    pub by_team: Vec<Group>,
    pub by_policy: Vec<Group>,
    pub by_urgency: Vec<Group>,
    pub weekly: Vec<Week>,
    /// Most interrupted first.
    pub people: Vec<Person>,
    /// Load by the schedule that put people on call, most interrupted first.
    pub schedules: Vec<ScheduleGroup>,
    /// At most 20, noisiest first.
    pub noisy: Vec<Noisy>,
}

/// The period and team set a query stands for, checked and authorized.
pub struct Scope {
    pub teams: Option<Vec<i64>>,
    pub team_id: Option<i64>,
    pub from: Timestamp,
    pub until: Timestamp,
    pub zone_name: String,
    zone: jiff::tz::TimeZone,
}

impl Scope {
    pub async fn of(
        platform: &Platform,
        principal: &Principal,
        q: &ReportQuery<'_>,
    ) -> AppResult<Self> {
        let mut v = Validator::new();
        let days = q.days.unwrap_or(30);
        if !(1..=MAX_DAYS).contains(&days) {
            v.add("days", format!("must be between 1 and {MAX_DAYS}"));
        }
        let until = match q.until.filter(|u| !u.trim().is_empty()) {
            Some(raw) => v.check("until", Timestamp::parse_rfc3339(raw.trim())),
            // The period ends just after now, so what happened this millisecond counts.
            None => Some(Timestamp::from_millis(platform.now().as_millis() + 1)),
        };
        let zone_name = q
            .time_zone
            .map(str::trim)
            .filter(|z| !z.is_empty())
            .unwrap_or("UTC");
        let zone = v.check("time_zone", parse_time_zone(zone_name));
        v.finish().map_err(AppError::Validation)?;
        let (Some(until), Some(zone)) = (until, zone) else {
            return Err(AppError::field("until", "is not a time"));
        };
        let teams = match q.team_id {
            Some(id) => {
                authz::require_team_read(platform, principal, id).await?;
                Some(vec![id])
            }
            None => match authz::team_scope(platform, principal).await? {
                TeamScope::All => None,
                TeamScope::Only(ids) => Some(ids),
            },
        };
        Ok(Self {
            teams,
            team_id: q.team_id,
            from: Timestamp::from_millis(until.as_millis() - days * DAY_MS),
            until,
            zone_name: zone_name.to_string(),
            zone,
        })
    }

    fn previous_from(&self) -> i64 {
        2 * self.from.as_millis() - self.until.as_millis()
    }
}

/// The whole report for a query.
pub async fn report(
    platform: &Platform,
    principal: &Principal,
    q: &ReportQuery<'_>,
) -> AppResult<Report> {
    let scope = Scope::of(platform, principal, q).await?;
    let pool = platform.db.pool();
    let dialect = platform.db.dialect();
    let teams = scope.teams.as_deref();
    let (from, until) = (scope.from.as_millis(), scope.until.as_millis());
    let previous_from = scope.previous_from();
    // The reads run side by side (on SQLite each connection has its own thread). The current
    // period's read starts a day early so a re-fire at its start finds the incident it follows.
    let noisy_from = from - DAY_MS;
    let db = |e: sqlx::Error| AppError::from(e);
    let (recent, earlier, pages_now, pages_before, names) = tokio::try_join!(
        async {
            store::incident_facts(pool, dialect, teams, noisy_from, until)
                .await
                .map_err(db)
        },
        async {
            store::incident_facts(pool, dialect, teams, previous_from, noisy_from)
                .await
                .map_err(db)
        },
        async {
            store::pages(pool, dialect, teams, from, until)
                .await
                .map_err(db)
        },
        async {
            store::pages(pool, dialect, teams, previous_from, from)
                .await
                .map_err(db)
        },
        Names::load(platform, principal),
    )?;
    let current: Vec<&IncidentFacts> = recent.iter().filter(|i| i.created_at >= from).collect();
    let previous: Vec<&IncidentFacts> = earlier
        .iter()
        .chain(recent.iter().filter(|i| i.created_at < from))
        .collect();
    let current_facts: Vec<IncidentFacts> = current.iter().map(|i| (*i).clone()).collect();

    let zones: HashMap<i64, jiff::tz::TimeZone> = names
        .people
        .iter()
        .filter_map(|(id, (_, zone))| Some((*id, parse_time_zone(zone).ok()?)))
        .collect();
    let before: HashMap<i64, usize> = person_loads(&pages_before, &zones)
        .into_iter()
        .map(|l| (l.user_id, l.interruptions))
        .collect();
    let people = person_loads(&pages_now, &zones)
        .into_iter()
        .map(|load| {
            let (name, zone) = names.person(load.user_id);
            Person {
                name,
                time_zone: zone,
                previous_interruptions: before.get(&load.user_id).copied().unwrap_or(0),
                load,
            }
        })
        .collect();
    let schedules_before: HashMap<i64, usize> = schedule_loads(&pages_before)
        .into_iter()
        .map(|l| (l.schedule_id, l.interruptions))
        .collect();
    let schedules = schedule_loads(&pages_now)
        .into_iter()
        .map(|load| ScheduleGroup {
            name: names.schedule(load.schedule_id),
            previous_interruptions: schedules_before
                .get(&load.schedule_id)
                .copied()
                .unwrap_or(0),
            load,
        })
        .collect();
    let noisy = analytics::noisy_keys(&recent, from, 20)
        .into_iter()
        .map(|key| Noisy {
            service_name: names.service(key.service_id),
            key,
        })
        .collect();

    Ok(Report {
        team_id: scope.team_id,
        from: scope.from,
        until: scope.until,
        previous_from: Timestamp::from_millis(previous_from),
        time_zone: scope.zone_name.clone(),
        current: IncidentFigures::of(current.iter().copied()),
        previous: IncidentFigures::of(previous.iter().copied()),
        by_service: groups(
            &current_facts,
            |i| Some(i.service_id),
            |id| names.service(id),
        ),
        by_team: groups(&current_facts, |i| Some(i.team_id), |id| names.team(id)),
        by_policy: analytics::grouped(&current_facts, |i| Some(i.policy_id))
            .into_iter()
            .map(|(id, figures)| Group {
                name: id.map_or_else(|| "No policy".to_string(), |id| names.policy(id)),
                id,
                figures,
            })
            .collect(),
        by_urgency: analytics::grouped(&current_facts, |i| Some(i.urgency.as_str()))
            .into_iter()
            .map(|(urgency, figures)| Group {
                id: None,
                name: urgency.to_string(),
                figures,
            })
            .collect(),
        weekly: weekly(&current_facts, &scope),
        people,
        schedules,
        noisy,
    })
}

fn groups(
    facts: &[IncidentFacts],
    key: impl Fn(&IncidentFacts) -> Option<i64>,
    name: impl Fn(i64) -> String,
) -> Vec<Group> {
    analytics::grouped(facts, key)
        .into_iter()
        .map(|(id, figures)| Group {
            id: Some(id),
            name: name(id),
            figures,
        })
        .collect()
}

/// Weeks (Monday to Monday in the report's zone) that overlap the period, oldest first.
fn weekly(facts: &[IncidentFacts], scope: &Scope) -> Vec<Week> {
    let monday_of = |ms: i64| {
        let instant = jiff::Timestamp::from_millisecond(ms).unwrap_or_default();
        let date = scope.zone.to_datetime(instant).date();
        date.checked_sub(jiff::Span::new().days(i64::from(date.weekday().to_monday_zero_offset())))
            .unwrap_or(date)
    };
    let start_of = |date: jiff::civil::Date| {
        date.to_datetime(jiff::civil::Time::midnight())
            .to_zoned_datetime(scope.zone.clone())
            .map(|z| Timestamp::from_millis(z.timestamp().as_millisecond()))
            .unwrap_or(scope.from)
    };
    let mut weeks: Vec<(jiff::civil::Date, Vec<&IncidentFacts>)> = Vec::new();
    let mut monday = monday_of(scope.from.as_millis());
    let last = monday_of(scope.until.as_millis() - 1);
    while monday <= last {
        weeks.push((monday, Vec::new()));
        monday = monday
            .checked_add(jiff::Span::new().days(7))
            .unwrap_or(last);
        if weeks.len() > 60 {
            break;
        }
    }
    for i in facts {
        let week = monday_of(i.created_at);
        if let Some((_, list)) = weeks.iter_mut().find(|(m, _)| *m == week) {
            list.push(i);
        }
    }
    weeks
        .into_iter()
        .map(|(monday, list)| {
            let figures = IncidentFigures::of(list);
            Week {
                starts_on: monday.to_string(),
                starts_at: start_of(monday),
                opened: figures.opened,
                mean_seconds_to_acknowledge: figures.time_to_acknowledge.mean_seconds,
                mean_seconds_to_resolve: figures.time_to_resolve.mean_seconds,
            }
        })
        .collect()
}

/// Names of the services, teams, policies and people a report mentions.
struct Names {
    services: HashMap<i64, String>,
    teams: HashMap<i64, String>,
    policies: HashMap<i64, String>,
    schedules: HashMap<i64, String>,
    /// Name and time zone.
    people: HashMap<i64, (String, String)>,
}

impl Names {
    async fn load(platform: &Platform, principal: &Principal) -> AppResult<Self> {
        Ok(Self {
            services: crate::catalog::list_services(platform, principal)
                .await?
                .into_iter()
                .map(|s| (s.id, s.name))
                .collect(),
            teams: keel_platform::accounts::list_teams(platform, principal)
                .await?
                .into_iter()
                .map(|t| (t.id, t.name))
                .collect(),
            policies: crate::oncall::policy_names(platform, principal)
                .await?
                .into_iter()
                .collect(),
            schedules: crate::oncall::list_schedules(platform, principal)
                .await?
                .into_iter()
                .map(|s| (s.id, s.name))
                .collect(),
            people: keel_platform::accounts::directory(platform)
                .await?
                .into_iter()
                .map(|u| (u.id, (u.name, u.time_zone)))
                .collect(),
        })
    }

    fn service(&self, id: i64) -> String {
        self.services
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("service {id}"))
    }

    fn team(&self, id: i64) -> String {
        self.teams
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("team {id}"))
    }

    fn policy(&self, id: i64) -> String {
        self.policies
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("policy {id}"))
    }

    fn schedule(&self, id: i64) -> String {
        self.schedules
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("schedule {id}"))
    }

    fn person(&self, id: i64) -> (String, String) {
        self.people
            .get(&id)
            .cloned()
            .unwrap_or_else(|| (format!("user {id}"), String::new()))
    }
}

/// Most incidents one CSV export lists; a longer list asks for a narrower period or a team.
pub const EXPORT_LIMIT: i64 = 100_000;

/// The period's incidents as CSV, each with its computed durations (seconds).
pub async fn export_csv(
    platform: &Platform,
    principal: &Principal,
    q: &ReportQuery<'_>,
) -> AppResult<String> {
    use keel_platform::spreadsheet::safe_cell;
    let scope = Scope::of(platform, principal, q).await?;
    let rows = store::export_rows(
        platform.db.pool(),
        scope.teams.as_deref(),
        scope.from.as_millis(),
        scope.until.as_millis(),
        EXPORT_LIMIT + 1,
    )
    .await?;
    if rows.len() as i64 > EXPORT_LIMIT {
        return Err(AppError::field(
            "days",
            format!(
                "the period holds more than {EXPORT_LIMIT} incidents: choose a shorter one or a team"
            ),
        ));
    }
    let names = Names::load(platform, principal).await?;
    let quoted = |text: &str| format!("\"{}\"", safe_cell(text).replace('"', "\"\""));
    let time = |ms: Option<i64>| {
        ms.map(|t| Timestamp::from_millis(t).to_string())
            .unwrap_or_default()
    };
    let seconds = |s: Option<f64>| s.map(|s| format!("{s:.0}")).unwrap_or_default();
    let mut out = String::from(
        "number,title,service,team,urgency,dedup_key,created_at,first_acknowledged_at,resolved_at,\
         seconds_to_acknowledge,seconds_to_resolve,acknowledged_by_person,resolved_how,reopened,escalated\r\n",
    );
    for row in rows {
        let i = &row.facts;
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
            row.number,
            quoted(&row.title),
            quoted(&names.service(i.service_id)),
            quoted(&names.team(i.team_id)),
            i.urgency.as_str(),
            quoted(&i.dedup_key),
            time(Some(i.created_at)),
            time(i.first_acknowledged_at),
            time(i.resolved_at),
            seconds(i.seconds_to_acknowledge()),
            seconds(i.seconds_to_resolve()),
            i.acknowledged_by_person,
            i.resolved_how.as_deref().unwrap_or_default(),
            i.retriggers,
            i.peak_level >= 1,
        ));
    }
    Ok(out)
}
