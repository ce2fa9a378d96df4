use serde::Serialize;
use sqlx::{AssertSqlSafe, FromRow};

use super::Executor;
use crate::db::Dialect;
use crate::domain::Timestamp;

/// A job a worker has claimed. `attempts` counts this run and fences the result: a worker
/// whose lease expired cannot overwrite the outcome of the run that replaced it.
#[derive(Debug, Clone, FromRow)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub attempts: i64,
    pub max_attempts: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobRecord {
    pub id: i64,
    pub kind: String,
    pub status: String,
    pub run_at: Timestamp,
    pub attempts: i64,
    pub max_attempts: i64,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(FromRow)]
struct JobRow {
    id: i64,
    kind: String,
    status: String,
    run_at: i64,
    attempts: i64,
    max_attempts: i64,
    last_error: Option<String>,
    created_at: i64,
    updated_at: i64,
}

impl From<JobRow> for JobRecord {
    fn from(r: JobRow) -> Self {
        Self {
            id: r.id,
            kind: r.kind,
            status: r.status,
            run_at: Timestamp::from_millis(r.run_at),
            attempts: r.attempts,
            max_attempts: r.max_attempts,
            last_error: r.last_error,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        }
    }
}

/// Removes the jobs about `subject` that are not running (a running one re-checks its
/// subject itself).
pub async fn cancel_about<'c>(db: impl Executor<'c>, subject: &str) -> sqlx::Result<u64> {
    sqlx::query("DELETE FROM jobs WHERE subject = $1 AND status <> 'running'")
        .bind(subject)
        .execute(db)
        .await
        .map(|r| r.rows_affected())
}

#[allow(clippy::too_many_arguments)]
pub async fn insert<'c>(
    db: impl Executor<'c>,
    kind: &str,
    subject: Option<&str>,
    payload: &str,
    run_at: Timestamp,
    max_attempts: i64,
    now: Timestamp,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO jobs (kind, subject, payload, status, run_at, attempts, max_attempts, created_at, updated_at) \
         VALUES ($1, $2, $3, 'queued', $4, 0, $5, $6, $6) RETURNING id",
    )
    .bind(kind)
    .bind(subject)
    .bind(payload)
    .bind(run_at.as_millis())
    .bind(max_attempts)
    .bind(now.as_millis())
    .fetch_one(db)
    .await
}

/// Rows per multi-row insert: well inside both databases' limits on bound values.
const ROWS_PER_INSERT: usize = 500;

/// Queues one job of `kind` per payload, in multi-row inserts.
pub async fn insert_many(
    conn: &mut sqlx::AnyConnection,
    dialect: Dialect,
    kind: &str,
    payloads: &[String],
    run_at: Timestamp,
    max_attempts: i64,
    now: Timestamp,
) -> sqlx::Result<()> {
    // The literal tail holds integers only; the text is bound.
    let tail = format!(
        "'queued', {}, 0, {max_attempts}, {now}, {now}",
        run_at.as_millis(),
        now = now.as_millis()
    );
    for chunk in payloads.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO jobs (kind, payload, status, run_at, attempts, max_attempts, created_at, updated_at) VALUES {}",
            dialect.values(chunk.len(), 2, &tail)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql)).persistent(false);
        for payload in chunk {
            query = query.bind(kind).bind(payload);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Whether any job is due or stranded (a read, so idle polling never takes SQLite's write lock).
pub async fn anything_due<'c>(db: impl Executor<'c>, now: Timestamp) -> sqlx::Result<bool> {
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM jobs WHERE (status = 'queued' AND run_at <= $1) OR (status = 'running' AND lease_until < $1) LIMIT 1",
    )
    .bind(now.as_millis())
    .fetch_optional(db)
    .await?;
    Ok(found.is_some())
}

/// Claims up to `limit` due jobs: queued ones whose time has come, and running ones whose
/// worker's lease expired (that worker crashed or hung).
pub async fn claim<'c>(
    db: impl Executor<'c>,
    dialect: Dialect,
    now: Timestamp,
    lease_until: Timestamp,
    limit: i64,
) -> sqlx::Result<Vec<ClaimedJob>> {
    let sql = format!(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1, lease_until = $1, updated_at = $2 \
         WHERE id IN (SELECT id FROM jobs \
           WHERE ((status = 'queued' AND run_at <= $2) OR (status = 'running' AND lease_until < $2)) \
             AND attempts < max_attempts \
           ORDER BY run_at LIMIT $3{}) \
         RETURNING id, kind, payload, attempts, max_attempts",
        dialect.for_update_skip_locked()
    );
    sqlx::query_as::<_, ClaimedJob>(AssertSqlSafe(sql))
        .bind(lease_until.as_millis())
        .bind(now.as_millis())
        .bind(limit)
        .fetch_all(db)
        .await
}

/// Pushes a running job's lease to `until`; false if the run was superseded.
pub async fn renew_lease<'c>(
    db: impl Executor<'c>,
    id: i64,
    attempts: i64,
    until: Timestamp,
) -> sqlx::Result<bool> {
    sqlx::query(
        "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND attempts = $3 AND status = 'running'",
    )
    .bind(until.as_millis())
    .bind(id)
    .bind(attempts)
    .execute(db)
    .await
    .map(|r| r.rows_affected() > 0)
}

/// Running jobs whose lease expired on their last allowed attempt go to the dead letters.
pub async fn bury_expired<'c>(db: impl Executor<'c>, now: Timestamp) -> sqlx::Result<u64> {
    sqlx::query(
        "UPDATE jobs SET status = 'dead', lease_until = NULL, updated_at = $1, \
         last_error = COALESCE(last_error || '; ', '') || 'worker lease expired on the last attempt' \
         WHERE status = 'running' AND lease_until < $1 AND attempts >= max_attempts",
    )
    .bind(now.as_millis())
    .execute(db)
    .await
    .map(|r| r.rows_affected())
}

/// The run succeeded: the job is done and removed. False if the run had been superseded.
pub async fn complete<'c>(db: impl Executor<'c>, id: i64, attempts: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM jobs WHERE id = $1 AND attempts = $2 AND status = 'running'")
        .bind(id)
        .bind(attempts)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

/// The run failed: retry at `retry_at`, or bury it if that was the last attempt.
/// Returns the new status, or None if the run had been superseded.
pub async fn fail<'c>(
    db: impl Executor<'c>,
    id: i64,
    attempts: i64,
    error: &str,
    retry_at: Timestamp,
    now: Timestamp,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "UPDATE jobs SET status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'queued' END, \
         run_at = $1, last_error = $2, lease_until = NULL, updated_at = $3 \
         WHERE id = $4 AND attempts = $5 AND status = 'running' RETURNING status",
    )
    .bind(retry_at.as_millis())
    .bind(error)
    .bind(now.as_millis())
    .bind(id)
    .bind(attempts)
    .fetch_optional(db)
    .await
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct QueueStats {
    /// Jobs waiting, due or scheduled.
    pub queued: i64,
    /// Queued jobs whose time has come.
    pub due: i64,
    pub running: i64,
    pub dead: i64,
    /// Age in seconds of the oldest due job (0 when none is waiting).
    pub oldest_due_age_seconds: f64,
}

pub async fn stats<'c>(db: impl Executor<'c>, now: Timestamp) -> sqlx::Result<QueueStats> {
    #[derive(FromRow)]
    struct Row {
        queued: i64,
        due: i64,
        running: i64,
        dead: i64,
        oldest_due: Option<i64>,
    }
    let row = sqlx::query_as::<_, Row>(
        "SELECT \
           COUNT(CASE WHEN status = 'queued' THEN 1 END) AS queued, \
           COUNT(CASE WHEN status = 'queued' AND run_at <= $1 THEN 1 END) AS due, \
           COUNT(CASE WHEN status = 'running' THEN 1 END) AS running, \
           COUNT(CASE WHEN status = 'dead' THEN 1 END) AS dead, \
           MIN(CASE WHEN status = 'queued' AND run_at <= $1 THEN run_at END) AS oldest_due \
         FROM jobs",
    )
    .bind(now.as_millis())
    .fetch_one(db)
    .await?;
    Ok(QueueStats {
        queued: row.queued,
        due: row.due,
        running: row.running,
        dead: row.dead,
        oldest_due_age_seconds: row
            .oldest_due
            .map(|t| now.since(Timestamp::from_millis(t)).as_secs_f64())
            .unwrap_or(0.0),
    })
}

pub async fn list<'c>(
    db: impl Executor<'c>,
    status: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<JobRecord>> {
    sqlx::query_as::<_, JobRow>(
        "SELECT id, kind, status, run_at, attempts, max_attempts, last_error, created_at, updated_at \
         FROM jobs WHERE ($1 IS NULL OR status = $1) ORDER BY updated_at DESC, id DESC LIMIT $2",
    )
    .bind(status)
    .bind(limit)
    .fetch_all(db)
    .await
    .map(|rows| rows.into_iter().map(JobRecord::from).collect())
}

/// Puts a dead job back in the queue with fresh attempts.
pub async fn retry_dead<'c>(db: impl Executor<'c>, id: i64, now: Timestamp) -> sqlx::Result<bool> {
    sqlx::query(
        "UPDATE jobs SET status = 'queued', attempts = 0, run_at = $1, updated_at = $1 \
         WHERE id = $2 AND status = 'dead'",
    )
    .bind(now.as_millis())
    .bind(id)
    .execute(db)
    .await
    .map(|r| r.rows_affected() > 0)
}

pub async fn delete_dead<'c>(db: impl Executor<'c>, id: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM jobs WHERE id = $1 AND status = 'dead'")
        .bind(id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}
