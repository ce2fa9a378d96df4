//! Schedules, overrides, iCalendar feeds and escalation policies: validation, authorization
//! (each belongs to a team: its members see it, its managers and admins change it), audit,
//! and the question the escalation engine asks: who is on call at a given instant?

mod feeds;
mod policies;
mod schedules;

use keel_platform::authz::{self, TeamScope};
use keel_platform::identity::Principal;
use keel_platform::{AppError, AppResult, Platform};

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

pub use feeds::*;
pub use policies::*;
pub use schedules::*;
