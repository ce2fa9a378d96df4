//! The durable job queue: rows in `jobs`, enqueued in the same transaction as the change that
//! needs them, claimed with a lease, retried with exponential backoff and jitter, and kept as
//! dead letters after the last attempt. Safe with many workers on many nodes (Postgres
//! `SKIP LOCKED`; SQLite has one writer).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, Semaphore, watch};

use crate::clock::SharedClock;
use crate::db::Db;
use crate::domain::Timestamp;
use crate::store;

pub type JobFuture = Pin<Box<dyn Future<Output = Result<(), JobError>> + Send>>;
type Handler = Arc<dyn Fn(serde_json::Value) -> JobFuture + Send + Sync>;

pub const DEFAULT_MAX_ATTEMPTS: i64 = 8;
/// How long a claimed job is a worker's before another may take it over (`job_lease_seconds`).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(30);
/// Renewal runs every third of the lease; below this it would hammer the database.
const MIN_LEASE: Duration = Duration::from_secs(3);

/// The payload of one kind of job: a struct that says its kind, so what is enqueued in one
/// place and read in another cannot disagree.
pub trait Job: Serialize + DeserializeOwned + Send + 'static {
    const KIND: &'static str;
}

/// Why a run failed; kept in `last_error` and retried until the attempts run out.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("payload does not fit its kind: {0}")]
    Payload(#[from] serde_json::Error),
    #[error("{0}")]
    Failed(String),
}

impl From<String> for JobError {
    fn from(message: String) -> Self {
        Self::Failed(message)
    }
}

impl From<&str> for JobError {
    fn from(message: &str) -> Self {
        Self::Failed(message.to_string())
    }
}

/// Enqueues a job on `conn` — pass the transaction that makes the change needing it, so the
/// job exists if and only if the change committed.
pub async fn enqueue<'c, J: Job>(
    conn: impl store::Executor<'c>,
    job: &J,
    run_at: Timestamp,
    max_attempts: i64,
    now: Timestamp,
) -> sqlx::Result<i64> {
    let payload = to_json(job)?;
    store::jobs::insert(conn, J::KIND, None, &payload, run_at, max_attempts, now).await
}

/// Enqueues many jobs of one kind, all due at `run_at`, in multi-row inserts on `conn` (a
/// burst of work, e.g. one message per incident of an alert storm, costs a few statements
/// instead of one per job). Returns how many were queued.
pub async fn enqueue_many<J: Job>(
    conn: &mut sqlx::AnyConnection,
    dialect: crate::db::Dialect,
    jobs: &[J],
    run_at: Timestamp,
    max_attempts: i64,
    now: Timestamp,
) -> sqlx::Result<usize> {
    let payloads = jobs.iter().map(to_json).collect::<sqlx::Result<Vec<_>>>()?;
    store::jobs::insert_many(conn, dialect, J::KIND, &payloads, run_at, max_attempts, now).await?;
    Ok(payloads.len())
}

/// Like [`enqueue`], for a job about one thing that can be deleted (`subject`, e.g.
/// `openalert.webhook:12`): deleting it calls [`cancel_about`] in the same transaction.
pub async fn enqueue_about<'c, J: Job>(
    conn: impl store::Executor<'c>,
    subject: &str,
    job: &J,
    run_at: Timestamp,
    max_attempts: i64,
    now: Timestamp,
) -> sqlx::Result<i64> {
    let payload = to_json(job)?;
    store::jobs::insert(
        conn,
        J::KIND,
        Some(subject),
        &payload,
        run_at,
        max_attempts,
        now,
    )
    .await
}

fn to_json(job: &impl Serialize) -> sqlx::Result<String> {
    serde_json::to_string(job).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

/// Cancels the queued jobs about `subject`; call it in the transaction that deletes it.
pub async fn cancel_about<'c>(conn: impl store::Executor<'c>, subject: &str) -> sqlx::Result<u64> {
    store::jobs::cancel_about(conn, subject).await
}

/// Delay before retry number `attempt` (1-based): 5 s doubling to at most an hour, with
/// jitter between 50 % and 100 % so a burst of failures does not retry in lockstep.
pub fn backoff(attempt: i64) -> Duration {
    let exp = attempt.clamp(1, 20) as u32 - 1;
    let base = Duration::from_secs(5).saturating_mul(2u32.saturating_pow(exp));
    let capped = base.min(Duration::from_secs(3600));
    let jitter =
        f64::from(u16::from_le_bytes(crate::crypto::random_bytes::<2>())) / f64::from(u16::MAX);
    capped.mul_f64(0.5 + 0.5 * jitter)
}

/// Handlers by job kind, registered by the crates that own them.
#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<&'static str, Handler>,
}

impl Registry {
    /// Runs `handler` for every job of kind `J`.
    pub fn register<J, F, Fut>(&mut self, handler: F)
    where
        J: Job,
        F: Fn(J) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        self.handlers.insert(
            J::KIND,
            Arc::new(move |payload| -> JobFuture {
                match serde_json::from_value::<J>(payload) {
                    Ok(job) => Box::pin(handler(job)),
                    Err(err) => Box::pin(std::future::ready(Err(JobError::Payload(err)))),
                }
            }),
        );
    }
}

/// Runs due jobs until told to stop; then waits for the jobs in flight.
pub struct Worker {
    db: Db,
    clock: SharedClock,
    wake: Arc<Notify>,
    registry: Registry,
    concurrency: usize,
    lease: Duration,
    poll_interval: Duration,
}

impl Worker {
    pub fn new(
        db: Db,
        clock: SharedClock,
        wake: Arc<Notify>,
        registry: Registry,
        concurrency: usize,
    ) -> Self {
        Self {
            db,
            clock,
            wake,
            registry,
            concurrency: concurrency.max(1),
            lease: DEFAULT_LEASE,
            poll_interval: Duration::from_millis(500),
        }
    }

    /// How long a claimed job stays with this worker without news from it. The worker renews
    /// it while the job runs, so only a dead or stuck node lets it lapse.
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(MIN_LEASE);
        self
    }

    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let slots = Arc::new(Semaphore::new(self.concurrency));
        let registry = Arc::new(self.registry.clone());
        while !*shutdown.borrow() {
            let free = slots.available_permits();
            let claimed = if free == 0 {
                Vec::new()
            } else {
                match self.claim(free as i64).await {
                    Ok(jobs) => jobs,
                    Err(err) => {
                        tracing::warn!(error = %err, "job queue: claim failed");
                        Vec::new()
                    }
                }
            };
            let idle = claimed.is_empty();
            for job in claimed {
                let Ok(permit) = slots.clone().acquire_owned().await else {
                    break;
                };
                let db = self.db.clone();
                let clock = self.clock.clone();
                let registry = registry.clone();
                let lease = self.lease;
                tokio::spawn(async move {
                    execute(&db, &clock, &registry, lease, job).await;
                    drop(permit);
                });
            }
            if idle || slots.available_permits() == 0 {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(self.poll_interval) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        // Graceful stop: let running jobs finish (their leases protect them if we are killed).
        let _ = slots.acquire_many(self.concurrency as u32).await;
    }

    async fn claim(&self, limit: i64) -> sqlx::Result<Vec<store::jobs::ClaimedJob>> {
        let now = self.clock.now();
        if !store::jobs::anything_due(self.db.pool(), now).await? {
            return Ok(Vec::new());
        }
        let buried = store::jobs::bury_expired(self.db.pool(), now).await?;
        if buried > 0 {
            metrics::counter!("keel_jobs_dead_total").increment(buried);
        }
        let mut tx = self.db.begin().await?;
        let jobs = store::jobs::claim(
            &mut *tx,
            self.db.dialect(),
            now,
            now.plus(self.lease),
            limit,
        )
        .await?;
        tx.commit().await?;
        Ok(jobs)
    }

    /// Runs every due job once and returns how many ran; for tests and tools that drive the
    /// queue by hand with a manual clock.
    pub async fn run_due(&self) -> sqlx::Result<usize> {
        let jobs = self.claim(self.concurrency as i64).await?;
        let count = jobs.len();
        for job in jobs {
            execute(&self.db, &self.clock, &self.registry, self.lease, job).await;
        }
        Ok(count)
    }
}

async fn execute(
    db: &Db,
    clock: &SharedClock,
    registry: &Registry,
    lease: Duration,
    job: store::jobs::ClaimedJob,
) {
    let started = std::time::Instant::now();
    let outcome = match (
        registry.handlers.get(job.kind.as_str()),
        serde_json::from_str(&job.payload),
    ) {
        (None, _) => Err(format!("no handler for job kind `{}`", job.kind)),
        (_, Err(err)) => Err(format!("payload is not valid JSON: {err}")),
        (Some(handler), Ok(payload)) => renewing_lease(db, clock, lease, &job, handler(payload))
            .await
            .map_err(|e| {
                if matches!(e, JobError::Db(_)) {
                    metrics::counter!("keel_database_errors_total").increment(1);
                }
                e.to_string()
            }),
    };
    metrics::histogram!("keel_job_duration_seconds", "kind" => job.kind.clone())
        .record(started.elapsed().as_secs_f64());
    let result = match &outcome {
        Ok(()) => store::jobs::complete(db.pool(), job.id, job.attempts)
            .await
            .map(|_| ()),
        Err(error) => {
            metrics::counter!("keel_job_failures_total", "kind" => job.kind.clone()).increment(1);
            let now = clock.now();
            let retry_at = now.plus(backoff(job.attempts));
            match store::jobs::fail(db.pool(), job.id, job.attempts, error, retry_at, now).await {
                Ok(Some(status)) if status == "dead" => {
                    metrics::counter!("keel_jobs_dead_total").increment(1);
                    tracing::error!(job = job.id, kind = %job.kind, attempts = job.attempts, %error, "job failed for the last time; kept as a dead letter");
                    Ok(())
                }
                Ok(_) => {
                    tracing::warn!(job = job.id, kind = %job.kind, attempts = job.attempts, %error, "job failed; will retry");
                    Ok(())
                }
                Err(err) => Err(err),
            }
        }
    };
    if let Err(err) = result {
        // The lease will expire and the job run again: at-least-once.
        tracing::error!(job = job.id, error = %err, "job queue: could not record the outcome");
    }
}

/// Runs `work`, pushing the job's lease forward every third of it, so that a long delivery
/// keeps its job while a dead node's job is picked up by another node within one lease.
async fn renewing_lease<T>(
    db: &Db,
    clock: &SharedClock,
    lease: Duration,
    job: &store::jobs::ClaimedJob,
    work: impl Future<Output = T>,
) -> T {
    let mut work = std::pin::pin!(work);
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + lease / 3, lease / 3);
    loop {
        tokio::select! {
            done = &mut work => return done,
            _ = renew.tick() => {
                let until = clock.now().plus(lease);
                match store::jobs::renew_lease(db.pool(), job.id, job.attempts, until).await {
                    Ok(true) => {}
                    Ok(false) => tracing::warn!(job = job.id, "job lease lapsed; another worker may run it too"),
                    Err(err) => tracing::warn!(job = job.id, error = %err, "job lease could not be renewed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        for attempt in 1..30 {
            let d = backoff(attempt);
            let ceiling = Duration::from_secs(5 * 2u64.pow((attempt.min(20) - 1) as u32))
                .min(Duration::from_secs(3600));
            assert!(d <= ceiling && d >= ceiling / 2, "attempt {attempt}: {d:?}");
        }
    }
}
