//! Accounts: first-run setup, users, sign-in, sessions, API tokens, password resets and teams.
//! Each operation validates its input, checks authorization, changes the database in one
//! transaction together with its audit record.

mod passwords;
mod sessions;
mod setup;
mod teams;
mod tokens;
mod users;

use std::time::Duration;

use crate::crypto::password;
use crate::domain::Password;
use crate::error::{AppError, AppResult};

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

pub use passwords::*;
pub use sessions::*;
pub use setup::*;
pub use teams::*;
pub use tokens::*;
pub use users::*;
