//! Schedules.

use keel_platform::audit::{self, Actor};
use keel_platform::authz;
use keel_platform::domain::{Timestamp, Validator};
use keel_platform::identity::{ClientMeta, Principal};
use keel_platform::{AppError, AppResult, Platform};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::schedule::{self as rules, OverrideMode, Restriction, ShiftUnit};
use crate::store::schedules::{
    self as store, LayerFields, Schedule, ScheduleFields, ScheduleOverride,
};

use super::*;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleInput {
    pub team_id: i64,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// IANA time zone, e.g. `Europe/Berlin`.
    pub time_zone: String,
    /// Bottom to top; at least one.
    pub layers: Vec<LayerInput>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayerInput {
    #[serde(default)]
    pub name: String,
    /// `hours`, `days` or `weeks`.
    pub shift_unit: String,
    pub shift_length: i64,
    /// First handoff in local time, e.g. `2026-01-05T09:00`; later handoffs keep its time of day.
    pub starts_local: String,
    /// User ids in rotation order.
    pub participants: Vec<i64>,
    #[serde(default)]
    pub restrictions: Vec<Restriction>,
}

async fn validate_schedule(
    platform: &Platform,
    input: &ScheduleInput,
) -> AppResult<Vec<LayerFields>> {
    let mut v = Validator::new();
    v.check(
        "name",
        keel_platform::domain::bounded_text(&input.name, 100),
    );
    if input.description.chars().count() > 2000 {
        v.add("description", "must be at most 2000 characters");
    }
    v.check("time_zone", rules::time_zone(&input.time_zone));
    if input.layers.is_empty() || input.layers.len() > 10 {
        v.add("layers", "must have between 1 and 10 layers");
    }
    let all_users: Vec<i64> = input
        .layers
        .iter()
        .flat_map(|l| l.participants.clone())
        .collect();
    let active = eligible_users(platform, input.team_id, &all_users).await?;
    let mut layers = Vec::new();
    for (i, layer) in input.layers.iter().enumerate() {
        let field = |name: &str| format!("layers[{i}].{name}");
        let unit = v.check(&field("shift_unit"), ShiftUnit::parse(&layer.shift_unit));
        let max = match unit {
            Some(ShiftUnit::Hours) => 24 * 90,
            Some(ShiftUnit::Days) => 90,
            _ => 13,
        };
        if !(1..=max).contains(&layer.shift_length) {
            v.add(
                &field("shift_length"),
                format!("must be between 1 and {max}"),
            );
        }
        let starts = v.check(
            &field("starts_local"),
            rules::parse_local(&layer.starts_local),
        );
        if layer.participants.is_empty() || layer.participants.len() > 100 {
            v.add(&field("participants"), "must list between 1 and 100 users");
        } else if let Some(missing) = layer.participants.iter().find(|id| !active.contains(id)) {
            v.add(
                &field("participants"),
                format!("user {missing} is not an active member of the team"),
            );
        }
        if layer.restrictions.len() > 14 {
            v.add(&field("restrictions"), "at most 14 windows");
        }
        for (j, restriction) in layer.restrictions.iter().enumerate() {
            v.check(
                &format!("layers[{i}].restrictions[{j}]"),
                restriction.validate(),
            );
        }
        if layer.name.chars().count() > 100 {
            v.add(&field("name"), "must be at most 100 characters");
        } else if layer.name.chars().any(char::is_control) {
            v.add(&field("name"), "must not contain control characters");
        }
        if let (Some(unit), Some(starts)) = (unit, starts) {
            layers.push(LayerFields {
                name: match layer.name.trim() {
                    "" => format!("Layer {}", i + 1),
                    name => name.to_string(),
                },
                shift_unit: unit,
                shift_length: layer.shift_length,
                starts_local: starts.strftime("%Y-%m-%dT%H:%M").to_string(),
                participants: layer.participants.clone(),
                restrictions: layer.restrictions.clone(),
            });
        }
    }
    v.finish().map_err(AppError::Validation)?;
    Ok(layers)
}

pub async fn list_schedules(
    platform: &Platform,
    principal: &Principal,
) -> AppResult<Vec<Schedule>> {
    let teams = scope_teams(platform, principal).await?;
    Ok(store::list_schedules(platform.db.pool(), teams.as_deref()).await?)
}

/// The schedule with its layers, if the caller may see it (404 otherwise).
pub async fn visible_schedule(
    platform: &Platform,
    principal: &Principal,
    id: i64,
) -> AppResult<Schedule> {
    let mut conn = platform.db.pool().acquire().await?;
    let schedule = store::schedule_by_id(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("schedule"))?;
    authz::require_team_read(platform, principal, schedule.team_id)
        .await
        .map_err(|_| AppError::NotFound("schedule"))?;
    Ok(schedule)
}

pub(super) async fn managed_schedule(
    platform: &Platform,
    principal: &Principal,
    id: i64,
) -> AppResult<Schedule> {
    let schedule = visible_schedule(platform, principal, id).await?;
    authz::require_team_manage(platform, principal, schedule.team_id).await?;
    Ok(schedule)
}

pub async fn create_schedule(
    platform: &Platform,
    principal: &Principal,
    input: &ScheduleInput,
    meta: &ClientMeta,
) -> AppResult<Schedule> {
    save_schedule(platform, principal, None, input, meta).await
}

pub async fn update_schedule(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    input: &ScheduleInput,
    meta: &ClientMeta,
) -> AppResult<Schedule> {
    save_schedule(platform, principal, Some(id), input, meta).await
}

/// Creates (`id == None`) or replaces a schedule and its layers.
async fn save_schedule(
    platform: &Platform,
    principal: &Principal,
    id: Option<i64>,
    input: &ScheduleInput,
    meta: &ClientMeta,
) -> AppResult<Schedule> {
    let current_team = match id {
        Some(id) => Some(managed_schedule(platform, principal, id).await?.team_id),
        None => None,
    };
    let layers = validate_schedule(platform, input).await?;
    if current_team != Some(input.team_id) {
        require_manage_for_field(platform, principal, input.team_id).await?;
    }
    let now = platform.now();
    let fields = ScheduleFields {
        team_id: input.team_id,
        name: input.name.trim(),
        description: input.description.trim(),
        time_zone: input.time_zone.trim(),
        layers: &layers,
    };
    let mut tx = platform.db.begin().await?;
    let (id, action) = match id {
        Some(id) => {
            store::update_schedule(&mut tx, id, &fields, now)
                .await
                .map_err(|e| unique_name(e, "schedule"))?;
            (id, "schedule.updated")
        }
        None => (
            store::insert_schedule(&mut tx, &fields, now)
                .await
                .map_err(|e| unique_name(e, "schedule"))?,
            "schedule.created",
        ),
    };
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        action,
        ("schedule", &id.to_string()),
        json!({"name": fields.name, "team_id": fields.team_id, "layers": layers.len()}),
    )
    .await?;
    let schedule = store::schedule_by_id(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound("schedule"))?;
    tx.commit().await?;
    Ok(schedule)
}

pub async fn delete_schedule(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    let schedule = managed_schedule(platform, principal, id).await?;
    // Like policies in use by services: a level must not silently lose its only target.
    let used_by: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT p.name FROM oa_escalation_targets t JOIN oa_escalation_levels l ON l.id = t.level_id \
         JOIN oa_escalation_policies p ON p.id = l.policy_id WHERE t.schedule_id = $1 ORDER BY p.name",
    )
    .bind(id)
    .fetch_all(platform.db.pool())
    .await?;
    if !used_by.is_empty() {
        return Err(AppError::Conflict(format!(
            "the escalation policies {} page this schedule; change them first",
            used_by.join(", ")
        )));
    }
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::delete_schedule(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "schedule.deleted",
        ("schedule", &id.to_string()),
        json!({"name": schedule.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The computable form of a stored schedule with its overrides over `[from, to)`.
pub(super) async fn computable(
    platform: &Platform,
    schedule: &Schedule,
    from: Timestamp,
    to: Timestamp,
) -> AppResult<rules::Schedule> {
    let overrides = store::overrides_between(platform.db.pool(), schedule.id, from, to).await?;
    Ok(to_rules(schedule, &overrides))
}

fn to_rules(schedule: &Schedule, overrides: &[ScheduleOverride]) -> rules::Schedule {
    rules::Schedule {
        time_zone: rules::time_zone(&schedule.time_zone).unwrap_or(jiff::tz::TimeZone::UTC),
        layers: schedule
            .layers
            .iter()
            .filter_map(|l| {
                Some(rules::Rotation {
                    unit: l.shift_unit,
                    length: l.shift_length,
                    start: rules::parse_local(&l.starts_local).ok()?,
                    participants: l.participants.clone(),
                    restrictions: l.restrictions.clone(),
                })
            })
            .collect(),
        overrides: overrides
            .iter()
            .map(|o| rules::Override {
                user_id: o.user_id,
                starts_at: o.starts_at.as_millis(),
                ends_at: o.ends_at.as_millis(),
                mode: o.mode,
            })
            .collect(),
    }
}

/// Who is on call in a schedule at `at` (no authorization: the engine's question).
pub async fn on_call_at(
    platform: &Platform,
    schedule_id: i64,
    at: Timestamp,
) -> AppResult<Vec<i64>> {
    let mut conn = platform.db.pool().acquire().await?;
    let Some(schedule) = store::schedule_by_id(&mut conn, schedule_id).await? else {
        return Ok(Vec::new());
    };
    drop(conn);
    let end = Timestamp::from_millis(at.as_millis() + 1);
    Ok(computable(platform, &schedule, at, end)
        .await?
        .on_call(at.as_millis()))
}

/// The final timeline of a schedule over a range the caller may see.
pub async fn timeline(
    platform: &Platform,
    schedule: &Schedule,
    from: Timestamp,
    to: Timestamp,
) -> AppResult<Vec<rules::OnCallSpan>> {
    check_range(from, to)?;
    Ok(computable(platform, schedule, from, to)
        .await?
        .timeline(from.as_millis(), to.as_millis()))
}

/// Each layer's own shifts (before layering and overrides), for the timeline picture.
pub fn layer_shifts(schedule: &Schedule, from: Timestamp, to: Timestamp) -> Vec<Vec<rules::Shift>> {
    let rules = to_rules(schedule, &[]);
    rules
        .layers
        .iter()
        .map(|l| l.layer_shifts(&rules.time_zone, from.as_millis(), to.as_millis()))
        .collect()
}

pub fn check_range(from: Timestamp, to: Timestamp) -> AppResult<()> {
    if to <= from {
        return Err(AppError::field("to", "must be after from"));
    }
    if to.as_millis() - from.as_millis() > MAX_RANGE_DAYS * 86_400_000 {
        return Err(AppError::field(
            "to",
            format!("the range may span at most {MAX_RANGE_DAYS} days"),
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideInput {
    pub user_id: i64,
    /// `replace` (default: takes over from whoever is on call) or `add`.
    #[serde(default)]
    pub mode: Option<String>,
    /// RFC 3339.
    pub starts_at: String,
    pub ends_at: String,
}

/// Any member of the schedule's team may put someone (usually themselves) on call.
pub async fn create_override(
    platform: &Platform,
    principal: &Principal,
    schedule_id: i64,
    input: &OverrideInput,
    meta: &ClientMeta,
) -> AppResult<ScheduleOverride> {
    let schedule = visible_schedule(platform, principal, schedule_id).await?;
    let mut v = Validator::new();
    let mode = v.check(
        "mode",
        OverrideMode::parse(input.mode.as_deref().unwrap_or("replace")),
    );
    let starts = v.check("starts_at", Timestamp::parse_rfc3339(&input.starts_at));
    let ends = v.check("ends_at", Timestamp::parse_rfc3339(&input.ends_at));
    if let (Some(s), Some(e)) = (starts, ends) {
        if e <= s {
            v.add("ends_at", "must be after starts_at");
        } else if e.as_millis() - s.as_millis() > 366 * 86_400_000 {
            v.add("ends_at", "an override may last at most a year");
        }
    }
    if eligible_users(platform, schedule.team_id, &[input.user_id])
        .await?
        .is_empty()
    {
        v.add("user_id", "not an active member of the schedule's team");
    }
    v.finish().map_err(AppError::Validation)?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let created = store::insert_override(
        &mut *tx,
        &store::NewOverride {
            schedule_id,
            user_id: input.user_id,
            mode: mode.expect("validated"),
            starts_at: starts.expect("validated"),
            ends_at: ends.expect("validated"),
            created_by: principal.user.id,
        },
        now,
    )
    .await?;
    audit::record(&mut *tx, now, &Actor::user(principal, meta), "schedule.override_created", ("schedule", &schedule_id.to_string()), json!({"user_id": created.user_id, "starts_at": created.starts_at, "ends_at": created.ends_at, "mode": created.mode})).await?;
    tx.commit().await?;
    Ok(created)
}

pub async fn list_overrides(
    platform: &Platform,
    principal: &Principal,
    schedule_id: i64,
    from: Timestamp,
    to: Timestamp,
) -> AppResult<Vec<ScheduleOverride>> {
    visible_schedule(platform, principal, schedule_id).await?;
    Ok(store::overrides_between(platform.db.pool(), schedule_id, from, to).await?)
}

/// The override's creator, the person it puts on call, or a manager may remove it.
pub async fn delete_override(
    platform: &Platform,
    principal: &Principal,
    schedule_id: i64,
    override_id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    let schedule = visible_schedule(platform, principal, schedule_id).await?;
    let far = Timestamp::from_millis(i64::MAX / 2);
    let found = store::overrides_between(
        platform.db.pool(),
        schedule_id,
        Timestamp::from_millis(0),
        far,
    )
    .await?
    .into_iter()
    .find(|o| o.id == override_id)
    .ok_or(AppError::NotFound("override"))?;
    let own = found.created_by == Some(principal.user.id) || found.user_id == principal.user.id;
    if !own {
        authz::require_team_manage(platform, principal, schedule.team_id).await?;
    }
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::delete_override(&mut *tx, schedule_id, override_id).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "schedule.override_deleted",
        ("schedule", &schedule_id.to_string()),
        json!({"override_id": override_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A schedule's name, for labels (escalation targets); `None` once it is deleted.
pub async fn schedule_name(platform: &Platform, id: i64) -> AppResult<Option<String>> {
    let mut conn = platform.db.pool().acquire().await?;
    Ok(crate::store::schedules::schedule_by_id(&mut conn, id)
        .await?
        .map(|s| s.name))
}
