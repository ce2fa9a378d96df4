//! Escalation policies.

use keel_platform::audit::{self, Actor};
use keel_platform::authz;
use keel_platform::domain::Validator;
use keel_platform::identity::{ClientMeta, Principal};
use keel_platform::{AppError, AppResult, Platform};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::store::escalation::{self as policy_store, Policy, PolicyFields, Target};

use super::*;

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

/// The policies the caller can see, without their levels: for naming them.
pub async fn policy_names(
    platform: &Platform,
    principal: &Principal,
) -> AppResult<Vec<(i64, String)>> {
    let teams = scope_teams(platform, principal).await?;
    Ok(
        policy_store::list_policies(platform.db.pool(), teams.as_deref())
            .await?
            .into_iter()
            .map(|p| (p.id, p.name))
            .collect(),
    )
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
