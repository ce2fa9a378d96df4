//! Admin operations on the job queue (overview, retry, discard), shared by the API and the
//! admin pages; each checks that the caller is an admin and is audited.

use serde_json::json;

use crate::audit::{self, Actor};
use crate::authz;
use crate::error::{AppError, AppResult};
use crate::identity::{ClientMeta, Principal};
use crate::state::Platform;
use crate::store::jobs::{self, JobRecord, QueueStats};

pub async fn overview(
    platform: &Platform,
    principal: &Principal,
    status: Option<&str>,
) -> AppResult<(QueueStats, Vec<JobRecord>)> {
    authz::require_admin(principal)?;
    if let Some(status) = status
        && !matches!(status, "queued" | "running" | "dead")
    {
        return Err(AppError::field(
            "status",
            "must be `queued`, `running` or `dead`",
        ));
    }
    let stats = jobs::stats(platform.db.pool(), platform.now()).await?;
    let list = jobs::list(platform.db.pool(), status, 200).await?;
    Ok((stats, list))
}

/// Puts a dead job back in the queue with fresh attempts.
pub async fn retry(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    authz::require_admin(principal)?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    if !jobs::retry_dead(&mut *tx, id, now).await? {
        return Err(AppError::NotFound("dead job"));
    }
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "job.retried",
        ("job", &id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    platform.job_wake.notify_one();
    Ok(())
}

/// Discards a dead job for good.
pub async fn discard(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    authz::require_admin(principal)?;
    let mut tx = platform.db.begin().await?;
    if !jobs::delete_dead(&mut *tx, id).await? {
        return Err(AppError::NotFound("dead job"));
    }
    audit::record(
        &mut *tx,
        platform.now(),
        &Actor::user(principal, meta),
        "job.discarded",
        ("job", &id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
