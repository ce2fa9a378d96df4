//! Teams.

use serde_json::json;

use crate::audit::{self, Actor};
use crate::authz;
use crate::domain::{Email, TeamName, TeamRole, Validator};
use crate::error::{AppError, AppResult};
use crate::identity::{ClientMeta, Principal};
use crate::state::Platform;
use crate::store;
use crate::store::accounts::User;
use crate::store::teams::{Team, TeamMember};

pub async fn create_team(
    platform: &Platform,
    principal: &Principal,
    name: &str,
    description: &str,
    meta: &ClientMeta,
) -> AppResult<Team> {
    authz::require_admin(principal)?;
    let mut v = Validator::new();
    let name = v.check("name", TeamName::parse(name));
    if description.chars().count() > 2000 {
        v.add("description", "must be at most 2000 characters");
    }
    v.finish().map_err(AppError::Validation)?;
    let name = name.unwrap();
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let team = store::teams::insert_team(&mut *tx, name.as_str(), description.trim(), now)
        .await
        .map_err(team_name_conflict)?;
    // Whoever creates a team manages it: it has someone to ask from its first minute.
    store::teams::upsert_member(&mut *tx, team.id, principal.user.id, TeamRole::Manager, now)
        .await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "team.created",
        ("team", &team.id.to_string()),
        json!({"name": team.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(team)
}

fn team_name_conflict(err: sqlx::Error) -> AppError {
    if crate::db::is_unique_violation(&err) {
        AppError::field("name", "another team already has this name")
    } else {
        err.into()
    }
}

pub async fn list_teams(platform: &Platform, principal: &Principal) -> AppResult<Vec<Team>> {
    Ok(match authz::team_scope(platform, principal).await? {
        authz::TeamScope::All => store::teams::list_all_teams(platform.db.pool()).await?,
        authz::TeamScope::Only(_) => {
            store::teams::list_teams_of_user(platform.db.pool(), principal.user.id).await?
        }
    })
}

pub async fn get_team(platform: &Platform, principal: &Principal, team_id: i64) -> AppResult<Team> {
    authz::require_team_read(platform, principal, team_id).await?;
    store::teams::team_by_id(platform.db.pool(), team_id)
        .await?
        .ok_or(AppError::NotFound("team"))
}

pub async fn update_team(
    platform: &Platform,
    principal: &Principal,
    team_id: i64,
    name: Option<&str>,
    description: Option<&str>,
    meta: &ClientMeta,
) -> AppResult<Team> {
    authz::require_team_manage(platform, principal, team_id).await?;
    let mut v = Validator::new();
    let name = name.and_then(|n| v.check("name", TeamName::parse(n)));
    if description.is_some_and(|d| d.chars().count() > 2000) {
        v.add("description", "must be at most 2000 characters");
    }
    v.finish().map_err(AppError::Validation)?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let team = store::teams::update_team(
        &mut *tx,
        team_id,
        name.as_ref().map(TeamName::as_str),
        description.map(str::trim),
        now,
    )
    .await
    .map_err(team_name_conflict)?
    .ok_or(AppError::NotFound("team"))?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "team.updated",
        ("team", &team_id.to_string()),
        json!({"name": team.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(team)
}

pub async fn delete_team(
    platform: &Platform,
    principal: &Principal,
    team_id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    authz::require_admin(principal)?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let team = store::teams::team_by_id(&mut *tx, team_id)
        .await?
        .ok_or(AppError::NotFound("team"))?;
    store::teams::delete_team(&mut *tx, team_id).await.map_err(|e| {
        if crate::db::is_foreign_key_violation(&e) {
            AppError::Conflict("the team still owns other objects (services, schedules); move or delete them first".into())
        } else {
            e.into()
        }
    })?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "team.deleted",
        ("team", &team_id.to_string()),
        json!({"name": team.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The team's members with working accounts, for mail the server sends on its own (no caller
/// to authorize: only scheduled work uses it).
pub async fn active_team_members(platform: &Platform, team_id: i64) -> AppResult<Vec<User>> {
    Ok(store::accounts::active_team_members(platform.db.pool(), team_id).await?)
}

pub async fn list_members(
    platform: &Platform,
    principal: &Principal,
    team_id: i64,
) -> AppResult<Vec<TeamMember>> {
    // The team itself first: admins may read any team, but not one that is gone.
    get_team(platform, principal, team_id).await?;
    Ok(store::teams::list_members(platform.db.pool(), team_id).await?)
}

/// Adds a member (by user id or e-mail) or changes their role.
pub async fn put_member(
    platform: &Platform,
    principal: &Principal,
    team_id: i64,
    user: MemberRef<'_>,
    role: &str,
    meta: &ClientMeta,
) -> AppResult<TeamMember> {
    authz::require_team_manage(platform, principal, team_id).await?;
    // Admins may manage any team id: an unknown one is not found, not a failed insert.
    store::teams::team_by_id(platform.db.pool(), team_id)
        .await?
        .ok_or(AppError::NotFound("team"))?;
    let role = TeamRole::parse(role).map_err(|m| AppError::field("role", m))?;
    let user = match user {
        MemberRef::Id(id) => store::accounts::user_by_id(platform.db.pool(), id).await?,
        MemberRef::Email(email) => {
            let email = Email::parse(email).map_err(|m| AppError::field("email", m))?;
            store::accounts::user_with_password(platform.db.pool(), email.as_str())
                .await?
                .map(|(u, _)| u)
        }
    }
    .ok_or_else(|| AppError::field("user", "no such user"))?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::teams::upsert_member(&mut *tx, team_id, user.id, role, now).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "team.member_set",
        ("team", &team_id.to_string()),
        json!({"user_id": user.id, "role": role.as_str()}),
    )
    .await?;
    tx.commit().await?;
    Ok(TeamMember {
        user_id: user.id,
        email: user.email,
        name: user.name,
        role,
        added_at: now,
    })
}

pub enum MemberRef<'a> {
    Id(i64),
    Email(&'a str),
}

pub async fn remove_member(
    platform: &Platform,
    principal: &Principal,
    team_id: i64,
    user_id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    authz::require_team_manage(platform, principal, team_id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    if !store::teams::remove_member(&mut *tx, team_id, user_id).await? {
        return Err(AppError::NotFound("team member"));
    }
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "team.member_removed",
        ("team", &team_id.to_string()),
        json!({"user_id": user_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
