//! When connected sources (mailboxes, calendar feeds, CalDAV accounts) are synced. Each row
//! has `next_sync_at` and `queued_at`: every node looks for due rows and queues one job per
//! row with a conditional update of `queued_at` in the job's own transaction, so a row is
//! never queued twice; the job clears the mark when it ends, and a mark older than
//! [`STALE_QUEUE`] (its job died) is taken over.

use std::time::Duration;

use keel_platform::domain::Timestamp;
use keel_platform::jobs::{self, Job};
use keel_platform::{AppResult, Platform};

use crate::store::{self, SyncedTable};

/// A queued sync whose job has not ended after this long is queued again.
pub const STALE_QUEUE: Duration = Duration::from_secs(30 * 60);
/// Attempts the job queue makes; failures of the sync itself are kept on the row instead.
const JOB_ATTEMPTS: i64 = 3;

/// One kind of synced source: its table and the subject its jobs are about.
pub struct Schedule<J> {
    pub table: SyncedTable,
    pub subject: &'static str,
    pub job: fn(i64) -> J,
}

impl<J: Job> Schedule<J> {
    /// `mindfulcrm.mail_account:12`: deleting the row cancels its queued jobs.
    pub fn subject(&self, id: i64) -> String {
        format!("{}:{id}", self.subject)
    }

    /// Queues a sync of `id` on `tx` unless one is queued; `force` queues it even before it
    /// is due (a new source, "Sync now").
    pub async fn queue(
        &self,
        tx: &mut sqlx::AnyConnection,
        id: i64,
        now: Timestamp,
        force: bool,
    ) -> sqlx::Result<bool> {
        if !store::mark_sync_queued(&mut *tx, self.table, id, now, now.minus(STALE_QUEUE), force)
            .await?
        {
            return Ok(false);
        }
        let job = (self.job)(id);
        jobs::enqueue_about(&mut *tx, &self.subject(id), &job, now, JOB_ATTEMPTS, now).await?;
        Ok(true)
    }

    /// Queues a sync of `id` now, in a transaction of its own.
    pub async fn queue_now(&self, platform: &Platform, id: i64) -> AppResult<()> {
        let mut tx = platform.db.begin().await?;
        self.queue(&mut tx, id, platform.now(), true).await?;
        tx.commit().await?;
        platform.job_wake.notify_one();
        Ok(())
    }

    /// Queues every due row; returns how many were queued by this node.
    pub async fn queue_due(&self, platform: &Platform) -> sqlx::Result<usize> {
        let now = platform.now();
        let due = store::due_for_sync(platform.db.pool(), self.table, now, now.minus(STALE_QUEUE))
            .await?;
        let mut queued = 0;
        for id in due {
            let mut tx = platform.db.begin().await?;
            if self.queue(&mut tx, id, now, false).await? {
                queued += 1;
            }
            tx.commit().await?;
        }
        if queued > 0 {
            platform.job_wake.notify_one();
        }
        Ok(queued)
    }

    /// Cancels the queued jobs of `id`; call it in the transaction that deletes the row.
    pub async fn cancel(&self, tx: &mut sqlx::AnyConnection, id: i64) -> sqlx::Result<()> {
        jobs::cancel_about(&mut *tx, &self.subject(id)).await?;
        Ok(())
    }
}
