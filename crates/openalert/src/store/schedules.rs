//! Schedules, their layers (rotations) with participants, overrides and iCalendar feed tokens.

use keel_platform::domain::Timestamp;
use serde::Serialize;
use sqlx::FromRow;

use super::Executor;
use crate::domain::schedule::{OverrideMode, Restriction, ShiftUnit};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Schedule {
    pub id: i64,
    pub team_id: i64,
    pub name: String,
    pub description: String,
    /// IANA time zone the rotations' local times are in.
    pub time_zone: String,
    /// Bottom to top: a higher layer overrides the ones below it where it has someone.
    pub layers: Vec<Layer>,
    /// Whether a secret iCalendar feed URL exists.
    pub has_feed: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Layer {
    pub id: i64,
    pub name: String,
    pub shift_unit: ShiftUnit,
    pub shift_length: i64,
    /// First handoff in the schedule's local time, `YYYY-MM-DDTHH:MM`.
    pub starts_local: String,
    /// User ids in rotation order.
    pub participants: Vec<i64>,
    pub restrictions: Vec<Restriction>,
}

#[derive(FromRow)]
struct ScheduleRow {
    id: i64,
    team_id: i64,
    name: String,
    description: String,
    time_zone: String,
    has_feed: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<ScheduleRow> for Schedule {
    fn from(r: ScheduleRow) -> Self {
        Self {
            id: r.id,
            team_id: r.team_id,
            name: r.name,
            description: r.description,
            time_zone: r.time_zone,
            layers: Vec::new(),
            has_feed: r.has_feed != 0,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        }
    }
}

const SCHEDULE_COLUMNS: &str = "id, team_id, name, description, time_zone, \
    CASE WHEN feed_token_hash IS NULL THEN 0 ELSE 1 END AS has_feed, created_at, updated_at";

/// A schedule's editable fields; layers are replaced as a whole.
pub struct ScheduleFields<'a> {
    pub team_id: i64,
    pub name: &'a str,
    pub description: &'a str,
    pub time_zone: &'a str,
    pub layers: &'a [LayerFields],
}

pub struct LayerFields {
    pub name: String,
    pub shift_unit: ShiftUnit,
    pub shift_length: i64,
    pub starts_local: String,
    pub participants: Vec<i64>,
    pub restrictions: Vec<Restriction>,
}

pub async fn insert_schedule(
    tx: &mut sqlx::AnyConnection,
    f: &ScheduleFields<'_>,
    now: Timestamp,
) -> sqlx::Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO oa_schedules (team_id, name, description, time_zone, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
    )
    .bind(f.team_id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.time_zone)
    .bind(now.as_millis())
    .fetch_one(&mut *tx)
    .await?;
    insert_layers(tx, id, f.layers).await?;
    Ok(id)
}

pub async fn update_schedule(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    f: &ScheduleFields<'_>,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let changed = sqlx::query(
        "UPDATE oa_schedules SET team_id = $1, name = $2, description = $3, time_zone = $4, updated_at = $5 WHERE id = $6",
    )
    .bind(f.team_id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.time_zone)
    .bind(now.as_millis())
    .bind(id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if changed {
        sqlx::query("DELETE FROM oa_schedule_layers WHERE schedule_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        insert_layers(tx, id, f.layers).await?;
    }
    Ok(changed)
}

async fn insert_layers(
    tx: &mut sqlx::AnyConnection,
    schedule_id: i64,
    layers: &[LayerFields],
) -> sqlx::Result<()> {
    for (position, layer) in layers.iter().enumerate() {
        let restrictions = serde_json::to_string(&layer.restrictions)
            .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        let layer_id: i64 = sqlx::query_scalar(
            "INSERT INTO oa_schedule_layers (schedule_id, position, name, shift_unit, shift_length, starts_local, restrictions) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(schedule_id)
        .bind(position as i64)
        .bind(&layer.name)
        .bind(layer.shift_unit.as_str())
        .bind(layer.shift_length)
        .bind(&layer.starts_local)
        .bind(restrictions)
        .fetch_one(&mut *tx)
        .await?;
        for (slot, user_id) in layer.participants.iter().enumerate() {
            sqlx::query(
                "INSERT INTO oa_layer_participants (layer_id, position, user_id) VALUES ($1, $2, $3)",
            )
            .bind(layer_id)
            .bind(slot as i64)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok(())
}

pub async fn delete_schedule<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM oa_schedules WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

/// Schedules of the given teams (`None`: all), without layers, by name.
pub async fn list_schedules<'c>(
    db: impl Executor<'c>,
    teams: Option<&[i64]>,
) -> sqlx::Result<Vec<Schedule>> {
    let rows = sqlx::query_as::<_, ScheduleRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEDULE_COLUMNS} FROM oa_schedules ORDER BY name, id"
    )))
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .filter(|r| teams.is_none_or(|t| t.contains(&r.team_id)))
        .map(Schedule::from)
        .collect())
}

/// A schedule with its layers.
pub async fn schedule_by_id(
    conn: &mut sqlx::AnyConnection,
    id: i64,
) -> sqlx::Result<Option<Schedule>> {
    let Some(row) = sqlx::query_as::<_, ScheduleRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEDULE_COLUMNS} FROM oa_schedules WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let mut schedule = Schedule::from(row);
    let layers = sqlx::query_as::<_, (i64, String, String, i64, String, String)>(
        "SELECT id, name, shift_unit, shift_length, starts_local, restrictions FROM oa_schedule_layers \
         WHERE schedule_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let participants = sqlx::query_as::<_, (i64, i64)>(
        "SELECT p.layer_id, p.user_id FROM oa_layer_participants p JOIN oa_schedule_layers l ON l.id = p.layer_id \
         WHERE l.schedule_id = $1 ORDER BY p.layer_id, p.position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    schedule.layers = layers
        .into_iter()
        .map(
            |(layer_id, name, unit, length, starts_local, restrictions)| Layer {
                id: layer_id,
                name,
                shift_unit: ShiftUnit::parse(&unit).unwrap_or(ShiftUnit::Weeks),
                shift_length: length,
                starts_local,
                participants: participants
                    .iter()
                    .filter(|(l, _)| *l == layer_id)
                    .map(|(_, u)| *u)
                    .collect(),
                restrictions: serde_json::from_str(&restrictions).unwrap_or_default(),
            },
        )
        .collect();
    Ok(Some(schedule))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScheduleOverride {
    pub id: i64,
    pub schedule_id: i64,
    pub user_id: i64,
    pub mode: OverrideMode,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: Option<i64>,
    pub created_at: Timestamp,
}

type OverrideRow = (i64, i64, i64, String, i64, i64, Option<i64>, i64);

fn override_from(r: OverrideRow) -> ScheduleOverride {
    ScheduleOverride {
        id: r.0,
        schedule_id: r.1,
        user_id: r.2,
        mode: OverrideMode::parse(&r.3).unwrap_or(OverrideMode::Replace),
        starts_at: Timestamp::from_millis(r.4),
        ends_at: Timestamp::from_millis(r.5),
        created_by: r.6,
        created_at: Timestamp::from_millis(r.7),
    }
}

const OVERRIDE_COLUMNS: &str =
    "id, schedule_id, user_id, mode, starts_at, ends_at, created_by, created_at";

pub struct NewOverride {
    pub schedule_id: i64,
    pub user_id: i64,
    pub mode: OverrideMode,
    pub starts_at: Timestamp,
    pub ends_at: Timestamp,
    pub created_by: i64,
}

pub async fn insert_override<'c>(
    db: impl Executor<'c>,
    o: &NewOverride,
    now: Timestamp,
) -> sqlx::Result<ScheduleOverride> {
    sqlx::query_as::<_, OverrideRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO oa_schedule_overrides (schedule_id, user_id, mode, starts_at, ends_at, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {OVERRIDE_COLUMNS}"
    )))
    .bind(o.schedule_id)
    .bind(o.user_id)
    .bind(o.mode.as_str())
    .bind(o.starts_at.as_millis())
    .bind(o.ends_at.as_millis())
    .bind(o.created_by)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
    .map(override_from)
}

/// Overrides of a schedule overlapping `[from, to)`.
pub async fn overrides_between<'c>(
    db: impl Executor<'c>,
    schedule_id: i64,
    from: Timestamp,
    to: Timestamp,
) -> sqlx::Result<Vec<ScheduleOverride>> {
    sqlx::query_as::<_, OverrideRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {OVERRIDE_COLUMNS} FROM oa_schedule_overrides \
         WHERE schedule_id = $1 AND ends_at > $2 AND starts_at < $3 ORDER BY starts_at, id"
    )))
    .bind(schedule_id)
    .bind(from.as_millis())
    .bind(to.as_millis())
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(override_from).collect())
}

pub async fn delete_override<'c>(
    db: impl Executor<'c>,
    schedule_id: i64,
    id: i64,
) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM oa_schedule_overrides WHERE id = $1 AND schedule_id = $2")
        .bind(id)
        .bind(schedule_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

/// Schedule ids a user takes part in (a layer or an override).
pub async fn schedules_of_user<'c>(db: impl Executor<'c>, user_id: i64) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT l.schedule_id FROM oa_layer_participants p JOIN oa_schedule_layers l ON l.id = p.layer_id WHERE p.user_id = $1 \
         UNION SELECT schedule_id FROM oa_schedule_overrides WHERE user_id = $1",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

pub async fn set_feed_token<'c>(
    db: impl Executor<'c>,
    schedule_id: i64,
    token_hash: Option<&str>,
) -> sqlx::Result<bool> {
    sqlx::query("UPDATE oa_schedules SET feed_token_hash = $1 WHERE id = $2")
        .bind(token_hash)
        .bind(schedule_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

pub async fn schedule_by_feed<'c>(
    db: impl Executor<'c>,
    token_hash: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM oa_schedules WHERE feed_token_hash = $1")
        .bind(token_hash)
        .fetch_optional(db)
        .await
}

pub async fn set_user_feed(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    token_hash: Option<&str>,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM oa_feed_tokens WHERE user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    if let Some(hash) = token_hash {
        sqlx::query(
            "INSERT INTO oa_feed_tokens (user_id, token_hash, created_at) VALUES ($1, $2, $3)",
        )
        .bind(user_id)
        .bind(hash)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

pub async fn user_by_feed<'c>(
    db: impl Executor<'c>,
    token_hash: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT user_id FROM oa_feed_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(db)
        .await
}
