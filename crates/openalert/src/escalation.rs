//! The escalation engine: takes each triggered incident's next step when it is due.
//!
//! A step is one transaction: a compare-and-set on the incident's `escalation_step` (so two
//! nodes, or a node and an acknowledgement, cannot both take it), the new assignees, the
//! timeline entry, and one notification row plus one job per message. The job queue then
//! delivers each message at its own time. If the server dies before the commit, nothing of the
//! step happened and the next cycle takes it; after the commit, the jobs are durable. So each
//! level is notified exactly once, late by at most the downtime.

use keel_platform::domain::Timestamp;
use keel_platform::jobs;
use keel_platform::{AppResult, Platform};
use serde_json::json;

use crate::store::escalation::{self as store, DueEscalation, Target};
use crate::store::incidents as incidents_store;
use crate::store::notify::{self as notify_store, NewNotification};

/// Attempts per message before it is recorded as failed.
pub const NOTIFY_ATTEMPTS: i64 = 5;

/// Steps taken per batch; batches repeat within one cycle while they come back full.
const BATCH: i64 = 200;

/// Takes every escalation step that is due; returns how many were taken here.
pub async fn run_due(platform: &Platform) -> AppResult<usize> {
    let now = platform.now();
    let mut taken = settle_unpaged(platform, now).await?;
    let started = std::time::Instant::now();
    loop {
        let batch = store::due(platform.db.pool(), now, BATCH).await?;
        let full = batch.len() as i64 == BATCH;
        for due in batch {
            match step(platform, &due, now).await {
                Ok(true) => taken += 1,
                Ok(false) => {}
                Err(err) => {
                    tracing::warn!(error = %err, incident = due.incident_id, "escalation step failed")
                }
            }
        }
        // A flood of new incidents is worked through without starving the next cycle.
        if !full || started.elapsed() > std::time::Duration::from_millis(900) {
            break;
        }
    }
    if taken > 0 {
        platform.job_wake.notify_one();
    }
    Ok(taken)
}

/// Due incidents of services without an escalation policy page nobody: clear them and say
/// so on their timelines, set-based (an alert storm on such a service must not cost one
/// transaction per incident). The `UPDATE … RETURNING` claims the rows, so a concurrent node
/// finds nothing left to claim and writes no second entry.
async fn settle_unpaged(platform: &Platform, now: Timestamp) -> AppResult<usize> {
    let mut tx = platform.db.begin().await?;
    let ids: Vec<i64> = sqlx::query_scalar(
        "UPDATE oa_incidents SET escalation_step = escalation_step + 1, escalation_due_at = NULL \
         WHERE escalation_due_at IS NOT NULL AND escalation_due_at <= $1 AND status = 'triggered' \
         AND service_id IN (SELECT id FROM oa_services WHERE escalation_policy_id IS NULL) RETURNING id",
    )
    .bind(now.as_millis())
    .fetch_all(&mut *tx)
    .await?;
    for chunk in ids.chunks(500) {
        let list = chunk
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO oa_incident_log (incident_id, at, kind, actor_user_id, actor, message, details) \
             SELECT id, $1, 'escalation_none', NULL, 'system', 'Nobody was paged: the service has no escalation policy', '{{}}' \
             FROM oa_incidents WHERE id IN ({list})"
        )))
        .persistent(false)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(ids.len())
}

/// The level and round after (`level`, `round`) in a policy of `levels` levels.
pub fn next_position(level: i64, round: i64, levels: i64) -> (i64, i64) {
    if level + 1 >= levels {
        (0, round + 1)
    } else {
        (level + 1, round)
    }
}

async fn step(platform: &Platform, due: &DueEscalation, now: Timestamp) -> AppResult<bool> {
    let policy = match due.policy_id {
        Some(id) => {
            let mut conn = platform.db.pool().acquire().await?;
            store::policy_by_id(&mut conn, id).await?
        }
        None => None,
    };
    let Some(policy) = policy.filter(|p| !p.levels.is_empty()) else {
        let mut tx = platform.db.begin().await?;
        if !store::advance(&mut *tx, due.incident_id, due.escalation_step, -1, 0, None).await? {
            return Ok(false);
        }
        incidents_store::log(
            &mut *tx,
            due.incident_id,
            now,
            "escalation_none",
            (None, "system"),
            "Nobody was paged: the escalation policy has no levels",
            &json!({}),
        )
        .await?;
        tx.commit().await?;
        return Ok(true);
    };

    let (level, round) = if due.escalation_level < 0 {
        (0, 0)
    } else {
        next_position(
            due.escalation_level,
            due.escalation_round,
            policy.levels.len() as i64,
        )
    };
    if round > policy.repeat_count {
        let mut tx = platform.db.begin().await?;
        if !store::advance(
            &mut *tx,
            due.incident_id,
            due.escalation_step,
            due.escalation_level,
            due.escalation_round,
            None,
        )
        .await?
        {
            return Ok(false);
        }
        let times = policy.repeat_count + 1;
        incidents_store::log(
            &mut *tx,
            due.incident_id,
            now,
            "escalation_exhausted",
            (None, "system"),
            &format!(
                "Escalation exhausted: nobody acknowledged after {times} pass{} through {}",
                if times == 1 { "" } else { "es" },
                policy.name
            ),
            &json!({"policy_id": policy.id}),
        )
        .await?;
        tx.commit().await?;
        announce(platform, due, "incident.escalation_exhausted").await;
        return Ok(true);
    }

    let spec = &policy.levels[level as usize];
    let recipients = resolve_recipients(platform, &spec.targets, now).await?;
    let users: Vec<i64> = recipients.iter().map(|r| r.user_id).collect();
    let next_due = now.plus(std::time::Duration::from_secs(
        spec.delay_minutes as u64 * 60,
    ));

    let mut tx = platform.db.begin().await?;
    if !store::advance(
        &mut *tx,
        due.incident_id,
        due.escalation_step,
        level,
        round,
        Some(next_due),
    )
    .await?
    {
        return Ok(false);
    }
    let step_number = due.escalation_step + 1;
    let names = user_labels(&mut tx, &users).await?;
    let pass = if round > 0 {
        format!(" (repeat {round})")
    } else {
        String::new()
    };
    let message = if users.is_empty() {
        format!(
            "Escalated to level {}{pass}: nobody is on call there",
            level + 1
        )
    } else {
        format!(
            "Escalated to level {}{pass}: {}",
            level + 1,
            names.join(", ")
        )
    };
    incidents_store::log(
        &mut *tx,
        due.incident_id,
        now,
        "escalated",
        (None, "system"),
        &message,
        &json!({"level": level + 1, "round": round, "user_ids": users, "policy_id": policy.id}),
    )
    .await?;
    if !users.is_empty() {
        incidents_store::set_assignees(&mut tx, due.incident_id, &users, now).await?;
        queue_notifications(
            &mut tx,
            due.incident_id,
            &recipients,
            &due.urgency,
            "escalation",
            Some(step_number),
            now,
        )
        .await?;
    }
    tx.commit().await?;
    announce(platform, due, "incident.escalated").await;
    Ok(true)
}

/// Someone a level pages, and the schedule that put them on call (if one did).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: i64,
    pub schedule_id: Option<i64>,
}

impl Recipient {
    /// Someone paged directly, not through a schedule.
    pub fn person(user_id: i64) -> Self {
        Self {
            user_id,
            schedule_id: None,
        }
    }
}

/// One notification row and delivery job per message of each recipient's plan, in `tx`.
pub async fn queue_notifications(
    tx: &mut sqlx::AnyConnection,
    incident_id: i64,
    recipients: &[Recipient],
    urgency: &str,
    reason: &str,
    escalation_step: Option<i64>,
    now: Timestamp,
) -> AppResult<usize> {
    let users: Vec<i64> = recipients.iter().map(|r| r.user_id).collect();
    let plan = notify_store::plan_for(&mut *tx, &users, urgency).await?;
    for (user_id, method_id, kind, address, delay) in &plan {
        let schedule_id = recipients
            .iter()
            .find(|r| r.user_id == *user_id)
            .and_then(|r| r.schedule_id);
        let due_at = now.plus(std::time::Duration::from_secs(*delay as u64 * 60));
        let id = notify_store::insert_notification(
            &mut *tx,
            &NewNotification {
                incident_id: Some(incident_id),
                user_id: *user_id,
                contact_method_id: *method_id,
                kind,
                address,
                reason,
                escalation_step,
                schedule_id,
                due_at,
            },
            now,
        )
        .await?;
        jobs::enqueue(
            &mut *tx,
            &crate::notify::NotifyJob::about_incident(id),
            due_at,
            NOTIFY_ATTEMPTS,
            now,
        )
        .await?;
    }
    Ok(plan.len())
}

/// The people a level's targets stand for right now, each once, in target order.
pub async fn resolve_targets(
    platform: &Platform,
    targets: &[Target],
    now: Timestamp,
) -> AppResult<Vec<i64>> {
    Ok(resolve_recipients(platform, targets, now)
        .await?
        .into_iter()
        .map(|r| r.user_id)
        .collect())
}

/// Like [`resolve_targets`], with the schedule that brought each person in: the first target
/// naming them decides.
pub async fn resolve_recipients(
    platform: &Platform,
    targets: &[Target],
    now: Timestamp,
) -> AppResult<Vec<Recipient>> {
    let mut recipients: Vec<Recipient> = Vec::new();
    for target in targets {
        let (found, schedule_id) = match *target {
            Target::User(id) => (vec![id], None),
            Target::Schedule(id) => (
                crate::oncall::on_call_at(platform, id, now).await?,
                Some(id),
            ),
            Target::Team(id) => (store::team_members(platform.db.pool(), id).await?, None),
        };
        for user_id in found {
            if !recipients.iter().any(|r| r.user_id == user_id) {
                recipients.push(Recipient {
                    user_id,
                    schedule_id,
                });
            }
        }
    }
    // A disabled account can neither be reached nor act: it takes no place in a level.
    let users: Vec<i64> = recipients.iter().map(|r| r.user_id).collect();
    let active = crate::oncall::active_users(platform, &users).await?;
    recipients.retain(|r| active.contains(&r.user_id));
    Ok(recipients)
}

async fn user_labels(conn: &mut sqlx::AnyConnection, users: &[i64]) -> sqlx::Result<Vec<String>> {
    let mut names = Vec::with_capacity(users.len());
    for id in users {
        let name: Option<String> = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        names.push(name.unwrap_or_else(|| format!("user {id}")));
    }
    Ok(names)
}

async fn announce(platform: &Platform, due: &DueEscalation, topic: &str) {
    platform
        .bus
        .publish(keel_platform::realtime::Event::new(
            topic,
            keel_platform::realtime::Audience::Teams(vec![due.team_id]),
            platform.now(),
            json!({"incident_id": due.incident_id, "number": due.number}),
        ))
        .await;
}

#[cfg(test)]
mod tests {
    use super::next_position;

    #[test]
    fn walks_levels_then_repeats() {
        assert_eq!(next_position(0, 0, 2), (1, 0));
        assert_eq!(next_position(1, 0, 2), (0, 1));
        assert_eq!(next_position(0, 3, 1), (0, 4));
    }
}
