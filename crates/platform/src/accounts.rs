//! Accounts: first-run setup, users, sign-in, sessions, API tokens, password resets and teams.
//! Each operation validates its input, checks authorization, changes the database in one
//! transaction together with its audit record.

use std::time::Duration;

use serde_json::json;

use crate::audit::{self, Actor};
use crate::authz;
use crate::crypto::{self, password};
use crate::domain::{
    DisplayName, Email, OrgRole, Password, TeamName, TeamRole, Timestamp, Validator,
};
use crate::error::{AppError, AppResult};
use crate::identity::{AuthMethod, ClientMeta, Principal};
use crate::mail::{self, OutgoingMail};
use crate::ratelimit::Limit;
use crate::state::Platform;
use crate::store;
use crate::store::accounts::{ApiToken, NewSession, NewUser, Session, User, UserChanges};
use crate::store::teams::{Team, TeamMember};

const SESSION_PURPOSE: &str = "session";
const TOKEN_PURPOSE: &str = "api-token";
const RESET_PURPOSE: &str = "password-reset";
/// How long a password-reset link works.
pub const RESET_LINK_TTL: Duration = Duration::from_secs(60 * 60);
/// How long the set-password link in an invitation works.
pub const INVITE_LINK_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// Activity is written back at most this often per session or token.
const TOUCH_EVERY: Duration = Duration::from_secs(60);
pub const TOKEN_PREFIX: &str = "keel_";

async fn hash_password(password: &Password) -> AppResult<String> {
    let plain = password.expose().to_string();
    tokio::task::spawn_blocking(move || password::hash(&plain))
        .await
        .map_err(|e| AppError::Internal(e.into()))
}

async fn verify_password(plain: &str, stored: &str) -> AppResult<bool> {
    let (plain, stored) = (plain.to_string(), stored.to_string());
    tokio::task::spawn_blocking(move || password::verify(&plain, &stored))
        .await
        .map_err(|e| AppError::Internal(e.into()))
}

// ---- first run ----

pub async fn needs_setup(platform: &Platform) -> AppResult<bool> {
    Ok(store::accounts::count_users(platform.db.pool()).await? == 0)
}

pub struct NewAccount<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password: &'a str,
}

fn validate_account(input: &NewAccount<'_>) -> AppResult<(Email, DisplayName, Password)> {
    let mut v = Validator::new();
    let email = v.check("email", Email::parse(input.email));
    let name = v.check("name", DisplayName::parse(input.name));
    let password = v.check("password", Password::parse(input.password));
    v.finish().map_err(AppError::Validation)?;
    Ok((email.unwrap(), name.unwrap(), password.unwrap()))
}

/// Creates the first admin, guarded by the setup token printed in the server log.
pub async fn setup_first_admin(
    platform: &Platform,
    setup_token: &str,
    input: NewAccount<'_>,
    meta: &ClientMeta,
) -> AppResult<User> {
    let expected = platform.setup_token();
    if !constant_time_eq(setup_token.trim().as_bytes(), expected.as_bytes()) {
        return Err(AppError::field(
            "setup_token",
            "does not match the token in the server log",
        ));
    }
    let actor = Actor::anonymous("first-run setup", meta);
    create_account(platform, input, OrgRole::Admin, &actor, true).await
}

/// Creates a user from the command line (no authorization: the operator owns the machine).
pub async fn create_user_cli(
    platform: &Platform,
    input: NewAccount<'_>,
    role: OrgRole,
) -> AppResult<User> {
    create_account(platform, input, role, &Actor::cli(), false).await
}

async fn create_account(
    platform: &Platform,
    input: NewAccount<'_>,
    role: OrgRole,
    actor: &Actor,
    only_if_first: bool,
) -> AppResult<User> {
    let (email, name, password) = validate_account(&input)?;
    let hash = hash_password(&password).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    if only_if_first && store::accounts::count_users(&mut *tx).await? > 0 {
        return Err(AppError::Conflict(
            "setup is already complete; sign in instead".into(),
        ));
    }
    let user = insert_user(&mut tx, &email, &name, &hash, role, now).await?;
    audit::record(
        &mut *tx,
        now,
        actor,
        "user.created",
        ("user", &user.id.to_string()),
        json!({"email": user.email, "role": role.as_str()}),
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

async fn insert_user(
    tx: &mut crate::db::Tx,
    email: &Email,
    name: &DisplayName,
    password_hash: &str,
    role: OrgRole,
    now: Timestamp,
) -> AppResult<User> {
    store::accounts::insert_user(
        &mut **tx,
        NewUser {
            email: email.as_str(),
            name: name.as_str(),
            password_hash,
            role,
            now,
        },
    )
    .await
    .map_err(|e| {
        if crate::db::is_unique_violation(&e) {
            AppError::Validation(vec![crate::domain::FieldError::new(
                "email",
                "is already used by another account",
            )])
        } else {
            e.into()
        }
    })
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---- sign-in and sessions ----

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

// ---- API tokens ----

fn validate_token_name(name: &str) -> AppResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::field("name", "must be 1 to 100 characters"));
    }
    Ok(name.to_string())
}

/// Creates a personal API token; the secret is returned this once only.
pub async fn create_token(
    platform: &Platform,
    principal: &Principal,
    name: &str,
    meta: &ClientMeta,
) -> AppResult<(ApiToken, String)> {
    let name = validate_token_name(name)?;
    issue_token(
        platform,
        &principal.user,
        &name,
        &Actor::user(principal, meta),
    )
    .await
}

/// `keel token create` from the command line.
pub async fn create_token_cli(
    platform: &Platform,
    email: &str,
    name: &str,
) -> AppResult<(ApiToken, String)> {
    let name = validate_token_name(name)?;
    let email = Email::parse(email).map_err(|m| AppError::field("user", m))?;
    let (user, _) = store::accounts::user_with_password(platform.db.pool(), email.as_str())
        .await?
        .ok_or(AppError::NotFound("user"))?;
    issue_token(platform, &user, &name, &Actor::cli()).await
}

async fn issue_token(
    platform: &Platform,
    user: &User,
    name: &str,
    actor: &Actor,
) -> AppResult<(ApiToken, String)> {
    let secret = format!("{TOKEN_PREFIX}{}", crypto::random_token(40));
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let token = store::accounts::insert_token(
        &mut *tx,
        user.id,
        name,
        &platform.secret.hash_token(TOKEN_PURPOSE, &secret),
        &secret[..TOKEN_PREFIX.len() + 6],
        now,
    )
    .await?;
    audit::record(
        &mut *tx,
        now,
        actor,
        "token.created",
        ("token", &token.id.to_string()),
        json!({"name": name, "user_id": user.id}),
    )
    .await?;
    tx.commit().await?;
    Ok((token, secret))
}

pub async fn list_tokens(platform: &Platform, principal: &Principal) -> AppResult<Vec<ApiToken>> {
    Ok(store::accounts::list_tokens(platform.db.pool(), principal.user.id).await?)
}

pub async fn revoke_token(
    platform: &Platform,
    principal: &Principal,
    token_id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    if !store::accounts::revoke_token(&mut *tx, principal.user.id, token_id, now).await? {
        return Err(AppError::NotFound("token"));
    }
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "token.revoked",
        ("token", &token_id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---- passwords ----

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

async fn send_password_link(
    platform: &Platform,
    tx: &mut crate::db::Tx,
    user: &User,
    ttl: Duration,
    invitation: bool,
) -> AppResult<()> {
    let token = crypto::random_token(43);
    let now = platform.now();
    // One live link per account: a new one ends the ones mailed before.
    store::accounts::invalidate_password_resets(&mut **tx, user.id, now).await?;
    store::accounts::insert_password_reset(
        &mut **tx,
        user.id,
        &platform.secret.hash_token(RESET_PURPOSE, &token),
        now,
        now.plus(ttl),
    )
    .await?;
    let link = format!(
        "{}/reset-password?token={token}",
        platform.config.base_url()
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
    meta: &ClientMeta,
) -> AppResult<User> {
    let name = DisplayName::parse(name).map_err(|m| AppError::field("name", m))?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let user = store::accounts::update_user(
        &mut *tx,
        principal.user.id,
        UserChanges {
            name: Some(name.as_str()),
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

// ---- user administration ----

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

// ---- teams ----

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

pub async fn list_members(
    platform: &Platform,
    principal: &Principal,
    team_id: i64,
) -> AppResult<Vec<TeamMember>> {
    authz::require_team_read(platform, principal, team_id).await?;
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
