//! Passwords.

use std::time::Duration;

use serde_json::json;

use crate::audit::{self, Actor};
use crate::crypto;
use crate::domain::{DisplayName, Email, FieldError, Password};
use crate::error::{AppError, AppResult};
use crate::identity::{ClientMeta, Principal};
use crate::mail::{self, OutgoingMail};
use crate::ratelimit::Limit;
use crate::state::Platform;
use crate::store;
use crate::store::accounts::{User, UserChanges};

use super::*;

/// Mails a single-use reset link if the address belongs to an active account. Answers the
/// same either way, so it cannot be used to find out who has an account.
pub async fn request_password_reset(
    platform: &Platform,
    email: &str,
    meta: &ClientMeta,
) -> AppResult<()> {
    let email = Email::parse(email).map_err(|m| AppError::field("email", m))?;
    platform
        .limiter
        .hit(&format!("reset-ip:{}", meta.ip), Limit::per_minute(5))
        .await?;
    platform
        .limiter
        .hit(
            &format!("reset-email:{email}"),
            Limit {
                max: 3,
                window: Duration::from_secs(15 * 60),
            },
        )
        .await?;
    let Some((user, _)) =
        store::accounts::user_with_password(platform.db.pool(), email.as_str()).await?
    else {
        return Ok(());
    };
    if user.disabled_at.is_some() {
        return Ok(());
    }
    let mut tx = platform.db.begin().await?;
    send_password_link(platform, &mut tx, &user, RESET_LINK_TTL, false).await?;
    audit::record(
        &mut *tx,
        platform.now(),
        &Actor::anonymous(user.email.as_str(), meta),
        "auth.password_reset_requested",
        ("user", &user.id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    platform.job_wake.notify_one();
    Ok(())
}

pub(super) async fn send_password_link(
    platform: &Platform,
    tx: &mut crate::db::Tx,
    user: &User,
    ttl: Duration,
    invitation: bool,
) -> AppResult<()> {
    let token = crypto::random_token(43);
    let now = platform.now();
    // One live link per account: a new one ends the ones mailed before. The user's row is
    // locked first so two requests at once cannot both leave theirs live.
    store::accounts::lock_user(&mut **tx, platform.db.dialect(), user.id).await?;
    store::accounts::invalidate_password_resets(&mut **tx, user.id, now).await?;
    store::accounts::insert_password_reset(
        &mut **tx,
        user.id,
        &platform.secret.hash_token(RESET_PURPOSE, &token),
        now,
        now.plus(ttl),
    )
    .await?;
    // An invitation's page greets a newcomer instead of talking about a reset.
    let link = format!(
        "{}/reset-password?token={token}{}",
        platform.config.base_url(),
        if invitation { "&welcome=1" } else { "" }
    );
    let mail = mail::templates::password_link(&user.name, &link, ttl, invitation);
    mail::queue(
        &mut **tx,
        &platform.secret,
        &OutgoingMail {
            to: user.email.clone(),
            ..mail
        },
        now,
    )
    .await?;
    Ok(())
}

/// Sets a new password from a reset link; ends every session of the account.
pub async fn confirm_password_reset(
    platform: &Platform,
    token: &str,
    new_password: &str,
    meta: &ClientMeta,
) -> AppResult<User> {
    let password = Password::parse(new_password).map_err(|m| AppError::field("password", m))?;
    let hash = hash_password(&password).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let user_id = store::accounts::consume_password_reset(
        &mut *tx,
        &platform.secret.hash_token(RESET_PURPOSE, token.trim()),
        now,
    )
    .await?
    .ok_or_else(|| {
        AppError::field(
            "token",
            "this link is invalid, expired or already used; ask for a new one",
        )
    })?;
    store::accounts::set_password(&mut *tx, user_id, &hash, now).await?;
    store::accounts::invalidate_password_resets(&mut *tx, user_id, now).await?;
    store::accounts::revoke_sessions(&mut *tx, user_id, None, now).await?;
    let user = store::accounts::user_by_id(&mut *tx, user_id)
        .await?
        .ok_or(AppError::NotFound("user"))?;
    audit::record(
        &mut *tx,
        now,
        &Actor::anonymous(&user.email, meta),
        "auth.password_reset",
        ("user", &user_id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

/// Asks again for the signed-in user's password before something that cannot be taken back;
/// a wrong one is an error on `field`.
async fn confirm_password(
    platform: &Platform,
    principal: &Principal,
    plain: &str,
    field: &str,
) -> AppResult<()> {
    let stored = store::accounts::password_hash(platform.db.pool(), principal.user.id)
        .await?
        .unwrap_or_default();
    if verify_password(plain, &stored).await? {
        Ok(())
    } else {
        Err(AppError::field(field, "is not your password"))
    }
}

/// Changes the caller's password; every other session of theirs is ended.
pub async fn change_password(
    platform: &Platform,
    principal: &Principal,
    current: &str,
    new_password: &str,
    meta: &ClientMeta,
) -> AppResult<()> {
    let password = Password::parse(new_password).map_err(|m| AppError::field("new_password", m))?;
    confirm_password(platform, principal, current, "current_password").await?;
    let hash = hash_password(&password).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::accounts::set_password(&mut *tx, principal.user.id, &hash, now).await?;
    store::accounts::invalidate_password_resets(&mut *tx, principal.user.id, now).await?;
    let revoked =
        store::accounts::revoke_sessions(&mut *tx, principal.user.id, principal.session_id(), now)
            .await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "user.password_changed",
        ("user", &principal.user.id.to_string()),
        json!({"other_sessions_ended": revoked}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deletes the caller's account and, through the database's cascades, every row that belongs
/// to them in every product; their sessions and tokens go with it. The password is asked
/// again because nothing can bring the data back.
pub async fn delete_own_account(
    platform: &Platform,
    principal: &Principal,
    password: &str,
    meta: &ClientMeta,
) -> AppResult<()> {
    confirm_password(platform, principal, password, "password").await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    // The audit entry outlives the user: it names them by id and email.
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "user.deleted_own_account",
        ("user", &principal.user.id.to_string()),
        json!({"email": principal.user.email}),
    )
    .await?;
    store::accounts::delete_user(&mut *tx, principal.user.id).await?;
    if store::accounts::count_active_admins(&mut *tx).await? == 0 {
        return Err(AppError::Conflict(
            "you are the only active admin: make someone else an admin first".into(),
        ));
    }
    tx.commit().await?;
    Ok(())
}

/// `keel user reset-password`: sets a password directly and ends the user's sessions.
pub async fn set_password_cli(
    platform: &Platform,
    email: &str,
    new_password: &str,
) -> AppResult<User> {
    let password = Password::parse(new_password).map_err(|m| AppError::field("password", m))?;
    let email = Email::parse(email).map_err(|m| AppError::field("email", m))?;
    let (user, _) = store::accounts::user_with_password(platform.db.pool(), email.as_str())
        .await?
        .ok_or(AppError::NotFound("user"))?;
    let hash = hash_password(&password).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::accounts::set_password(&mut *tx, user.id, &hash, now).await?;
    store::accounts::invalidate_password_resets(&mut *tx, user.id, now).await?;
    store::accounts::revoke_sessions(&mut *tx, user.id, None, now).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::cli(),
        "user.password_reset_by_operator",
        ("user", &user.id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

pub async fn update_profile(
    platform: &Platform,
    principal: &Principal,
    name: &str,
    time_zone: Option<&str>,
    meta: &ClientMeta,
) -> AppResult<User> {
    let name = DisplayName::parse(name).map_err(|m| FieldError::new("name", m));
    // Empty unsets it; anything else must be a zone we know.
    let time_zone = match time_zone.map(str::trim) {
        Some(zone) if !zone.is_empty() => crate::domain::parse_time_zone(zone)
            .map(|_| Some(zone))
            .map_err(|m| FieldError::new("time_zone", m)),
        other => Ok(other),
    };
    let (name, time_zone) = match (name, time_zone) {
        (Ok(name), Ok(zone)) => (name, zone),
        (name, zone) => {
            return Err(AppError::Validation(
                [name.err(), zone.err()].into_iter().flatten().collect(),
            ));
        }
    };
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let user = store::accounts::update_user(
        &mut *tx,
        principal.user.id,
        UserChanges {
            name: Some(name.as_str()),
            time_zone,
            role: None,
            disabled_at: None,
        },
        now,
    )
    .await?
    .ok_or(AppError::NotFound("user"))?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "user.profile_updated",
        ("user", &user.id.to_string()),
        json!({"name": user.name}),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}
