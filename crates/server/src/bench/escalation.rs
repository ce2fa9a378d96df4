//! `keel bench escalation`: many incidents whose first escalation step falls due within a few
//! seconds, taken by one or more engines (nodes) on the same database. Reports how late each
//! step was (its timeline entry's time minus the time it was due), checks that every
//! incident escalated exactly once and counts the notifications queued.
//!
//! The incidents are written straight into the database (as group-committed ingestion writes
//! them) so that 100,000 can fall due together; only the engine runs, not the job worker, so
//! the figures are those of the escalation steps, with their messages durably queued.

use std::time::Duration;

use keel_platform::domain::{OrgRole, Timestamp};
use keel_platform::store;
use tokio::sync::watch;

use super::{bench_platform, scratch_dir};

pub struct EscalationBench {
    pub database_url: Option<String>,
    pub incidents: usize,
    /// Seconds over which the steps fall due.
    pub spread_seconds: u64,
    /// Engines running at once on the same database.
    pub nodes: usize,
}

pub async fn escalation(options: EscalationBench) -> anyhow::Result<()> {
    let dir = scratch_dir()?;
    let result = run(&options, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

async fn run(options: &EscalationBench, dir: &std::path::Path) -> anyhow::Result<()> {
    let nodes = options.nodes.max(1);
    let mut platforms = Vec::with_capacity(nodes);
    for _ in 0..nodes {
        let (platform, backend) = bench_platform(dir, options.database_url.clone()).await?;
        if platforms.is_empty() {
            println!(
                "escalation benchmark: {} incidents due within {} s, {nodes} node(s), {backend:?}",
                options.incidents, options.spread_seconds
            );
        }
        platforms.push(platform);
    }
    let platform = platforms[0].clone();
    let service_id = prepare(&platform).await?;

    let seeding = std::time::Instant::now();
    seed(&platform, service_id, options.incidents).await?;
    // Due times from two seconds from now, evenly over the spread, in id order.
    let start = platform.now().as_millis() + 2_000;
    let spread = (options.spread_seconds * 1000) as i64;
    let count = options.incidents.max(1) as i64;
    sqlx::query(
        "UPDATE oa_incidents SET escalation_due_at = $1 + ((id - (SELECT MIN(id) FROM oa_incidents WHERE service_id = $2)) * $3) / $4, \
         created_at = $1 + ((id - (SELECT MIN(id) FROM oa_incidents WHERE service_id = $2)) * $3) / $4 WHERE service_id = $2",
    )
    .bind(start)
    .bind(service_id)
    .bind(spread)
    .bind(count)
    .execute(platform.db.pool())
    .await?;
    println!(
        "seeded in {:.1} s; steps fall due from {} to {} ms from now",
        seeding.elapsed().as_secs_f64(),
        2_000,
        2_000 + spread
    );

    let (stop, stopped) = watch::channel(false);
    let engines: Vec<_> = platforms
        .iter()
        .map(|p| tokio::spawn(keel_openalert::engine::run(p.clone(), stopped.clone())))
        .collect();
    let last_due = Timestamp::from_millis(start + spread);
    let waited = wait_until_taken(&platform, service_id, last_due).await;
    let _ = stop.send(true);
    for engine in engines {
        let _ = engine.await;
    }
    waited?;

    let mut late: Vec<i64> = sqlx::query_scalar(
        "SELECT l.at - i.created_at FROM oa_incident_log l JOIN oa_incidents i ON i.id = l.incident_id \
         WHERE i.service_id = $1 AND l.kind = 'escalated'",
    )
    .bind(service_id)
    .fetch_all(platform.db.pool())
    .await?;
    late.sort_unstable();
    let notifications: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM oa_notifications n JOIN oa_incidents i ON i.id = n.incident_id WHERE i.service_id = $1",
    )
    .bind(service_id)
    .fetch_one(platform.db.pool())
    .await?;
    let pct = |p: f64| late[((late.len() as f64 * p) as usize).min(late.len() - 1)];
    println!(
        "level 1 taken late by  p50 {} ms  p99 {} ms  max {} ms",
        pct(0.5),
        pct(0.99),
        late.last().copied().unwrap_or(0)
    );
    println!(
        "{} escalations for {} incidents, {notifications} notifications queued",
        late.len(),
        options.incidents
    );
    anyhow::ensure!(
        late.len() == options.incidents,
        "every incident must escalate exactly once"
    );
    Ok(())
}

/// A team, one person in it, a two-level policy paging them (a minute apart) and a service.
async fn prepare(platform: &keel_platform::Platform) -> anyhow::Result<i64> {
    let now = platform.now();
    let suffix = keel_platform::crypto::random_token(6).to_lowercase();
    let team =
        store::teams::insert_team(platform.db.pool(), &format!("bench-{suffix}"), "", now).await?;
    let user = store::accounts::insert_user(
        platform.db.pool(),
        store::accounts::NewUser {
            email: &format!("oncall-{suffix}@example.com"),
            name: "On call",
            password_hash: "!",
            role: OrgRole::Member,
            now,
        },
    )
    .await?;
    use keel_openalert::store::escalation::{PolicyFields, Target, insert_policy};
    let levels = [
        (1, vec![Target::User(user.id)]),
        (1, vec![Target::User(user.id)]),
    ];
    let mut tx = platform.db.begin().await?;
    let policy_id = insert_policy(
        &mut tx,
        &PolicyFields {
            team_id: team.id,
            name: "bench",
            description: "",
            repeat_count: 0,
            levels: &levels,
        },
        now,
    )
    .await?;
    tx.commit().await?;
    let fields = keel_openalert::store::services::ServiceFields {
        team_id: team.id,
        name: "bench",
        description: "",
        escalation_policy_id: Some(policy_id),
        urgency_rule: keel_openalert::domain::UrgencyRule::High,
        auto_resolve_minutes: None,
        ack_timeout_minutes: None,
    };
    let service =
        keel_openalert::store::services::insert_service(platform.db.pool(), &fields, now).await?;
    Ok(service.id)
}

/// `count` triggered incidents on the service, in transactions of 5,000.
async fn seed(
    platform: &keel_platform::Platform,
    service_id: i64,
    count: usize,
) -> anyhow::Result<()> {
    use keel_openalert::store::batch::{IncidentRow, insert_incidents, reserve_numbers};
    let titles: Vec<String> = (0..count).map(|i| format!("Burst incident {i}")).collect();
    let keys: Vec<String> = (0..count).map(|i| format!("burst-{i}")).collect();
    for start in (0..count).step_by(5_000) {
        let end = (start + 5_000).min(count);
        let mut tx = platform.db.begin().await?;
        let first = reserve_numbers(&mut *tx, (end - start) as i64).await?;
        let rows: Vec<IncidentRow> = (start..end)
            .map(|i| IncidentRow {
                number: first + (i - start) as i64,
                service_id,
                title: &titles[i],
                urgency: keel_openalert::domain::Urgency::High,
                dedup_key: &keys[i],
                alert_count: 1,
            })
            .collect();
        insert_incidents(&mut tx, platform.db.dialect(), &rows, platform.now()).await?;
        tx.commit().await?;
    }
    Ok(())
}

/// Waits until no incident of the service is still waiting for its first step, giving up a
/// minute after the last one fell due.
async fn wait_until_taken(
    platform: &keel_platform::Platform,
    service_id: i64,
    last_due: Timestamp,
) -> anyhow::Result<()> {
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM oa_incidents WHERE service_id = $1 AND escalation_step = 0",
        )
        .bind(service_id)
        .fetch_one(platform.db.pool())
        .await?;
        let now = platform.now();
        if waiting == 0 {
            println!(
                "all taken {} ms after the last step fell due",
                now.as_millis() - last_due.as_millis()
            );
            return Ok(());
        }
        anyhow::ensure!(
            now.as_millis() < last_due.as_millis() + 60_000,
            "{waiting} incidents still waiting a minute after the last step fell due"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
