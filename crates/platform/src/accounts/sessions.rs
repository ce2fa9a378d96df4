//! Sign-in and sessions.

use std::time::Duration;

use serde_json::json;

use crate::audit::{self, Actor};
use crate::crypto::{self, password};
use crate::domain::{Email, Validator};
use crate::error::{AppError, AppResult};
use crate::identity::{AuthMethod, ClientMeta, Principal};
use crate::ratelimit::Limit;
use crate::state::Platform;
use crate::store;
use crate::store::accounts::{NewSession, Session, User};

use super::*;

/// A new session and the secret to put in the cookie (shown once).
pub struct SignedIn {
    pub user: User,
    pub session: Session,
    pub cookie_value: String,
}

pub async fn login(
    platform: &Platform,
    email: &str,
    password_text: &str,
    meta: &ClientMeta,
) -> AppResult<SignedIn> {
    let mut v = Validator::new();
    let email_ok = v.check("email", Email::parse(email));
    if password_text.is_empty() {
        v.add("password", "is required");
    }
    v.finish().map_err(AppError::Validation)?;
    let email = email_ok.unwrap();

    let per_ip = Limit::per_minute(
        platform
            .config
            .login_attempts_per_15_minutes
            .saturating_mul(2),
    );
    let lockout = Limit {
        max: platform.config.login_attempts_per_15_minutes,
        window: Duration::from_secs(15 * 60),
    };
    platform
        .limiter
        .hit(&format!("login-ip:{}", meta.ip), per_ip)
        .await?;
    // Failures lock out one address from one account; a much larger budget per account stops
    // a distributed guesser without letting one stranger lock the owner out.
    let failures_key = format!("login-fail:{email}:{}", meta.ip);
    let account_key = format!("login-fail:{email}");
    let account_lockout = Limit {
        max: lockout.max.saturating_mul(10),
        ..lockout
    };
    platform.limiter.check(&failures_key, lockout).await?;
    platform
        .limiter
        .check(&account_key, account_lockout)
        .await?;

    let found = store::accounts::user_with_password(platform.db.pool(), email.as_str()).await?;
    let stored = found
        .as_ref()
        .map(|(_, h)| h.as_str())
        .unwrap_or(password::dummy_hash());
    let valid = verify_password(password_text, stored).await?;
    let user = match found {
        Some((user, _)) if valid && user.disabled_at.is_none() => user,
        _ => {
            let _ = platform.limiter.hit(&failures_key, lockout).await;
            let _ = platform.limiter.hit(&account_key, account_lockout).await;
            let now = platform.now();
            audit::record(
                platform.db.pool(),
                now,
                &Actor::anonymous(email.as_str(), meta),
                "auth.login_failed",
                ("user", email.as_str()),
                json!({}),
            )
            .await?;
            return Err(AppError::InvalidCredentials);
        }
    };

    let now = platform.now();
    let cookie_value = crypto::random_token(43);
    let mut tx = platform.db.begin().await?;
    let session = store::accounts::insert_session(
        &mut *tx,
        NewSession {
            user_id: user.id,
            token_hash: &platform.secret.hash_token(SESSION_PURPOSE, &cookie_value),
            now,
            expires_at: now.plus(platform.config.session_max_age),
            ip: &meta.ip.to_string(),
            user_agent: &meta.user_agent,
        },
    )
    .await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::anonymous(&user.email, meta),
        "auth.login",
        ("session", &session.id.to_string()),
        json!({"user_id": user.id}),
    )
    .await?;
    tx.commit().await?;
    Ok(SignedIn {
        user,
        session,
        cookie_value,
    })
}

pub async fn authenticate_session(
    platform: &Platform,
    cookie_value: &str,
) -> AppResult<Option<Principal>> {
    let hash = platform.secret.hash_token(SESSION_PURPOSE, cookie_value);
    let Some((session, user)) =
        store::accounts::session_with_user(platform.db.pool(), &hash).await?
    else {
        return Ok(None);
    };
    let now = platform.now();
    let idle_expired = now.since(session.last_seen_at) > platform.config.session_idle;
    if now >= session.expires_at || idle_expired || user.disabled_at.is_some() {
        return Ok(None);
    }
    if now.since(session.last_seen_at) > TOUCH_EVERY {
        store::accounts::touch_session(platform.db.pool(), session.id, now).await?;
    }
    Ok(Some(Principal {
        user,
        method: AuthMethod::Session { id: session.id },
    }))
}

pub async fn authenticate_token(platform: &Platform, token: &str) -> AppResult<Option<Principal>> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let hash = platform.secret.hash_token(TOKEN_PURPOSE, token);
    let Some((token_id, last_used, user)) =
        store::accounts::token_with_user(platform.db.pool(), &hash).await?
    else {
        return Ok(None);
    };
    if user.disabled_at.is_some() {
        return Ok(None);
    }
    let now = platform.now();
    if last_used.is_none_or(|t| now.since(t) > TOUCH_EVERY) {
        store::accounts::touch_token(platform.db.pool(), token_id, now).await?;
    }
    Ok(Some(Principal {
        user,
        method: AuthMethod::Token { id: token_id },
    }))
}

pub async fn logout(
    platform: &Platform,
    principal: &Principal,
    meta: &ClientMeta,
) -> AppResult<()> {
    if let Some(id) = principal.session_id() {
        let now = platform.now();
        let mut tx = platform.db.begin().await?;
        store::accounts::revoke_session(&mut *tx, principal.user.id, id, now).await?;
        audit::record(
            &mut *tx,
            now,
            &Actor::user(principal, meta),
            "auth.logout",
            ("session", &id.to_string()),
            json!({}),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(())
}

pub async fn list_sessions(platform: &Platform, principal: &Principal) -> AppResult<Vec<Session>> {
    let now = platform.now();
    let mut sessions =
        store::accounts::list_sessions(platform.db.pool(), principal.user.id, now).await?;
    // Idle-expired sessions can no longer be used: do not show them as live.
    sessions.retain(|s| now.since(s.last_seen_at) <= platform.config.session_idle);
    Ok(sessions)
}

pub async fn revoke_session(
    platform: &Platform,
    principal: &Principal,
    session_id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    if !store::accounts::revoke_session(&mut *tx, principal.user.id, session_id, now).await? {
        return Err(AppError::NotFound("session"));
    }
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "session.revoked",
        ("session", &session_id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// "Sign out everywhere": every session of the caller, this one included.
pub async fn revoke_all_sessions(
    platform: &Platform,
    principal: &Principal,
    meta: &ClientMeta,
) -> AppResult<u64> {
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let count = store::accounts::revoke_sessions(&mut *tx, principal.user.id, None, now).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "session.revoked_all",
        ("user", &principal.user.id.to_string()),
        json!({"count": count}),
    )
    .await?;
    tx.commit().await?;
    Ok(count)
}
