//! The escalation engine: takes each triggered incident's next step when it is due.
//!
//! Due incidents are taken in groups that take the same step (same policy, position, step
//! number and urgency), so a burst of thousands costs a few statements per thousand
//! incidents, not a transaction each. A group's step is one transaction: a compare-and-set on
//! each incident's `escalation_step` whose `RETURNING` names the incidents this node claimed
//! (another node, or an acknowledgement, may have got to some first), then for those only the
//! new assignees, the timeline entries, and one notification row plus one job per message
//! (see [`crate::paging`]). The job queue then delivers each message at its own time. If the server dies before the
//! commit, nothing of the step happened and the next cycle takes it; after the commit, the
//! jobs are durable. So each level is notified exactly once, late by at most the downtime.

use std::collections::HashMap;

use keel_platform::domain::Timestamp;
use keel_platform::{AppResult, Platform};
use serde_json::json;

use crate::paging::{Paging, queue_notifications, resolve_recipients};
use crate::store::escalation::{self as store, DueEscalation, Policy};
use crate::store::incidents as incidents_store;

/// Due incidents read per query; reads repeat within one cycle while they come back full.
const BATCH: i64 = 5000;

/// Incidents per step transaction: short enough that a step's timestamp is close to its
/// commit, long enough that a burst costs few transactions.
const GROUP: usize = 1000;

/// Takes every escalation step that is due; returns how many were taken here.
pub async fn run_due(platform: &Platform) -> AppResult<usize> {
    let now = platform.now();
    let mut taken = settle_unpaged(platform, now).await?;
    let started = std::time::Instant::now();
    let mut policies: HashMap<i64, Option<Policy>> = HashMap::new();
    loop {
        let batch = store::due(platform.db.pool(), now, BATCH).await?;
        let full = batch.len() as i64 == BATCH;
        for (key, group) in same_step_groups(batch) {
            let policy = match key.policy_id {
                Some(id) => match policies.get(&id) {
                    Some(found) => found.clone(),
                    None => {
                        let mut conn = platform.db.pool().acquire().await?;
                        let found = store::policy_by_id(&mut conn, id).await?;
                        policies.insert(id, found.clone());
                        found
                    }
                },
                None => None,
            };
            for chunk in group.chunks(GROUP) {
                match take_step(platform, &key, policy.as_ref(), chunk).await {
                    Ok(n) => taken += n,
                    Err(err) => tracing::warn!(
                        error = %err,
                        incidents = chunk.len(),
                        first = chunk[0].incident_id,
                        "escalation step failed"
                    ),
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

/// How long until the next escalation step falls due (zero if one is overdue); `None` if
/// no triggered incident is waiting for one.
pub async fn next_due_in(platform: &Platform) -> AppResult<Option<std::time::Duration>> {
    let next = store::next_due(platform.db.pool()).await?;
    let now = platform.now().as_millis();
    Ok(next.map(|at| std::time::Duration::from_millis(at.saturating_sub(now).max(0) as u64)))
}

/// What makes incidents take the same step.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StepKey {
    policy_id: Option<i64>,
    from_step: i64,
    level: i64,
    round: i64,
    urgency: String,
}

/// Due incidents grouped by the step they take, groups in order of their earliest due time.
fn same_step_groups(due: Vec<DueEscalation>) -> Vec<(StepKey, Vec<DueEscalation>)> {
    let mut groups: Vec<(StepKey, Vec<DueEscalation>)> = Vec::new();
    let mut index: HashMap<StepKey, usize> = HashMap::new();
    for d in due {
        let key = StepKey {
            policy_id: d.policy_id,
            from_step: d.escalation_step,
            level: d.escalation_level,
            round: d.escalation_round,
            urgency: d.urgency.clone(),
        };
        match index.get(&key) {
            Some(&i) => groups[i].1.push(d),
            None => {
                index.insert(key.clone(), groups.len());
                groups.push((key, vec![d]));
            }
        }
    }
    groups
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

/// Takes one step for incidents that all take the same one; returns how many it took.
async fn take_step(
    platform: &Platform,
    key: &StepKey,
    policy: Option<&Policy>,
    group: &[DueEscalation],
) -> AppResult<usize> {
    // Each group is timed on its own, so a step's timeline entry says when it happened.
    let now = platform.now();
    let ids: Vec<i64> = group.iter().map(|d| d.incident_id).collect();
    let Some(policy) = policy.filter(|p| !p.levels.is_empty()) else {
        let mut tx = platform.db.begin().await?;
        let claimed = store::advance(&mut *tx, &ids, key.from_step, -1, 0, None).await?;
        incidents_store::log_each(
            &mut *tx,
            &claimed,
            now,
            "escalation_none",
            "Nobody was paged: the escalation policy has no levels",
            &json!({}),
        )
        .await?;
        tx.commit().await?;
        return Ok(claimed.len());
    };

    let (level, round) = if key.level < 0 {
        (0, 0)
    } else {
        next_position(key.level, key.round, policy.levels.len() as i64)
    };
    if round > policy.repeat_count {
        let mut tx = platform.db.begin().await?;
        let claimed =
            store::advance(&mut *tx, &ids, key.from_step, key.level, key.round, None).await?;
        let times = policy.repeat_count + 1;
        incidents_store::log_each(
            &mut *tx,
            &claimed,
            now,
            "escalation_exhausted",
            &format!(
                "Escalation exhausted: nobody acknowledged after {times} pass{} through {}",
                if times == 1 { "" } else { "es" },
                policy.name
            ),
            &json!({"policy_id": policy.id}),
        )
        .await?;
        tx.commit().await?;
        announce(platform, group, &claimed, "incident.escalation_exhausted");
        return Ok(claimed.len());
    }

    let spec = &policy.levels[level as usize];
    let recipients = resolve_recipients(platform, &spec.targets, now).await?;
    let users: Vec<i64> = recipients.iter().map(|r| r.user_id).collect();
    let next_due = now.plus(std::time::Duration::from_secs(
        spec.delay_minutes as u64 * 60,
    ));

    let mut tx = platform.db.begin().await?;
    let claimed =
        store::advance(&mut *tx, &ids, key.from_step, level, round, Some(next_due)).await?;
    if claimed.is_empty() {
        return Ok(0);
    }
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
    incidents_store::log_each(
        &mut *tx,
        &claimed,
        now,
        "escalated",
        &message,
        &json!({"level": level + 1, "round": round, "user_ids": users, "policy_id": policy.id}),
    )
    .await?;
    if !users.is_empty() {
        incidents_store::set_assignees_of_each(&mut tx, &claimed, &users, now).await?;
        queue_notifications(
            &mut tx,
            platform.db.dialect(),
            &claimed,
            &Paging {
                recipients: &recipients,
                urgency: &key.urgency,
                reason: "escalation",
                escalation_step: Some(key.from_step + 1),
            },
            now,
        )
        .await?;
    }
    tx.commit().await?;
    announce(platform, group, &claimed, "incident.escalated");
    Ok(claimed.len())
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

/// Tells the teams' open pages about the incidents `claimed` (of `group`). Sent from a task
/// of its own: with Redis each event is a round trip, and a burst must not wait on them.
fn announce(platform: &Platform, group: &[DueEscalation], claimed: &[i64], topic: &'static str) {
    let claimed: std::collections::HashSet<i64> = claimed.iter().copied().collect();
    let now = platform.now();
    let events: Vec<_> = group
        .iter()
        .filter(|d| claimed.contains(&d.incident_id))
        .map(|d| {
            keel_platform::realtime::Event::new(
                topic,
                keel_platform::realtime::Audience::Teams(vec![d.team_id]),
                now,
                json!({"incident_id": d.incident_id, "number": d.number}),
            )
        })
        .collect();
    let bus = platform.bus.clone();
    tokio::spawn(async move {
        for event in events {
            bus.publish(event).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{DueEscalation, next_position, same_step_groups};

    fn due(id: i64, step: i64, level: i64, urgency: &str) -> DueEscalation {
        DueEscalation {
            incident_id: id,
            number: id,
            title: String::new(),
            urgency: urgency.into(),
            team_id: 1,
            service_name: String::new(),
            policy_id: Some(7),
            escalation_step: step,
            escalation_level: level,
            escalation_round: 0,
        }
    }

    #[test]
    fn groups_incidents_taking_the_same_step_in_due_order() {
        let groups = same_step_groups(vec![
            due(1, 1, 0, "high"),
            due(2, 0, -1, "high"),
            due(3, 1, 0, "high"),
            due(4, 1, 0, "low"),
        ]);
        let ids: Vec<Vec<i64>> = groups
            .iter()
            .map(|(_, g)| g.iter().map(|d| d.incident_id).collect())
            .collect();
        assert_eq!(ids, vec![vec![1, 3], vec![2], vec![4]]);
    }

    #[test]
    fn walks_levels_then_repeats() {
        assert_eq!(next_position(0, 0, 2), (1, 0));
        assert_eq!(next_position(1, 0, 2), (0, 1));
        assert_eq!(next_position(0, 3, 1), (0, 4));
    }
}
