//! Contact methods, personal notification rules, notifications (one message each) and
//! outgoing webhooks.

use keel_platform::domain::Timestamp;
use serde::Serialize;

use super::Executor;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactMethod {
    pub id: i64,
    pub user_id: i64,
    /// `email`, `sms`, `voice`, `webhook`, `slack`, `teams`, `mattermost` or `discord`.
    pub kind: String,
    pub label: String,
    /// Address, phone number (E.164) or webhook URL.
    pub address: String,
    /// Only verified methods are used for notifications.
    pub verified: bool,
    pub created_at: Timestamp,
}

type MethodRow = (i64, i64, String, String, String, Option<i64>, i64);

fn method_from(r: MethodRow) -> ContactMethod {
    ContactMethod {
        id: r.0,
        user_id: r.1,
        kind: r.2,
        label: r.3,
        address: r.4,
        verified: r.5.is_some(),
        created_at: Timestamp::from_millis(r.6),
    }
}

const METHOD_COLUMNS: &str = "id, user_id, kind, label, address, verified_at, created_at";

pub async fn insert_method<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    kind: &str,
    label: &str,
    address: &str,
    now: Timestamp,
) -> sqlx::Result<ContactMethod> {
    sqlx::query_as::<_, MethodRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO oa_contact_methods (user_id, kind, label, address, created_at) VALUES ($1, $2, $3, $4, $5) \
         RETURNING {METHOD_COLUMNS}"
    )))
    .bind(user_id)
    .bind(kind)
    .bind(label)
    .bind(address)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
    .map(method_from)
}

pub async fn methods_of<'c>(
    db: impl Executor<'c>,
    user_id: i64,
) -> sqlx::Result<Vec<ContactMethod>> {
    sqlx::query_as::<_, MethodRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {METHOD_COLUMNS} FROM oa_contact_methods WHERE user_id = $1 ORDER BY id"
    )))
    .bind(user_id)
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(method_from).collect())
}

pub async fn method_by_id<'c>(
    db: impl Executor<'c>,
    id: i64,
) -> sqlx::Result<Option<ContactMethod>> {
    sqlx::query_as::<_, MethodRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {METHOD_COLUMNS} FROM oa_contact_methods WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
    .map(|r| r.map(method_from))
}

/// Deletes one of a user's contact methods; messages still waiting to go through it are
/// skipped first (the row would otherwise keep its address).
pub async fn delete_method(
    db: &mut sqlx::AnyConnection,
    user_id: i64,
    id: i64,
) -> sqlx::Result<bool> {
    sqlx::query(
        "UPDATE oa_notifications SET status = 'skipped', detail = 'contact method deleted' \
         WHERE contact_method_id = $1 AND user_id = $2 AND status = 'pending'",
    )
    .bind(id)
    .bind(user_id)
    .execute(&mut *db)
    .await?;
    sqlx::query("DELETE FROM oa_contact_methods WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

/// Stores a fresh verification code (hashed); resets the attempt counter.
pub async fn set_verify_code<'c>(
    db: impl Executor<'c>,
    id: i64,
    code_hash: &str,
    expires_at: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE oa_contact_methods SET verify_code_hash = $1, verify_expires_at = $2, verify_attempts = 0 WHERE id = $3",
    )
    .bind(code_hash)
    .bind(expires_at.as_millis())
    .bind(id)
    .execute(db)
    .await
    .map(|_| ())
}

/// The stored code hash, its expiry and attempts so far; counts this attempt.
pub async fn take_verify_attempt<'c>(
    db: impl Executor<'c>,
    id: i64,
) -> sqlx::Result<Option<(Option<String>, Option<i64>, i64)>> {
    sqlx::query_as::<_, (Option<String>, Option<i64>, i64)>(
        "UPDATE oa_contact_methods SET verify_attempts = verify_attempts + 1 WHERE id = $1 \
         RETURNING verify_code_hash, verify_expires_at, verify_attempts",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn mark_verified<'c>(db: impl Executor<'c>, id: i64, now: Timestamp) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE oa_contact_methods SET verified_at = $1, verify_code_hash = NULL, verify_expires_at = NULL WHERE id = $2",
    )
    .bind(now.as_millis())
    .bind(id)
    .execute(db)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NotificationRule {
    pub id: i64,
    pub contact_method_id: i64,
    /// `high` or `low`: which incidents the rule is for.
    pub urgency: String,
    /// Minutes after being notified by an escalation level.
    pub delay_minutes: i64,
}

pub async fn insert_rule<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    contact_method_id: i64,
    urgency: &str,
    delay_minutes: i64,
    now: Timestamp,
) -> sqlx::Result<NotificationRule> {
    sqlx::query_as::<_, (i64, i64, String, i64)>(
        "INSERT INTO oa_notification_rules (user_id, contact_method_id, urgency, delay_minutes, created_at) \
         VALUES ($1, $2, $3, $4, $5) RETURNING id, contact_method_id, urgency, delay_minutes",
    )
    .bind(user_id)
    .bind(contact_method_id)
    .bind(urgency)
    .bind(delay_minutes)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
    .map(|r| NotificationRule {
        id: r.0,
        contact_method_id: r.1,
        urgency: r.2,
        delay_minutes: r.3,
    })
}

pub async fn rules_of<'c>(
    db: impl Executor<'c>,
    user_id: i64,
) -> sqlx::Result<Vec<NotificationRule>> {
    sqlx::query_as::<_, (i64, i64, String, i64)>(
        "SELECT id, contact_method_id, urgency, delay_minutes FROM oa_notification_rules WHERE user_id = $1 \
         ORDER BY urgency, delay_minutes, id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
    .map(|rows| {
        rows.into_iter()
            .map(|r| NotificationRule {
                id: r.0,
                contact_method_id: r.1,
                urgency: r.2,
                delay_minutes: r.3,
            })
            .collect()
    })
}

pub async fn delete_rule<'c>(db: impl Executor<'c>, user_id: i64, id: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM oa_notification_rules WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

/// Where to reach a user for an incident of `urgency`: their verified methods' rules as
/// (contact method id, kind, address, delay minutes). Users without any rule for the urgency
/// are reached at their account email at once, so nobody is silently unreachable.
pub async fn plan_for<'c>(
    db: impl Executor<'c>,
    user_ids: &[i64],
    urgency: &str,
) -> sqlx::Result<Vec<(i64, Option<i64>, String, String, i64)>> {
    if user_ids.is_empty() {
        return Ok(Vec::new());
    }
    let ids = user_ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    sqlx::query_as::<_, (i64, Option<i64>, String, String, i64)>(sqlx::AssertSqlSafe(format!(
        "SELECT r.user_id, m.id, m.kind, m.address, r.delay_minutes FROM oa_notification_rules r \
         JOIN oa_contact_methods m ON m.id = r.contact_method_id JOIN users ru ON ru.id = r.user_id \
         WHERE r.user_id IN ({ids}) AND r.urgency = $1 AND m.verified_at IS NOT NULL AND ru.disabled_at IS NULL \
         UNION ALL \
         SELECT u.id, NULL, 'email', u.email, 0 FROM users u WHERE u.id IN ({ids}) AND u.disabled_at IS NULL \
         AND NOT EXISTS (SELECT 1 FROM oa_notification_rules r2 JOIN oa_contact_methods m2 ON m2.id = r2.contact_method_id \
             WHERE r2.user_id = u.id AND r2.urgency = $1 AND m2.verified_at IS NOT NULL) \
         ORDER BY 1, 5"
    )))
    .persistent(false)
    .bind(urgency)
    .fetch_all(db)
    .await
}

// ---- notifications ----

pub struct NewNotification<'a> {
    pub incident_id: Option<i64>,
    pub user_id: i64,
    pub contact_method_id: Option<i64>,
    pub kind: &'a str,
    pub address: &'a str,
    pub reason: &'a str,
    pub escalation_step: Option<i64>,
    /// The schedule that put the person on call, if one did.
    pub schedule_id: Option<i64>,
    pub due_at: Timestamp,
}

pub async fn insert_notification<'c>(
    db: impl Executor<'c>,
    n: &NewNotification<'_>,
    now: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO oa_notifications (incident_id, user_id, contact_method_id, kind, address, reason, escalation_step, schedule_id, status, due_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending', $9, $10) RETURNING id",
    )
    .bind(n.incident_id)
    .bind(n.user_id)
    .bind(n.contact_method_id)
    .bind(n.kind)
    .bind(n.address)
    .bind(n.reason)
    .bind(n.escalation_step)
    .bind(n.schedule_id)
    .bind(n.due_at.as_millis())
    .bind(now.as_millis())
    .fetch_one(db)
    .await
}

/// The same notification (`n`, whose `incident_id` is ignored) about each incident of
/// `incident_ids`, in one statement; returns the new rows' ids.
pub async fn insert_notification_for_each<'c>(
    db: impl Executor<'c>,
    incident_ids: &[i64],
    n: &NewNotification<'_>,
    now: Timestamp,
) -> sqlx::Result<Vec<i64>> {
    if incident_ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "INSERT INTO oa_notifications (incident_id, user_id, contact_method_id, kind, address, reason, escalation_step, schedule_id, status, due_at, created_at) \
         SELECT id, $1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9 FROM oa_incidents WHERE id IN ({}) ORDER BY id RETURNING id",
        super::id_list(incident_ids)
    )))
    .persistent(false)
    .bind(n.user_id)
    .bind(n.contact_method_id)
    .bind(n.kind)
    .bind(n.address)
    .bind(n.reason)
    .bind(n.escalation_step)
    .bind(n.schedule_id)
    .bind(n.due_at.as_millis())
    .bind(now.as_millis())
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Notification {
    pub id: i64,
    pub incident_id: Option<i64>,
    pub user_id: i64,
    pub user_name: String,
    pub kind: String,
    pub address: String,
    /// `escalation`, `reassigned`, `test` or `verification`.
    pub reason: String,
    /// `pending`, `sent`, `failed`, `skipped` or `bundled`.
    pub status: String,
    pub attempts: i64,
    pub detail: String,
    #[schema(value_type = i64)]
    pub due_at: i64,
    #[schema(value_type = Option<i64>)]
    pub sent_at: Option<i64>,
    /// The method it goes through; null for the account-email fallback.
    #[serde(skip)]
    pub contact_method_id: Option<i64>,
}

const NOTIFICATION_SELECT: &str = "SELECT n.id, n.incident_id, n.user_id, u.name AS user_name, n.kind, n.address, n.reason, \
    n.status, n.attempts, n.detail, n.due_at, n.sent_at, n.contact_method_id FROM oa_notifications n JOIN users u ON u.id = n.user_id";

pub async fn notification_by_id<'c>(
    db: impl Executor<'c>,
    id: i64,
) -> sqlx::Result<Option<Notification>> {
    sqlx::query_as::<_, Notification>(sqlx::AssertSqlSafe(format!(
        "{NOTIFICATION_SELECT} WHERE n.id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

pub async fn notifications_of_incident<'c>(
    db: impl Executor<'c>,
    incident_id: i64,
) -> sqlx::Result<Vec<Notification>> {
    sqlx::query_as::<_, Notification>(sqlx::AssertSqlSafe(format!(
        "{NOTIFICATION_SELECT} WHERE n.incident_id = $1 ORDER BY n.id"
    )))
    .bind(incident_id)
    .fetch_all(db)
    .await
}

/// Settles a pending notification; false if it was no longer pending.
pub async fn finish<'c>(
    db: impl Executor<'c>,
    id: i64,
    status: &str,
    detail: &str,
    now: Timestamp,
) -> sqlx::Result<bool> {
    sqlx::query(
        "UPDATE oa_notifications SET status = $1, detail = $2, attempts = attempts + 1, \
         sent_at = CASE WHEN $1 = 'sent' THEN $3 ELSE sent_at END WHERE id = $4 AND status = 'pending'",
    )
    .bind(status)
    .bind(detail)
    .bind(now.as_millis())
    .bind(id)
    .execute(db)
    .await
    .map(|r| r.rows_affected() > 0)
}

/// Records a failed attempt that will be retried (its place in the minute's messages is
/// given back).
pub async fn record_attempt<'c>(db: impl Executor<'c>, id: i64, detail: &str) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "UPDATE oa_notifications SET attempts = attempts + 1, detail = $1, sent_at = NULL WHERE id = $2 RETURNING attempts",
    )
    .bind(detail)
    .bind(id)
    .fetch_one(db)
    .await
}

/// The last attempt failed: the notification is given up.
pub async fn give_up<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<bool> {
    sqlx::query(
        "UPDATE oa_notifications SET status = 'failed', sent_at = NULL WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .execute(db)
    .await
    .map(|r| r.rows_affected() > 0)
}

/// Takes a place among the messages an address may get this minute: `sent_at` is set while
/// the row is still pending, so every node counts it before it goes out.
pub async fn reserve_send<'c>(
    db: impl Executor<'c>,
    id: i64,
    now: Timestamp,
) -> sqlx::Result<bool> {
    sqlx::query("UPDATE oa_notifications SET sent_at = $1 WHERE id = $2 AND status = 'pending'")
        .bind(now.as_millis())
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

/// Messages sent to an address since `since`, or about to be, other than notification
/// `except` (for throttling; a retry must not count its own earlier place).
pub async fn sent_since<'c>(
    db: impl Executor<'c>,
    kind: &str,
    address: &str,
    since: Timestamp,
    except: i64,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM oa_notifications WHERE kind = $1 AND address = $2 AND sent_at >= $3 AND id <> $4",
    )
    .bind(kind)
    .bind(address)
    .bind(since.as_millis())
    .bind(except)
    .fetch_one(db)
    .await
}

/// Claims every held-back notification to an address whose incident is still triggered:
/// marks them bundled (only rows still pending, so two summary jobs cannot both claim one)
/// and returns their incidents' numbers and titles. Held rows of incidents acknowledged or
/// resolved meanwhile were already skipped by that change. [`unbundle`] undoes a claim whose
/// summary could not be sent.
pub async fn take_held(
    tx: &mut sqlx::AnyConnection,
    kind: &str,
    address: &str,
    now: Timestamp,
) -> sqlx::Result<Vec<(i64, String)>> {
    let ids: Vec<Option<i64>> = sqlx::query_scalar(
        "UPDATE oa_notifications SET status = 'bundled', detail = 'sent in a summary', sent_at = $1 \
         WHERE kind = $2 AND address = $3 AND status = 'pending' AND detail = 'held' \
         AND incident_id IN (SELECT id FROM oa_incidents WHERE status = 'triggered') RETURNING incident_id",
    )
    .bind(now.as_millis())
    .bind(kind)
    .bind(address)
    .fetch_all(&mut *tx)
    .await?;
    let ids: Vec<String> = ids.into_iter().flatten().map(|id| id.to_string()).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT number, title FROM oa_incidents WHERE id IN ({}) ORDER BY number",
        ids.join(",")
    )))
    .persistent(false)
    .fetch_all(&mut *tx)
    .await
}

/// Puts claimed notifications back on hold (their summary failed to send).
pub async fn unbundle<'c>(
    db: impl Executor<'c>,
    kind: &str,
    address: &str,
    at: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE oa_notifications SET status = 'pending', detail = 'held', sent_at = NULL \
         WHERE kind = $1 AND address = $2 AND status = 'bundled' AND sent_at = $3",
    )
    .bind(kind)
    .bind(address)
    .bind(at.as_millis())
    .execute(db)
    .await
    .map(|_| ())
}

/// Holds a notification back for the next summary.
pub async fn hold<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<bool> {
    sqlx::query("UPDATE oa_notifications SET detail = 'held', sent_at = NULL WHERE id = $1 AND status = 'pending'")
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

// ---- outgoing webhooks ----

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: i64,
    pub team_id: i64,
    /// Only this service's incidents; null for every service of the team.
    pub service_id: Option<i64>,
    pub url: String,
    /// Incident event kinds sent (`triggered`, `acknowledged`, `resolved`, `escalated`, `note`…).
    pub events: Vec<String>,
    pub created_at: Timestamp,
    #[serde(skip)]
    pub secret_salt: String,
}

type WebhookRow = (i64, i64, Option<i64>, String, String, String, i64);

fn webhook_from(r: WebhookRow) -> Webhook {
    Webhook {
        id: r.0,
        team_id: r.1,
        service_id: r.2,
        url: r.3,
        events: serde_json::from_str(&r.4).unwrap_or_default(),
        secret_salt: r.5,
        created_at: Timestamp::from_millis(r.6),
    }
}

const WEBHOOK_COLUMNS: &str = "id, team_id, service_id, url, events, secret_salt, created_at";

pub async fn insert_webhook<'c>(
    db: impl Executor<'c>,
    team_id: i64,
    service_id: Option<i64>,
    url: &str,
    events: &[String],
    secret_salt: &str,
    now: Timestamp,
) -> sqlx::Result<Webhook> {
    let events = serde_json::to_string(events).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query_as::<_, WebhookRow>(sqlx::AssertSqlSafe(format!(
        "INSERT INTO oa_webhooks (team_id, service_id, url, events, secret_salt, created_at) VALUES ($1, $2, $3, $4, $5, $6) \
         RETURNING {WEBHOOK_COLUMNS}"
    )))
    .bind(team_id)
    .bind(service_id)
    .bind(url)
    .bind(events)
    .bind(secret_salt)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
    .map(webhook_from)
}

pub async fn webhooks<'c>(
    db: impl Executor<'c>,
    teams: Option<&[i64]>,
) -> sqlx::Result<Vec<Webhook>> {
    let rows = sqlx::query_as::<_, WebhookRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {WEBHOOK_COLUMNS} FROM oa_webhooks WHERE disabled_at IS NULL ORDER BY id"
    )))
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(webhook_from)
        .filter(|w| teams.is_none_or(|t| t.contains(&w.team_id)))
        .collect())
}

pub async fn webhook_by_id<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<Option<Webhook>> {
    sqlx::query_as::<_, WebhookRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {WEBHOOK_COLUMNS} FROM oa_webhooks WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
    .map(|r| r.map(webhook_from))
}

pub async fn delete_webhook(db: &mut sqlx::AnyConnection, id: i64) -> sqlx::Result<bool> {
    keel_platform::jobs::cancel_about(&mut *db, &webhook_subject(id)).await?;
    sqlx::query("DELETE FROM oa_webhooks WHERE id = $1")
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

/// What a webhook's delivery jobs are about, so deleting it cancels them.
pub fn webhook_subject(id: i64) -> String {
    format!("openalert.webhook:{id}")
}

/// Incident log entries after `cursor` with the incident's team and service, in id order.
/// A position in the timeline's commit order: (writing transaction, entry id).
pub type LogPosition = (i64, i64);

/// A timeline entry as outgoing webhooks see it.
#[derive(Debug, sqlx::FromRow)]
pub struct LogEntry {
    pub id: i64,
    pub tx_id: i64,
    pub incident_id: i64,
    pub team_id: i64,
    pub service_id: i64,
    pub kind: String,
    pub message: String,
    pub at: i64,
}

/// Timeline entries after `after` in commit order, written by transactions below `horizon`.
pub async fn log_after<'c>(
    db: impl Executor<'c>,
    after: LogPosition,
    horizon: i64,
    limit: i64,
) -> sqlx::Result<Vec<LogEntry>> {
    sqlx::query_as(
        "SELECT l.id, l.tx_id, l.incident_id, s.team_id, s.id AS service_id, l.kind, l.message, l.at \
         FROM oa_incident_log l \
         JOIN oa_incidents i ON i.id = l.incident_id JOIN oa_services s ON s.id = i.service_id \
         WHERE (l.tx_id > $1 OR (l.tx_id = $1 AND l.id > $2)) AND l.tx_id < $3 \
         ORDER BY l.tx_id, l.id LIMIT $4",
    )
    .bind(after.0)
    .bind(after.1)
    .bind(horizon)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Where the webhook dispatcher stands in the timeline.
pub async fn webhook_cursor<'c>(db: impl Executor<'c>) -> sqlx::Result<LogPosition> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT name, value FROM oa_counters WHERE name IN ('webhook_log_cursor_tx', 'webhook_log_cursor')",
    )
    .fetch_all(db)
    .await?;
    let value = |name: &str| rows.iter().find(|(n, _)| n == name).map_or(0, |(_, v)| *v);
    Ok((value("webhook_log_cursor_tx"), value("webhook_log_cursor")))
}

/// Moves the dispatcher from `from` to `to`, if no other node moved it first. Entry ids are
/// unique, so comparing the id half is enough.
pub async fn advance_webhook_cursor(
    tx: &mut sqlx::AnyConnection,
    from: LogPosition,
    to: LogPosition,
) -> sqlx::Result<bool> {
    let moved = sqlx::query(
        "UPDATE oa_counters SET value = $1 WHERE name = 'webhook_log_cursor' AND value = $2",
    )
    .bind(to.1)
    .bind(from.1)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if moved == 0 {
        return Ok(false);
    }
    sqlx::query("UPDATE oa_counters SET value = $1 WHERE name = 'webhook_log_cursor_tx'")
        .bind(to.0)
        .execute(&mut *tx)
        .await?;
    Ok(true)
}
