use serde::Serialize;
use sqlx::FromRow;

use super::Executor;
use crate::domain::{OrgRole, Timestamp};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: OrgRole,
    pub created_at: Timestamp,
    pub disabled_at: Option<Timestamp>,
    /// IANA time-zone name; empty when the person has not said.
    pub time_zone: String,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.role == OrgRole::Admin
    }
}

#[derive(FromRow)]
struct UserRow {
    id: i64,
    email: String,
    name: String,
    role: String,
    created_at: i64,
    disabled_at: Option<i64>,
    time_zone: String,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        Self {
            id: row.id,
            email: row.email,
            name: row.name,
            role: OrgRole::parse(&row.role).unwrap_or(OrgRole::Member),
            created_at: Timestamp::from_millis(row.created_at),
            disabled_at: row.disabled_at.map(Timestamp::from_millis),
            time_zone: row.time_zone,
        }
    }
}

pub struct NewUser<'a> {
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: OrgRole,
    pub now: Timestamp,
}

pub async fn insert_user<'c>(db: impl Executor<'c>, user: NewUser<'_>) -> sqlx::Result<User> {
    sqlx::query_as::<_, UserRow>(
        "INSERT INTO users (email, name, password_hash, role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) \
         RETURNING id, email, name, role, created_at, disabled_at, time_zone",
    )
    .bind(user.email)
    .bind(user.name)
    .bind(user.password_hash)
    .bind(user.role.as_str())
    .bind(user.now.as_millis())
    .fetch_one(db)
    .await
    .map(User::from)
}

pub async fn count_users<'c>(db: impl Executor<'c>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db)
        .await
}

pub async fn user_by_id<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, UserRow>(
        "SELECT id, email, name, role, created_at, disabled_at, time_zone FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
    .map(|row| row.map(User::from))
}

/// The team's members whose accounts are not disabled, by name.
pub async fn active_team_members<'c>(
    db: impl Executor<'c>,
    team_id: i64,
) -> sqlx::Result<Vec<User>> {
    sqlx::query_as::<_, UserRow>(
        "SELECT u.id, u.email, u.name, u.role, u.created_at, u.disabled_at, u.time_zone \
         FROM team_members m JOIN users u ON u.id = m.user_id \
         WHERE m.team_id = $1 AND u.disabled_at IS NULL ORDER BY u.name, u.id",
    )
    .bind(team_id)
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(User::from).collect())
}

/// The user and their password hash, for sign-in.
pub async fn user_with_password<'c>(
    db: impl Executor<'c>,
    email: &str,
) -> sqlx::Result<Option<(User, String)>> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: UserRow,
        password_hash: String,
    }
    sqlx::query_as::<_, Row>(
        "SELECT id, email, name, role, created_at, disabled_at, time_zone, password_hash \
         FROM users WHERE email = $1",
    )
    .bind(email)
    .fetch_optional(db)
    .await
    .map(|row| row.map(|r| (User::from(r.user), r.password_hash)))
}

pub async fn password_hash<'c>(
    db: impl Executor<'c>,
    user_id: i64,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(db)
        .await
}

/// Every user by name (then id), disabled ones included.
pub async fn users_by_name<'c>(db: impl Executor<'c>) -> sqlx::Result<Vec<User>> {
    sqlx::query_as::<_, UserRow>(
        "SELECT id, email, name, role, created_at, disabled_at, time_zone FROM users ORDER BY name, id",
    )
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(User::from).collect())
}

pub async fn list_users<'c>(db: impl Executor<'c>) -> sqlx::Result<Vec<User>> {
    sqlx::query_as::<_, UserRow>(
        "SELECT id, email, name, role, created_at, disabled_at, time_zone FROM users ORDER BY email",
    )
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(User::from).collect())
}

pub async fn set_password<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    password_hash: &str,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(password_hash)
        .bind(now.as_millis())
        .bind(user_id)
        .execute(db)
        .await
        .map(|_| ())
}

pub struct UserChanges<'a> {
    pub name: Option<&'a str>,
    /// An IANA name, or empty to unset.
    pub time_zone: Option<&'a str>,
    pub role: Option<OrgRole>,
    /// `Some(Some(t))` disables at t, `Some(None)` re-enables.
    pub disabled_at: Option<Option<Timestamp>>,
}

pub async fn update_user<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    changes: UserChanges<'_>,
    now: Timestamp,
) -> sqlx::Result<Option<User>> {
    sqlx::query_as::<_, UserRow>(
        "UPDATE users SET name = COALESCE($1, name), role = COALESCE($2, role), \
         disabled_at = CASE WHEN $3 = 1 THEN $4 ELSE disabled_at END, updated_at = $5, \
         time_zone = COALESCE($7, time_zone) \
         WHERE id = $6 RETURNING id, email, name, role, created_at, disabled_at, time_zone",
    )
    .bind(changes.name)
    .bind(changes.role.map(OrgRole::as_str))
    .bind(i64::from(changes.disabled_at.is_some()))
    .bind(changes.disabled_at.flatten().map(Timestamp::as_millis))
    .bind(now.as_millis())
    .bind(user_id)
    .bind(changes.time_zone)
    .fetch_optional(db)
    .await
    .map(|row| row.map(User::from))
}

/// Removes a user; every table that belongs to a user cascades from `users`.
pub async fn delete_user<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<bool> {
    Ok(sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?
        .rows_affected()
        > 0)
}

pub async fn count_active_admins<'c>(db: impl Executor<'c>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL")
        .fetch_one(db)
        .await
}

// ---- sessions ----

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub id: i64,
    #[serde(skip)]
    pub user_id: i64,
    pub created_at: Timestamp,
    pub last_seen_at: Timestamp,
    pub expires_at: Timestamp,
    pub ip: String,
    pub user_agent: String,
}

#[derive(FromRow)]
struct SessionRow {
    id: i64,
    user_id: i64,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    ip: String,
    user_agent: String,
}

impl From<SessionRow> for Session {
    fn from(r: SessionRow) -> Self {
        Self {
            id: r.id,
            user_id: r.user_id,
            created_at: Timestamp::from_millis(r.created_at),
            last_seen_at: Timestamp::from_millis(r.last_seen_at),
            expires_at: Timestamp::from_millis(r.expires_at),
            ip: r.ip,
            user_agent: r.user_agent,
        }
    }
}

pub struct NewSession<'a> {
    pub user_id: i64,
    pub token_hash: &'a str,
    pub now: Timestamp,
    pub expires_at: Timestamp,
    pub ip: &'a str,
    pub user_agent: &'a str,
}

pub async fn insert_session<'c>(db: impl Executor<'c>, s: NewSession<'_>) -> sqlx::Result<Session> {
    sqlx::query_as::<_, SessionRow>(
        "INSERT INTO sessions (user_id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent) \
         VALUES ($1, $2, $3, $3, $4, $5, $6) \
         RETURNING id, user_id, created_at, last_seen_at, expires_at, ip, user_agent",
    )
    .bind(s.user_id)
    .bind(s.token_hash)
    .bind(s.now.as_millis())
    .bind(s.expires_at.as_millis())
    .bind(s.ip)
    .bind(s.user_agent)
    .fetch_one(db)
    .await
    .map(Session::from)
}

/// A live (not revoked) session and its user, by token hash. Expiry is checked by the caller.
pub async fn session_with_user<'c>(
    db: impl Executor<'c>,
    token_hash: &str,
) -> sqlx::Result<Option<(Session, User)>> {
    #[derive(FromRow)]
    struct Row {
        sid: i64,
        s_created_at: i64,
        last_seen_at: i64,
        expires_at: i64,
        ip: String,
        user_agent: String,
        #[sqlx(flatten)]
        user: UserRow,
    }
    sqlx::query_as::<_, Row>(
        "SELECT s.id AS sid, s.created_at AS s_created_at, s.last_seen_at, s.expires_at, s.ip, s.user_agent, \
                u.id, u.email, u.name, u.role, u.created_at, u.disabled_at, u.time_zone \
         FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE s.token_hash = $1 AND s.revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
    .map(|row| {
        row.map(|r| {
            let session = Session {
                id: r.sid,
                user_id: r.user.id,
                created_at: Timestamp::from_millis(r.s_created_at),
                last_seen_at: Timestamp::from_millis(r.last_seen_at),
                expires_at: Timestamp::from_millis(r.expires_at),
                ip: r.ip,
                user_agent: r.user_agent,
            };
            (session, User::from(r.user))
        })
    })
}

pub async fn touch_session<'c>(db: impl Executor<'c>, id: i64, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query("UPDATE sessions SET last_seen_at = $1 WHERE id = $2")
        .bind(now.as_millis())
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

pub async fn list_sessions<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    now: Timestamp,
) -> sqlx::Result<Vec<Session>> {
    sqlx::query_as::<_, SessionRow>(
        "SELECT id, user_id, created_at, last_seen_at, expires_at, ip, user_agent FROM sessions \
         WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY last_seen_at DESC",
    )
    .bind(user_id)
    .bind(now.as_millis())
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(Session::from).collect())
}

/// Revokes one of the user's sessions; false if there was no such live session.
pub async fn revoke_session<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    session_id: i64,
    now: Timestamp,
) -> sqlx::Result<bool> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(now.as_millis())
    .bind(session_id)
    .bind(user_id)
    .execute(db)
    .await
    .map(|r| r.rows_affected() > 0)
}

/// Revokes all the user's sessions except `keep` (if given). Returns how many.
pub async fn revoke_sessions<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    keep: Option<i64>,
    now: Timestamp,
) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE sessions SET revoked_at = $1 \
         WHERE user_id = $2 AND revoked_at IS NULL AND id <> COALESCE($3, -1)",
    )
    .bind(now.as_millis())
    .bind(user_id)
    .bind(keep)
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}

/// Removes sessions that can never be used again, so the table does not grow forever.
pub async fn delete_dead_sessions<'c>(
    db: impl Executor<'c>,
    before: Timestamp,
) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM sessions WHERE expires_at < $1 OR revoked_at < $1")
        .bind(before.as_millis())
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}

// ---- API tokens ----

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    /// First characters of the token, to recognise it; the rest is never shown again.
    pub prefix: String,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
}

#[derive(FromRow)]
struct TokenRow {
    id: i64,
    name: String,
    prefix: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

impl From<TokenRow> for ApiToken {
    fn from(r: TokenRow) -> Self {
        Self {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            created_at: Timestamp::from_millis(r.created_at),
            last_used_at: r.last_used_at.map(Timestamp::from_millis),
        }
    }
}

pub async fn insert_token<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    name: &str,
    token_hash: &str,
    prefix: &str,
    now: Timestamp,
) -> sqlx::Result<ApiToken> {
    sqlx::query_as::<_, TokenRow>(
        "INSERT INTO api_tokens (user_id, name, token_hash, prefix, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id, name, prefix, created_at, last_used_at",
    )
    .bind(user_id)
    .bind(name)
    .bind(token_hash)
    .bind(prefix)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
    .map(ApiToken::from)
}

pub async fn list_tokens<'c>(db: impl Executor<'c>, user_id: i64) -> sqlx::Result<Vec<ApiToken>> {
    sqlx::query_as::<_, TokenRow>(
        "SELECT id, name, prefix, created_at, last_used_at FROM api_tokens \
         WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at DESC, id DESC",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(ApiToken::from).collect())
}

pub async fn revoke_token<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    token_id: i64,
    now: Timestamp,
) -> sqlx::Result<bool> {
    sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL",
    )
    .bind(now.as_millis())
    .bind(token_id)
    .bind(user_id)
    .execute(db)
    .await
    .map(|r| r.rows_affected() > 0)
}

/// A live token and its user, by token hash.
pub async fn token_with_user<'c>(
    db: impl Executor<'c>,
    token_hash: &str,
) -> sqlx::Result<Option<(i64, Option<Timestamp>, User)>> {
    #[derive(FromRow)]
    struct Row {
        tid: i64,
        last_used_at: Option<i64>,
        #[sqlx(flatten)]
        user: UserRow,
    }
    sqlx::query_as::<_, Row>(
        "SELECT t.id AS tid, t.last_used_at, u.id, u.email, u.name, u.role, u.created_at, u.disabled_at, u.time_zone \
         FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await
    .map(|row| {
        row.map(|r| (r.tid, r.last_used_at.map(Timestamp::from_millis), User::from(r.user)))
    })
}

pub async fn touch_token<'c>(db: impl Executor<'c>, id: i64, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
        .bind(now.as_millis())
        .bind(id)
        .execute(db)
        .await
        .map(|_| ())
}

// ---- password resets ----

pub async fn insert_password_reset<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    token_hash: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO password_resets (user_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(user_id)
    .bind(token_hash)
    .bind(now.as_millis())
    .bind(expires_at.as_millis())
    .execute(db)
    .await
    .map(|_| ())
}

/// Marks a reset link used, if it is unused and unexpired; returns its user.
pub async fn consume_password_reset<'c>(
    db: impl Executor<'c>,
    token_hash: &str,
    now: Timestamp,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "UPDATE password_resets SET used_at = $1 \
         WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id",
    )
    .bind(now.as_millis())
    .bind(token_hash)
    .fetch_optional(db)
    .await
}

/// Holds the user's row until the transaction ends (PostgreSQL; SQLite's one writer already
/// serialises transactions).
pub async fn lock_user<'c>(
    db: impl Executor<'c>,
    dialect: crate::db::Dialect,
    user_id: i64,
) -> sqlx::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM users WHERE id = $1{}",
        dialect.for_update()
    )))
    .bind(user_id)
    .fetch_optional(db)
    .await
    .map(|_| ())
}

/// Unused links stop working once the password changed by any means.
pub async fn invalidate_password_resets<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE password_resets SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL")
        .bind(now.as_millis())
        .bind(user_id)
        .execute(db)
        .await
        .map(|_| ())
}

/// Whether a session or token seen earlier still authenticates (for long-lived connections).
pub async fn credential_is_live<'c>(
    db: impl Executor<'c>,
    session_id: Option<i64>,
    token_id: Option<i64>,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM users u WHERE u.disabled_at IS NULL AND ( \
           EXISTS (SELECT 1 FROM sessions s WHERE s.id = $1 AND s.user_id = u.id AND s.revoked_at IS NULL AND s.expires_at > $3) \
           OR EXISTS (SELECT 1 FROM api_tokens t WHERE t.id = $2 AND t.user_id = u.id AND t.revoked_at IS NULL))",
    )
    .bind(session_id)
    .bind(token_id)
    .bind(now.as_millis())
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}
