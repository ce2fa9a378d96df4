//! Connected mail accounts, their folders' sync state, synced messages and suggested contacts.

use keel_platform::domain::Timestamp;
use keel_platform::store::Executor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailAccountRow {
    pub id: i64,
    pub user_id: i64,
    pub address: String,
    pub host: String,
    pub port: i64,
    pub tls: String,
    pub username: String,
    pub password_sealed: String,
    pub folders: String,
    pub backfill_days: i64,
    pub keep_bodies: i64,
    pub state: String,
    pub progress_done: i64,
    pub progress_total: i64,
    pub last_synced_at: Option<i64>,
    pub last_error: Option<String>,
    pub failures: i64,
    pub next_sync_at: i64,
    pub created_at: i64,
}

const ACCOUNT_COLUMNS: &str = "id, user_id, address, host, port, tls, username, password_sealed, folders, backfill_days, \
    keep_bodies, state, progress_done, progress_total, last_synced_at, last_error, failures, next_sync_at, created_at";

pub struct MailAccountFields<'a> {
    pub address: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub tls: &'a str,
    pub username: &'a str,
    pub password_sealed: &'a str,
    pub folders: &'a str,
    pub backfill_days: i64,
    pub keep_bodies: bool,
}

pub async fn insert_mail_account<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    f: &MailAccountFields<'_>,
    now: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO crm_mail_accounts (user_id, address, host, port, tls, username, password_sealed, folders, \
         backfill_days, keep_bodies, state, progress_done, progress_total, failures, next_sync_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $11, 'new', 0, 0, 0, $10, $10, $10) RETURNING id",
    )
    .bind(user_id)
    .bind(f.address)
    .bind(f.host)
    .bind(i64::from(f.port))
    .bind(f.tls)
    .bind(f.username)
    .bind(f.password_sealed)
    .bind(f.folders)
    .bind(f.backfill_days)
    .bind(now.as_millis())
    .bind(i64::from(f.keep_bodies))
    .fetch_one(db)
    .await
}

pub async fn mail_accounts<'c>(
    db: impl Executor<'c>,
    user_id: i64,
) -> sqlx::Result<Vec<MailAccountRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM crm_mail_accounts WHERE user_id = $1 ORDER BY address"
    )))
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// One account of the user's; `user_id` `None` is for the sync job, which has only the id.
pub async fn mail_account<'c>(
    db: impl Executor<'c>,
    user_id: Option<i64>,
    id: i64,
) -> sqlx::Result<Option<MailAccountRow>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {ACCOUNT_COLUMNS} FROM crm_mail_accounts WHERE id = $1 AND ($2 IS NULL OR user_id = $2)"
    )))
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

pub async fn delete_mail_account(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    id: i64,
    with_interactions: bool,
) -> sqlx::Result<u64> {
    if with_interactions {
        sqlx::query(
            "DELETE FROM crm_interactions WHERE user_id = $1 AND id IN \
             (SELECT interaction_id FROM crm_mail_messages WHERE account_id = $2 AND interaction_id IS NOT NULL)",
        )
        .bind(user_id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM crm_mail_messages WHERE user_id = $1 AND account_id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(
        sqlx::query("DELETE FROM crm_mail_accounts WHERE user_id = $1 AND id = $2")
            .bind(user_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
    )
}

/// Takes (or renews, with `renew`) the account's sync lease until `until`.
pub async fn take_mail_lease<'c>(
    db: impl Executor<'c>,
    id: i64,
    now: Timestamp,
    until: Timestamp,
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE crm_mail_accounts SET lease_until = $3 WHERE id = $1 AND (lease_until IS NULL OR lease_until < $2)",
    )
    .bind(id)
    .bind(now.as_millis())
    .bind(until.as_millis())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn set_mail_progress<'c>(
    db: impl Executor<'c>,
    id: i64,
    done: i64,
    total: i64,
    lease_until: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE crm_mail_accounts SET state = 'syncing', progress_done = $2, progress_total = $3, lease_until = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(done)
    .bind(total)
    .bind(lease_until.as_millis())
    .execute(db)
    .await?;
    Ok(())
}

/// Ends a sync run: releases the lease and the queued mark and plans the next run.
pub async fn finish_mail_sync<'c>(
    db: impl Executor<'c>,
    id: i64,
    error: Option<&str>,
    now: Timestamp,
    next: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE crm_mail_accounts SET lease_until = NULL, queued_at = NULL, next_sync_at = $3, updated_at = $2, \
         state = CASE WHEN $4 IS NULL THEN 'ok' ELSE 'error' END, last_error = $4, \
         last_synced_at = CASE WHEN $4 IS NULL THEN $2 ELSE last_synced_at END, \
         failures = CASE WHEN $4 IS NULL THEN 0 ELSE failures + 1 END WHERE id = $1",
    )
    .bind(id)
    .bind(now.as_millis())
    .bind(next.as_millis())
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct MailFolderRow {
    pub uid_validity: i64,
    pub last_uid: i64,
    pub uid_next: Option<i64>,
    pub highest_modseq: Option<i64>,
}

pub async fn mail_folder<'c>(
    db: impl Executor<'c>,
    account_id: i64,
    name: &str,
) -> sqlx::Result<Option<MailFolderRow>> {
    sqlx::query_as(
        "SELECT uid_validity, last_uid, uid_next, highest_modseq FROM crm_mail_folders WHERE account_id = $1 AND name = $2",
    )
    .bind(account_id)
    .bind(name)
    .fetch_optional(db)
    .await
}

pub async fn save_mail_folder<'c>(
    db: impl Executor<'c>,
    account_id: i64,
    name: &str,
    row: &MailFolderRow,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO crm_mail_folders (account_id, name, uid_validity, last_uid, uid_next, highest_modseq) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, name) DO UPDATE SET \
         uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, uid_next = excluded.uid_next, \
         highest_modseq = excluded.highest_modseq",
    )
    .bind(account_id)
    .bind(name)
    .bind(row.uid_validity)
    .bind(row.last_uid)
    .bind(row.uid_next)
    .bind(row.highest_modseq)
    .execute(db)
    .await?;
    Ok(())
}

/// Synced messages of the account and, of those, how many became interactions.
pub async fn mail_message_counts<'c>(
    db: impl Executor<'c>,
    account_id: i64,
) -> sqlx::Result<(i64, i64)> {
    sqlx::query_as(
        "SELECT COUNT(*), COUNT(interaction_id) FROM crm_mail_messages WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_one(db)
    .await
}

pub async fn mail_message_known(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    key: &str,
) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM crm_mail_messages WHERE user_id = $1 AND message_key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(&mut *tx)
    .await?;
    Ok(found.is_some())
}

pub struct MailMessageFields<'a> {
    pub account_id: i64,
    pub key: &'a str,
    pub sent_at: Timestamp,
    pub direction: &'a str,
    pub from_address: &'a str,
    pub from_name: &'a str,
    pub recipients: &'a str,
    pub participants: &'a str,
    pub subject: &'a str,
    pub snippet: &'a str,
    /// The text, when the account keeps bodies.
    pub body: Option<&'a str>,
    pub thread_refs: &'a str,
    pub interaction_id: Option<i64>,
}

pub async fn insert_mail_message(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    f: &MailMessageFields<'_>,
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO crm_mail_messages (user_id, account_id, message_key, sent_at, direction, from_address, from_name, \
         recipients, participants, subject, snippet, thread_refs, interaction_id, created_at, body) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
    )
    .bind(user_id)
    .bind(f.account_id)
    .bind(f.key)
    .bind(f.sent_at.as_millis())
    .bind(f.direction)
    .bind(f.from_address)
    .bind(f.from_name)
    .bind(f.recipients)
    .bind(f.participants)
    .bind(f.subject)
    .bind(f.snippet)
    .bind(f.thread_refs)
    .bind(f.interaction_id)
    .bind(now.as_millis())
    .bind(f.body)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// The user's contacts having any of `addresses` (lower-case), once each.
pub async fn contacts_with_emails(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    addresses: &[&str],
) -> sqlx::Result<Vec<i64>> {
    if addresses.is_empty() {
        return Ok(Vec::new());
    }
    let marks = (0..addresses.len())
        .map(|i| format!("${}", i + 2))
        .collect::<Vec<_>>()
        .join(", ");
    let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT DISTINCT contact_id FROM crm_contact_emails WHERE user_id = $1 AND email IN ({marks}) ORDER BY contact_id"
    )))
    .persistent(false)
    .bind(user_id);
    for address in addresses {
        query = query.bind(*address);
    }
    query.fetch_all(&mut *tx).await
}

/// Counts one more message sent to `address`, which is no contact.
pub async fn bump_mail_suggestion(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    address: &str,
    name: &str,
    at: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO crm_mail_suggestions (user_id, address, name, sent_count, last_at, ignored) \
         VALUES ($1, $2, $3, 1, $4, 0) ON CONFLICT (user_id, address) DO UPDATE SET \
         sent_count = crm_mail_suggestions.sent_count + 1, \
         name = CASE WHEN excluded.name = '' THEN crm_mail_suggestions.name ELSE excluded.name END, \
         last_at = CASE WHEN excluded.last_at > crm_mail_suggestions.last_at THEN excluded.last_at ELSE crm_mail_suggestions.last_at END",
    )
    .bind(user_id)
    .bind(address)
    .bind(name)
    .bind(at.as_millis())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MailSuggestionRow {
    pub address: String,
    pub name: String,
    pub sent_count: i64,
    pub last_at: i64,
}

/// Addresses written to at least `min_sent` times that are neither ignored nor a contact.
pub async fn mail_suggestions<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    min_sent: i64,
) -> sqlx::Result<Vec<MailSuggestionRow>> {
    sqlx::query_as(
        "SELECT s.address, s.name, s.sent_count, s.last_at FROM crm_mail_suggestions s \
         WHERE s.user_id = $1 AND s.ignored = 0 AND s.sent_count >= $2 AND NOT EXISTS \
         (SELECT 1 FROM crm_contact_emails e WHERE e.user_id = s.user_id AND e.email = s.address) \
         ORDER BY s.sent_count DESC, s.last_at DESC LIMIT 50",
    )
    .bind(user_id)
    .bind(min_sent)
    .fetch_all(db)
    .await
}

pub async fn ignore_mail_suggestion<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    address: &str,
) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "UPDATE crm_mail_suggestions SET ignored = 1 WHERE user_id = $1 AND address = $2",
    )
    .bind(user_id)
    .bind(address)
    .execute(db)
    .await?
    .rows_affected())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UnlinkedMessageRow {
    pub id: i64,
    pub message_key: String,
    pub sent_at: i64,
    pub direction: String,
    pub subject: String,
    /// The body when kept, else the snippet.
    pub text: String,
}

/// Messages with `address` among their participants that no interaction records yet.
pub async fn unlinked_mail_messages(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    address: &str,
) -> sqlx::Result<Vec<UnlinkedMessageRow>> {
    sqlx::query_as(
        "SELECT id, message_key, sent_at, direction, subject, COALESCE(body, snippet) AS text FROM crm_mail_messages \
         WHERE user_id = $1 AND interaction_id IS NULL AND participants LIKE $2 ESCAPE '\\' ORDER BY sent_at LIMIT 5000",
    )
    .bind(user_id)
    .bind(format!("%\n{}\n%", like_escape(address)))
    .fetch_all(&mut *tx)
    .await
}

pub async fn link_mail_message(
    tx: &mut sqlx::AnyConnection,
    id: i64,
    interaction_id: i64,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE crm_mail_messages SET interaction_id = $2 WHERE id = $1")
        .bind(id)
        .bind(interaction_id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
