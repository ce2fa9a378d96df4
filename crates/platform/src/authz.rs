//! Authorization: the one place that decides who may see or change what. Handlers call these
//! before touching data. Objects a caller may not see are reported as missing (404), so
//! their existence does not leak; objects they may see but not change give 403.

use crate::domain::{OrgRole, TeamRole};
use crate::error::{AppError, AppResult};
use crate::identity::Principal;
use crate::state::Platform;
use crate::store;

pub fn require_admin(principal: &Principal) -> AppResult<()> {
    if principal.user.role == OrgRole::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden("only organisation admins may do this"))
    }
}

/// The teams whose private data the caller may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TeamScope {
    All,
    Only(Vec<i64>),
}

impl TeamScope {
    pub fn includes(&self, team_id: i64) -> bool {
        match self {
            Self::All => true,
            Self::Only(ids) => ids.contains(&team_id),
        }
    }

    /// The teams to filter a query by; `None` for no filter.
    pub fn teams(&self) -> Option<&[i64]> {
        match self {
            Self::All => None,
            Self::Only(ids) => Some(ids.as_slice()),
        }
    }
}

pub async fn team_scope(platform: &Platform, principal: &Principal) -> AppResult<TeamScope> {
    if principal.user.role == OrgRole::Admin {
        return Ok(TeamScope::All);
    }
    Ok(TeamScope::Only(
        store::teams::team_ids_of_user(platform.db.pool(), principal.user.id).await?,
    ))
}

/// Admins reach every team, but only teams that exist: a deleted team's id is 404 to them
/// too, so nothing new is filed under it.
async fn require_team_exists(platform: &Platform, team_id: i64) -> AppResult<()> {
    match store::teams::team_by_id(platform.db.pool(), team_id).await? {
        Some(_) => Ok(()),
        None => Err(AppError::NotFound("team")),
    }
}

/// The caller may see the team (a member, or an admin).
pub async fn require_team_read(
    platform: &Platform,
    principal: &Principal,
    team_id: i64,
) -> AppResult<()> {
    if principal.user.role == OrgRole::Admin {
        return require_team_exists(platform, team_id).await;
    }
    match store::teams::member_role(platform.db.pool(), team_id, principal.user.id).await? {
        Some(_) => Ok(()),
        None => Err(AppError::NotFound("team")),
    }
}

/// The caller may change the team (a manager of it, or an admin).
pub async fn require_team_manage(
    platform: &Platform,
    principal: &Principal,
    team_id: i64,
) -> AppResult<()> {
    if principal.user.role == OrgRole::Admin {
        return require_team_exists(platform, team_id).await;
    }
    match store::teams::member_role(platform.db.pool(), team_id, principal.user.id).await? {
        Some(TeamRole::Manager) => Ok(()),
        Some(TeamRole::Member) => Err(AppError::Forbidden("only the team's managers may do this")),
        None => Err(AppError::NotFound("team")),
    }
}
