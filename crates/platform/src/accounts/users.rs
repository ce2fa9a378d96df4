//! User administration.

use serde_json::json;

use crate::audit::{self, Actor};
use crate::authz;
use crate::crypto;
use crate::domain::{DisplayName, Email, OrgRole, Password, Validator};
use crate::error::{AppError, AppResult};
use crate::identity::{ClientMeta, Principal};
use crate::state::Platform;
use crate::store;
use crate::store::accounts::{User, UserChanges};

use super::*;

pub struct InviteUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub role: &'a str,
    /// Without a password the user is e-mailed a link to choose one.
    pub password: Option<&'a str>,
}

pub async fn admin_create_user(
    platform: &Platform,
    principal: &Principal,
    input: InviteUser<'_>,
    meta: &ClientMeta,
) -> AppResult<User> {
    authz::require_admin(principal)?;
    let mut v = Validator::new();
    let email = v.check("email", Email::parse(input.email));
    let name = v.check("name", DisplayName::parse(input.name));
    let role = v.check("role", OrgRole::parse(input.role));
    let password = match input.password {
        Some(p) => v.check("password", Password::parse(p)),
        None => None,
    };
    v.finish().map_err(AppError::Validation)?;
    let (email, name, role) = (email.unwrap(), name.unwrap(), role.unwrap());
    // Without a password, the account gets an unguessable one until the invitee sets theirs.
    let hash = match &password {
        Some(p) => hash_password(p).await?,
        None => {
            hash_password(&Password::parse(&crypto::random_token(40)).expect("long enough")).await?
        }
    };
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let user = insert_user(&mut tx, &email, &name, &hash, role, now).await?;
    if password.is_none() {
        send_password_link(platform, &mut tx, &user, INVITE_LINK_TTL, true).await?;
    }
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "user.created",
        ("user", &user.id.to_string()),
        json!({"email": user.email, "role": role.as_str(), "invited": password.is_none()}),
    )
    .await?;
    tx.commit().await?;
    platform.job_wake.notify_one();
    Ok(user)
}

pub async fn list_users(platform: &Platform, principal: &Principal) -> AppResult<Vec<User>> {
    authz::require_admin(principal)?;
    Ok(store::accounts::list_users(platform.db.pool()).await?)
}

pub struct UserUpdate<'a> {
    pub name: Option<&'a str>,
    pub role: Option<&'a str>,
    pub disabled: Option<bool>,
}

pub async fn admin_update_user(
    platform: &Platform,
    principal: &Principal,
    user_id: i64,
    input: UserUpdate<'_>,
    meta: &ClientMeta,
) -> AppResult<User> {
    authz::require_admin(principal)?;
    let mut v = Validator::new();
    let name = input
        .name
        .and_then(|n| v.check("name", DisplayName::parse(n)));
    let role = input.role.and_then(|r| v.check("role", OrgRole::parse(r)));
    v.finish().map_err(AppError::Validation)?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let before = store::accounts::user_by_id(&mut *tx, user_id)
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let disabled_at = input.disabled.map(|d| {
        if d {
            Some(before.disabled_at.unwrap_or(now))
        } else {
            None
        }
    });
    let user = store::accounts::update_user(
        &mut *tx,
        user_id,
        UserChanges {
            name: name.as_ref().map(DisplayName::as_str),
            time_zone: None,
            role,
            disabled_at,
        },
        now,
    )
    .await?
    .ok_or(AppError::NotFound("user"))?;
    if store::accounts::count_active_admins(&mut *tx).await? == 0 {
        return Err(AppError::Conflict(
            "the organisation must keep at least one active admin".into(),
        ));
    }
    if user.disabled_at.is_some() && before.disabled_at.is_none() {
        store::accounts::revoke_sessions(&mut *tx, user.id, None, now).await?;
    }
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "user.updated",
        ("user", &user.id.to_string()),
        json!({
            "name": input.name.map(|_| &user.name),
            "role": role.map(OrgRole::as_str),
            "disabled": input.disabled,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Everyone in the organisation by name, disabled accounts included (callers decide whether
/// to show them): what products use to name people and offer them in pickers. Products read
/// users through this, never through the `users` table.
pub async fn directory(platform: &Platform) -> AppResult<Vec<User>> {
    Ok(store::accounts::users_by_name(platform.db.pool()).await?)
}
