//! Schedules, overrides, iCalendar feeds and escalation policies: validation, authorization
//! (each belongs to a team: its members see it, its managers and admins change it), audit,
//! and the question the escalation engine asks: who is on call at a given instant?

use keel_platform::audit::{self, Actor};
use keel_platform::authz::{self, TeamScope};
use keel_platform::domain::{Timestamp, Validator};
use keel_platform::http::{ClientMeta, Principal};
use keel_platform::{AppError, AppResult, Platform, crypto};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::domain::schedule::{self as rules, OverrideMode, Restriction, ShiftUnit};
use crate::store::escalation::{self as policy_store, Policy, PolicyFields, Target};
use crate::store::schedules::{
    self as store, LayerFields, Schedule, ScheduleFields, ScheduleOverride,
};

pub const FEED_PURPOSE: &str = "oncall-feed";
/// The longest range a timeline or shift list may span.
pub const MAX_RANGE_DAYS: i64 = 93;

async fn scope_teams(platform: &Platform, principal: &Principal) -> AppResult<Option<Vec<i64>>> {
    Ok(match authz::team_scope(platform, principal).await? {
        TeamScope::All => None,
        TeamScope::Only(ids) => Some(ids),
    })
}

/// Maps "not in that team" to a field error on `team_id`.
async fn require_manage_for_field(
    platform: &Platform,
    principal: &Principal,
    team_id: i64,
) -> AppResult<()> {
    authz::require_team_manage(platform, principal, team_id)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => {
                AppError::field("team_id", "no such team, or you are not in it")
            }
            other => other,
        })
}

fn unique_name(err: sqlx::Error, what: &'static str) -> AppError {
    if keel_platform::db::is_unique_violation(&err) {
        AppError::field(
            "name",
            format!("the team already has a {what} with this name"),
        )
    } else if keel_platform::db::is_foreign_key_violation(&err) {
        AppError::field("team_id", "refers to something that no longer exists")
    } else {
        err.into()
    }
}

/// Which of `ids` are active users.
pub async fn active_users(platform: &Platform, ids: &[i64]) -> AppResult<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM users WHERE id IN ({list}) AND disabled_at IS NULL"
    )))
    .persistent(false)
    .fetch_all(platform.db.pool())
    .await?)
}

/// Which of `ids` may be put on call for a team: active admins and active members of the
/// team (the same rule as assigning an incident), so nobody is paged for incidents they
/// cannot see.
async fn eligible_users(platform: &Platform, team_id: i64, ids: &[i64]) -> AppResult<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT u.id FROM users u WHERE u.id IN ({list}) AND u.disabled_at IS NULL \
         AND (u.role = 'admin' OR EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = $1 AND m.user_id = u.id))"
    )))
    .persistent(false)
    .bind(team_id)
    .fetch_all(platform.db.pool())
    .await?)
}

// ---- schedules ----

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

async fn managed_schedule(
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
async fn computable(
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

// ---- iCalendar feeds ----

/// Issues a new secret feed URL for a schedule (the old one stops working).
pub async fn rotate_schedule_feed(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<String> {
    managed_schedule(platform, principal, id).await?;
    let token = crypto::random_token(32);
    let hash = platform.secret.hash_token(FEED_PURPOSE, &token);
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::set_feed_token(&mut *tx, id, Some(&hash)).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "schedule.feed_rotated",
        ("schedule", &id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(format!(
        "{}/oncall/feeds/schedules/{token}.ics",
        platform.config.base_url()
    ))
}

pub async fn revoke_schedule_feed(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    managed_schedule(platform, principal, id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::set_feed_token(&mut *tx, id, None).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "schedule.feed_revoked",
        ("schedule", &id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Issues (or, with `rotate == false`, revokes) the caller's personal shifts feed.
pub async fn set_personal_feed(
    platform: &Platform,
    principal: &Principal,
    rotate: bool,
) -> AppResult<Option<String>> {
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let url = if rotate {
        let token = crypto::random_token(32);
        let hash = platform.secret.hash_token(FEED_PURPOSE, &token);
        store::set_user_feed(&mut tx, principal.user.id, Some(&hash), now).await?;
        Some(format!(
            "{}/oncall/feeds/users/{token}.ics",
            platform.config.base_url()
        ))
    } else {
        store::set_user_feed(&mut tx, principal.user.id, None, now).await?;
        None
    };
    tx.commit().await?;
    Ok(url)
}

/// The next eight weeks of a schedule's final timeline, or of one person's shifts across
/// every schedule, as iCalendar. `None` when the token is unknown or revoked.
pub async fn feed(platform: &Platform, kind: FeedKind, token: &str) -> AppResult<Option<String>> {
    let hash = platform.secret.hash_token(FEED_PURPOSE, token);
    let now = platform.now();
    let from = Timestamp::from_millis(now.as_millis() - 7 * 86_400_000);
    let to = Timestamp::from_millis(now.as_millis() + 56 * 86_400_000);
    let (schedule_ids, only_user, title) = match kind {
        FeedKind::Schedule => match store::schedule_by_feed(platform.db.pool(), &hash).await? {
            Some(id) => (vec![id], None, None),
            None => return Ok(None),
        },
        FeedKind::User => match store::user_by_feed(platform.db.pool(), &hash).await? {
            Some(user) => (
                store::schedules_of_user(platform.db.pool(), user).await?,
                Some(user),
                Some("My on-call shifts"),
            ),
            None => return Ok(None),
        },
    };
    let names = user_names(platform).await?;
    let mut events = Vec::new();
    let mut calendar_name = title.map(str::to_string);
    for id in schedule_ids {
        let mut conn = platform.db.pool().acquire().await?;
        let Some(schedule) = store::schedule_by_id(&mut conn, id).await? else {
            continue;
        };
        drop(conn);
        calendar_name.get_or_insert_with(|| format!("On call: {}", schedule.name));
        let spans = computable(platform, &schedule, from, to)
            .await?
            .timeline(from.as_millis(), to.as_millis());
        for shift in rules::per_person(&spans) {
            if only_user.is_some_and(|u| u != shift.user_id) {
                continue;
            }
            let who = names
                .iter()
                .find(|(id, _)| *id == shift.user_id)
                .map(|(_, n)| n.as_str())
                .unwrap_or("?");
            events.push(crate::domain::ical::Event {
                uid: format!(
                    "shift-{}-{}-{}@keel",
                    schedule.id, shift.user_id, shift.starts_at
                ),
                summary: format!("On call: {} ({who})", schedule.name),
                starts_at: shift.starts_at,
                ends_at: shift.ends_at,
            });
        }
    }
    Ok(Some(crate::domain::ical::calendar(
        calendar_name.as_deref().unwrap_or("On call"),
        now.as_millis(),
        &events,
    )))
}

#[derive(Debug, Clone, Copy)]
pub enum FeedKind {
    Schedule,
    User,
}

/// Every user's id and name (for labels).
pub async fn user_names(platform: &Platform) -> AppResult<Vec<(i64, String)>> {
    Ok(
        sqlx::query_as("SELECT id, name FROM users ORDER BY name, id")
            .fetch_all(platform.db.pool())
            .await?,
    )
}

// ---- escalation policies ----

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyInput {
    pub team_id: i64,
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Times the whole policy runs again after its last level, 0-9.
    #[serde(default)]
    pub repeat_count: i64,
    /// In order; at least one.
    pub levels: Vec<LevelInput>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LevelInput {
    /// Minutes to wait for an acknowledgement before the next level (1-1440).
    pub delay_minutes: i64,
    pub targets: Vec<Target>,
}

async fn validate_policy(
    platform: &Platform,
    principal: &Principal,
    input: &PolicyInput,
) -> AppResult<Vec<(i64, Vec<Target>)>> {
    let mut v = Validator::new();
    v.check(
        "name",
        keel_platform::domain::bounded_text(&input.name, 100),
    );
    if input.description.chars().count() > 2000 {
        v.add("description", "must be at most 2000 characters");
    }
    if !(0..=9).contains(&input.repeat_count) {
        v.add("repeat_count", "must be between 0 and 9");
    }
    if input.levels.is_empty() || input.levels.len() > 20 {
        v.add("levels", "must have between 1 and 20 levels");
    }
    let users: Vec<i64> = input
        .levels
        .iter()
        .flat_map(|l| l.targets.iter())
        .filter_map(|t| match t {
            Target::User(id) => Some(*id),
            _ => None,
        })
        .collect();
    let active = eligible_users(platform, input.team_id, &users).await?;
    for (i, level) in input.levels.iter().enumerate() {
        if !(1..=1440).contains(&level.delay_minutes) {
            v.add(
                &format!("levels[{i}].delay_minutes"),
                "must be between 1 and 1440",
            );
        }
        if level.targets.is_empty() || level.targets.len() > 20 {
            v.add(
                &format!("levels[{i}].targets"),
                "must list between 1 and 20 targets",
            );
        }
        for (j, target) in level.targets.iter().enumerate() {
            let field = format!("levels[{i}].targets[{j}]");
            let ok = match *target {
                Target::User(id) => active.contains(&id),
                Target::Schedule(id) => visible_schedule(platform, principal, id).await.is_ok(),
                Target::Team(id) => {
                    authz::require_team_read(platform, principal, id)
                        .await
                        .is_ok()
                        && keel_platform::store::teams::team_by_id(platform.db.pool(), id)
                            .await?
                            .is_some()
                }
            };
            if !ok {
                v.add(
                    &field,
                    "no such team member, schedule or team (or you may not see it)",
                );
            }
        }
    }
    v.finish().map_err(AppError::Validation)?;
    Ok(input
        .levels
        .iter()
        .map(|l| (l.delay_minutes, l.targets.clone()))
        .collect())
}

pub async fn list_policies(platform: &Platform, principal: &Principal) -> AppResult<Vec<Policy>> {
    let teams = scope_teams(platform, principal).await?;
    let mut policies = policy_store::list_policies(platform.db.pool(), teams.as_deref()).await?;
    let mut conn = platform.db.pool().acquire().await?;
    for policy in &mut policies {
        if let Some(full) = policy_store::policy_by_id(&mut conn, policy.id).await? {
            policy.levels = full.levels;
        }
    }
    Ok(policies)
}

pub async fn visible_policy(
    platform: &Platform,
    principal: &Principal,
    id: i64,
) -> AppResult<Policy> {
    let mut conn = platform.db.pool().acquire().await?;
    let policy = policy_store::policy_by_id(&mut conn, id)
        .await?
        .ok_or(AppError::NotFound("escalation policy"))?;
    authz::require_team_read(platform, principal, policy.team_id)
        .await
        .map_err(|_| AppError::NotFound("escalation policy"))?;
    Ok(policy)
}

pub async fn create_policy(
    platform: &Platform,
    principal: &Principal,
    input: &PolicyInput,
    meta: &ClientMeta,
) -> AppResult<Policy> {
    save_policy(platform, principal, None, input, meta).await
}

pub async fn update_policy(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    input: &PolicyInput,
    meta: &ClientMeta,
) -> AppResult<Policy> {
    save_policy(platform, principal, Some(id), input, meta).await
}

/// Creates (`id == None`) or replaces a policy and its levels.
async fn save_policy(
    platform: &Platform,
    principal: &Principal,
    id: Option<i64>,
    input: &PolicyInput,
    meta: &ClientMeta,
) -> AppResult<Policy> {
    let current_team = match id {
        Some(id) => {
            let current = visible_policy(platform, principal, id).await?;
            authz::require_team_manage(platform, principal, current.team_id).await?;
            Some(current.team_id)
        }
        None => None,
    };
    let levels = validate_policy(platform, principal, input).await?;
    if current_team != Some(input.team_id) {
        require_manage_for_field(platform, principal, input.team_id).await?;
    }
    let now = platform.now();
    let fields = PolicyFields {
        team_id: input.team_id,
        name: input.name.trim(),
        description: input.description.trim(),
        repeat_count: input.repeat_count,
        levels: &levels,
    };
    let mut tx = platform.db.begin().await?;
    let (id, action) = match id {
        Some(id) => {
            policy_store::update_policy(&mut tx, id, &fields, now)
                .await
                .map_err(|e| unique_name(e, "escalation policy"))?;
            (id, "escalation_policy.updated")
        }
        None => (
            policy_store::insert_policy(&mut tx, &fields, now)
                .await
                .map_err(|e| unique_name(e, "escalation policy"))?,
            "escalation_policy.created",
        ),
    };
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        action,
        ("escalation_policy", &id.to_string()),
        json!({"name": fields.name, "team_id": fields.team_id, "levels": levels.len()}),
    )
    .await?;
    let policy = policy_store::policy_by_id(&mut tx, id)
        .await?
        .ok_or(AppError::NotFound("escalation policy"))?;
    tx.commit().await?;
    Ok(policy)
}

/// Refused while a service still uses the policy, so no service silently stops paging.
pub async fn delete_policy(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    let policy = visible_policy(platform, principal, id).await?;
    authz::require_team_manage(platform, principal, policy.team_id).await?;
    let users = policy_store::services_using(platform.db.pool(), id).await?;
    if !users.is_empty() {
        return Err(AppError::Conflict(format!(
            "the policy is used by {}; point them at another policy first",
            users.join(", ")
        )));
    }
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    policy_store::delete_policy(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "escalation_policy.deleted",
        ("escalation_policy", &id.to_string()),
        json!({"name": policy.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
