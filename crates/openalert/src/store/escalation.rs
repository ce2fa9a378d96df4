//! Escalation policies (levels and their targets) and the escalation state of incidents.

use keel_platform::domain::Timestamp;
use serde::{Deserialize, Serialize};

use super::Executor;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Policy {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    pub description: String,
    /// Times the policy runs again from level 1 after its last level (0-9).
    pub repeat_count: i64,
    pub levels: Vec<Level>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Level {
    /// Minutes to wait for an acknowledgement before the next level.
    pub delay_minutes: i64,
    pub targets: Vec<Target>,
}

/// Who a level notifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "id", rename_all = "lowercase")]
pub enum Target {
    User(i64),
    /// Whoever is on call in the schedule at that moment.
    Schedule(i64),
    /// Every member of the team.
    Team(i64),
}

type PolicyRow = (i64, i64, String, String, i64, i64, i64);

fn policy_from(r: PolicyRow) -> Policy {
    Policy {
        id: r.0,
        team_id: r.1,
        name: r.2,
        description: r.3,
        repeat_count: r.4,
        levels: Vec::new(),
        created_at: Timestamp::from_millis(r.5),
        updated_at: Timestamp::from_millis(r.6),
    }
}

const POLICY_COLUMNS: &str = "id, team_id, name, description, repeat_count, created_at, updated_at";

pub struct PolicyFields<'a> {
    pub team_id: i64,
    pub name: &'a str,
    pub description: &'a str,
    pub repeat_count: i64,
    pub levels: &'a [(i64, Vec<Target>)],
}

pub async fn insert_policy(
    tx: &mut sqlx::AnyConnection,
    f: &PolicyFields<'_>,
    now: Timestamp,
) -> sqlx::Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO oa_escalation_policies (team_id, name, description, repeat_count, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(f.team_id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.repeat_count)
    .bind(now.as_millis())
    .fetch_one(&mut *tx)
    .await?;
    insert_levels(tx, id, f.levels).await?;
    Ok(id)
}

pub async fn update_policy(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    f: &PolicyFields<'_>,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let changed = sqlx::query(
        "UPDATE oa_escalation_policies SET team_id = $1, name = $2, description = $3, repeat_count = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(f.team_id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.repeat_count)
    .bind(now.as_millis())
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if changed {
        sqlx::query("DELETE FROM oa_escalation_levels WHERE policy_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_levels(tx, id, f.levels).await?;
    }
    Ok(changed)
}

async fn insert_levels(
    tx: &mut sqlx::AnyConnection,
    policy_id: i64,
    levels: &[(i64, Vec<Target>)],
) -> sqlx::Result<()> {
    for (position, (delay, targets)) in levels.iter().enumerate() {
        let level_id: i64 = sqlx::query_scalar(
            "INSERT INTO oa_escalation_levels (policy_id, position, delay_minutes) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(policy_id)
        .bind(position as i64)
        .bind(delay)
        .fetch_one(&mut *tx)
        .await?;
        for target in targets {
            let (user, schedule, team) = match *target {
                Target::User(id) => (Some(id), None, None),
                Target::Schedule(id) => (None, Some(id), None),
                Target::Team(id) => (None, None, Some(id)),
            };
            sqlx::query(
                "INSERT INTO oa_escalation_targets (level_id, user_id, schedule_id, team_id) VALUES ($1, $2, $3, $4)",
            )
            .bind(level_id)
            .bind(user)
            .bind(schedule)
            .bind(team)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

pub async fn delete_policy<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM oa_escalation_policies WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

pub async fn list_policies<'c>(
    db: impl Executor<'c>,
    teams: Option<&[i64]>,
) -> sqlx::Result<Vec<Policy>> {
    let rows = sqlx::query_as::<_, PolicyRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM oa_escalation_policies ORDER BY name, id"
    )))
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|r| teams.is_none_or(|t| t.contains(&r.1)))
        .map(policy_from)
        .collect())
}

/// A policy with its levels and targets.
pub async fn policy_by_id(conn: &mut sqlx::AnyConnection, id: i64) -> sqlx::Result<Option<Policy>> {
    let Some(row) = sqlx::query_as::<_, PolicyRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {POLICY_COLUMNS} FROM oa_escalation_policies WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let mut policy = policy_from(row);
    let levels = sqlx::query_as::<_, (i64, i64)>(
        "SELECT id, delay_minutes FROM oa_escalation_levels WHERE policy_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let targets = sqlx::query_as::<_, (i64, Option<i64>, Option<i64>, Option<i64>)>(
        "SELECT t.level_id, t.user_id, t.schedule_id, t.team_id FROM oa_escalation_targets t \
         JOIN oa_escalation_levels l ON l.id = t.level_id WHERE l.policy_id = $1 ORDER BY t.id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    policy.levels = levels
        .into_iter()
        .map(|(level_id, delay_minutes)| Level {
            delay_minutes,
            targets: targets
                .iter()
                .filter(|t| t.0 == level_id)
                .filter_map(|t| match (t.1, t.2, t.3) {
                    (Some(u), _, _) => Some(Target::User(u)),
                    (_, Some(s), _) => Some(Target::Schedule(s)),
                    (_, _, Some(team)) => Some(Target::Team(team)),
                    _ => None,
                })
                .collect(),
        })
        .collect();
    Ok(Some(policy))
}

/// Names of the services using a policy.
pub async fn services_using<'c>(
    db: impl Executor<'c>,
    policy_id: i64,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT name FROM oa_services WHERE escalation_policy_id = $1 ORDER BY name")
        .bind(policy_id)
        .fetch_all(db)
        .await
}

// ---- incident escalation state ----

/// What the engine needs to take an incident's next escalation step.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueEscalation {
    pub incident_id: i64,
    pub number: i64,
    pub title: String,
    pub urgency: String,
    pub team_id: i64,
    pub service_name: String,
    pub policy_id: Option<i64>,
    pub escalation_step: i64,
    pub escalation_level: i64,
    pub escalation_round: i64,
}

/// Triggered incidents whose next escalation step is due.
pub async fn due<'c>(
    db: impl Executor<'c>,
    now: Timestamp,
    limit: i64,
) -> sqlx::Result<Vec<DueEscalation>> {
    sqlx::query_as::<_, DueEscalation>(
        "SELECT i.id AS incident_id, i.number, i.title, i.urgency, s.team_id, s.name AS service_name, \
         s.escalation_policy_id AS policy_id, i.escalation_step, i.escalation_level, i.escalation_round \
         FROM oa_incidents i JOIN oa_services s ON s.id = i.service_id \
         WHERE i.escalation_due_at IS NOT NULL AND i.escalation_due_at <= $1 AND i.status = 'triggered' \
         ORDER BY i.escalation_due_at LIMIT $2",
    )
    .bind(now.as_millis())
    .bind(limit)
    .fetch_all(db)
    .await
}

/// When the earliest pending escalation step is due (epoch milliseconds).
pub async fn next_due<'c>(db: impl Executor<'c>) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT escalation_due_at FROM oa_incidents WHERE escalation_due_at IS NOT NULL AND status = 'triggered' \
         ORDER BY escalation_due_at LIMIT 1",
    )
    .fetch_optional(db)
    .await
}

/// Moves each incident of `ids` still at step `from_step` to the next step and returns the
/// ones it moved: an incident another node (or an acknowledgement) got to first is left out.
/// The caller writes the step's effects for the returned ids only, in the same transaction.
pub async fn advance<'c>(
    db: impl Executor<'c>,
    ids: &[i64],
    from_step: i64,
    level: i64,
    round: i64,
    next_due: Option<Timestamp>,
) -> sqlx::Result<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "UPDATE oa_incidents SET escalation_step = escalation_step + 1, escalation_level = $1, escalation_round = $2, \
         escalation_due_at = $3, peak_escalation_level = CASE WHEN peak_escalation_level < $1 THEN $1 ELSE peak_escalation_level END \
         WHERE id IN ({}) AND escalation_step = $4 AND status = 'triggered' RETURNING id",
        super::id_list(ids)
    )))
    .persistent(false)
    .bind(level)
    .bind(round)
    .bind(next_due.map(Timestamp::as_millis))
    .bind(from_step)
    .fetch_all(db)
    .await
}

/// Restarts escalation at level 1 now (re-trigger) or makes the next level due now
/// ("escalate now"). Bumps the step so a step in flight elsewhere cannot land.
pub async fn schedule_step<'c>(
    db: impl Executor<'c>,
    incident_id: i64,
    restart: bool,
    at: Timestamp,
) -> sqlx::Result<bool> {
    let sql = if restart {
        "UPDATE oa_incidents SET escalation_step = escalation_step + 1, escalation_level = -1, escalation_round = 0, \
         escalation_due_at = $1 WHERE id = $2 AND status = 'triggered'"
    } else {
        "UPDATE oa_incidents SET escalation_step = escalation_step + 1, escalation_due_at = $1 \
         WHERE id = $2 AND status = 'triggered'"
    };
    sqlx::query(sql)
        .bind(at.as_millis())
        .bind(incident_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

/// Users a target stands for at `at`, resolved by the caller for schedules.
pub async fn team_members<'c>(db: impl Executor<'c>, team_id: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT m.user_id FROM team_members m JOIN users u ON u.id = m.user_id \
         WHERE m.team_id = $1 AND u.disabled_at IS NULL ORDER BY m.user_id",
    )
    .bind(team_id)
    .fetch_all(db)
    .await
}
