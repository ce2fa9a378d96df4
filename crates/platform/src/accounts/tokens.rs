//! API tokens.

use serde_json::json;

use crate::audit::{self, Actor};
use crate::crypto;
use crate::domain::Email;
use crate::error::{AppError, AppResult};
use crate::identity::{ClientMeta, Principal};
use crate::state::Platform;
use crate::store;
use crate::store::accounts::{ApiToken, User};

use super::*;

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
