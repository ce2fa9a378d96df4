//! First run.

use serde_json::json;

use crate::audit::{self, Actor};
use crate::domain::{DisplayName, Email, OrgRole, Password, Timestamp, Validator};
use crate::error::{AppError, AppResult};
use crate::identity::ClientMeta;
use crate::state::Platform;
use crate::store;
use crate::store::accounts::{NewUser, User};

use super::*;

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

pub(super) async fn insert_user(
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
