//! Incident history at volume for benchmarks and demos: `keel openalert seed`. Teams with
//! people and services; incidents spread evenly over the past `days`, most acknowledged by a
//! person within minutes and resolved within hours, some cleared by their source, a few still
//! open; pages (SMS, voice, chat) to the team's people. Multi-row inserts; deterministic.

use keel_platform::seeding::{ROWS_PER_STATEMENT, Rng};
use keel_platform::{AppResult, Platform};

const DAY_MS: i64 = 86_400_000;
const INCIDENT_COLUMNS: usize = 20;
const PAGE_COLUMNS: usize = 9;
/// Rows per transaction: big enough to be quick, small enough not to hold the writer long.
const ROWS_PER_TRANSACTION: usize = 50_000;

pub struct SeedPlan {
    pub teams: usize,
    pub services_per_team: usize,
    pub people_per_team: usize,
    pub incidents: usize,
    pub days: i64,
}

pub struct Seeded {
    pub teams: Vec<i64>,
    pub incidents: usize,
    pub pages: usize,
}

struct Team {
    id: i64,
    services: Vec<i64>,
    people: Vec<i64>,
}

/// Adds the plan's teams, people, services, incidents and pages.
pub async fn seed(platform: &Platform, plan: &SeedPlan) -> AppResult<Seeded> {
    let now = platform.now().as_millis();
    let dialect = platform.db.dialect();
    let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15);
    let teams = teams(platform, plan, now).await?;
    let first_number: i64 =
        sqlx::query_scalar("SELECT value FROM oa_counters WHERE name = 'incident_number'")
            .fetch_one(platform.db.pool())
            .await?;
    let span = plan.days.max(1) * DAY_MS;
    let step = span / plan.incidents.max(1) as i64;
    let (mut done, mut pages) = (0, 0);
    while done < plan.incidents {
        let mut tx = platform.db.begin().await?;
        let end = (done + ROWS_PER_TRANSACTION).min(plan.incidents);
        let mut page_rows: Vec<[i64; 3]> = Vec::new();
        while done < end {
            let n = ROWS_PER_STATEMENT.min(end - done);
            let sql = format!(
                "INSERT INTO oa_incidents (number, service_id, title, status, urgency, dedup_key, alert_count, \
                 created_at, updated_at, last_alert_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, \
                 resolved_how, first_acknowledged_at, acknowledged_by_person, retrigger_count, peak_escalation_level, \
                 escalation_level) VALUES {} RETURNING id, created_at",
                dialect.values(n, INCIDENT_COLUMNS, "")
            );
            let mut q = sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(sql));
            let mut owners = Vec::with_capacity(n);
            for i in done..done + n {
                let team = &teams[rng.next(teams.len() as u64) as usize];
                let service = team.services[rng.next(team.services.len() as u64) as usize];
                let person = team.people[rng.next(team.people.len() as u64) as usize];
                owners.push(person);
                let created = now - span + i as i64 * step + rng.next(step.max(1) as u64) as i64;
                // The last day keeps a few incidents open, each on its own key.
                let open = now - created < DAY_MS && rng.next(10) == 0;
                let key = if open {
                    format!("open-{i}")
                } else {
                    format!("alert-{}", rng.next(300))
                };
                let acked = rng.next(100) < 85;
                let by_person = acked && rng.next(100) < 95;
                let ack_at = acked.then(|| created + 30_000 + rng.next(30 * 60_000) as i64);
                let resolved_at = (!open)
                    .then(|| ack_at.unwrap_or(created) + 60_000 + rng.next(4 * 3_600_000) as i64);
                let how = match (open, acked, rng.next(10)) {
                    (true, _, _) => None,
                    (false, true, _) => Some("user"),
                    (false, false, 0) => Some("timeout"),
                    _ => Some("source"),
                };
                let status = match (open, acked) {
                    (false, _) => "resolved",
                    (true, true) => "acknowledged",
                    (true, false) => "triggered",
                };
                let level = if rng.next(100) < 15 { 1 } else { 0 };
                q = q
                    .bind(first_number + 1 + i as i64)
                    .bind(service)
                    .bind(format!("{key} on host-{}", rng.next(40)))
                    .bind(status)
                    .bind(if rng.next(4) == 0 { "low" } else { "high" })
                    .bind(key)
                    .bind(1 + rng.next(3) as i64)
                    .bind(created)
                    .bind(resolved_at.or(ack_at).unwrap_or(created))
                    .bind(created)
                    .bind(if open { ack_at } else { None })
                    .bind(if open && by_person {
                        Some(person)
                    } else {
                        None
                    })
                    .bind(resolved_at)
                    .bind(if how == Some("user") {
                        Some(person)
                    } else {
                        None
                    })
                    .bind(how)
                    .bind(ack_at)
                    .bind(i64::from(by_person))
                    .bind(i64::from(rng.next(50) == 0))
                    .bind(level)
                    .bind(level);
            }
            let inserted = q.fetch_all(&mut *tx).await?;
            for ((id, created), person) in inserted.into_iter().zip(owners) {
                // Most incidents page someone once or twice: SMS first, then a call.
                for k in 0..rng.next(3) as i64 {
                    page_rows.push([id, person, created + 5_000 + k * 90_000]);
                }
            }
            done += n;
        }
        for chunk in page_rows.chunks(ROWS_PER_STATEMENT) {
            let sql = format!(
                "INSERT INTO oa_notifications (incident_id, user_id, kind, address, reason, status, due_at, sent_at, created_at) VALUES {}",
                dialect.values(chunk.len(), PAGE_COLUMNS, "")
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (n, [incident, user, at]) in chunk.iter().enumerate() {
                q = q
                    .bind(incident)
                    .bind(user)
                    .bind(["sms", "voice", "slack"][n % 3])
                    .bind("+15550100")
                    .bind("escalation")
                    .bind("sent")
                    .bind(at)
                    .bind(at)
                    .bind(at);
            }
            q.execute(&mut *tx).await?;
        }
        pages += page_rows.len();
        tx.commit().await?;
    }
    sqlx::query("UPDATE oa_counters SET value = $1 WHERE name = 'incident_number'")
        .bind(first_number + plan.incidents as i64)
        .execute(platform.db.pool())
        .await?;
    Ok(Seeded {
        teams: teams.iter().map(|t| t.id).collect(),
        incidents: plan.incidents,
        pages,
    })
}

/// Teams named "Seed team N" with their people (sleeping in three time zones) and services.
async fn teams(platform: &Platform, plan: &SeedPlan, now: i64) -> AppResult<Vec<Team>> {
    let zones = ["Europe/Berlin", "America/New_York", "Asia/Tokyo"];
    let mut tx = platform.db.begin().await?;
    let mut teams = Vec::new();
    let tag = keel_platform::crypto::random_token(6).to_lowercase();
    for t in 0..plan.teams.max(1) {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO teams (name, description, created_at, updated_at) VALUES ($1, '', $2, $2) RETURNING id",
        )
        .bind(format!("Seed team {t} {tag}"))
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        let mut people = Vec::new();
        for p in 0..plan.people_per_team.max(1) {
            let user: i64 = sqlx::query_scalar(
                "INSERT INTO users (email, name, password_hash, role, created_at, updated_at, time_zone) \
                 VALUES ($1, $2, '!', 'member', $3, $3, $4) RETURNING id",
            )
            .bind(format!("oncall-{t}-{p}-{tag}@example.com"))
            .bind(format!("On-call {t}.{p}"))
            .bind(now)
            .bind(zones[p % zones.len()])
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO team_members (team_id, user_id, role, created_at) VALUES ($1, $2, 'member', $3)")
                .bind(id)
                .bind(user)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            people.push(user);
        }
        let mut services = Vec::new();
        for s in 0..plan.services_per_team.max(1) {
            services.push(
                sqlx::query_scalar(
                    "INSERT INTO oa_services (team_id, name, description, urgency_rule, created_at, updated_at) \
                     VALUES ($1, $2, '', 'severity', $3, $3) RETURNING id",
                )
                .bind(id)
                .bind(format!("service-{t}-{s}"))
                .bind(now)
                .fetch_one(&mut *tx)
                .await?,
            );
        }
        teams.push(Team {
            id,
            services,
            people,
        });
    }
    tx.commit().await?;
    Ok(teams)
}
