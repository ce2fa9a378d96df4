//! Paging: who a level's targets stand for right now, and the messages a page queues (one
//! notification row and one delivery job per message of each person's plan). Used by the
//! escalation engine and by reassignment.

use keel_platform::domain::Timestamp;
use keel_platform::jobs;
use keel_platform::{AppResult, Platform};

use crate::store::escalation::{self as store, Target};
use crate::store::notify::{self as notify_store, NewNotification};

/// Attempts per message before it is recorded as failed.
pub const NOTIFY_ATTEMPTS: i64 = 5;

/// Someone a level pages, and the schedule that put them on call (if one did).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recipient {
    pub user_id: i64,
    pub schedule_id: Option<i64>,
}

impl Recipient {
    /// Someone paged directly, not through a schedule.
    pub fn person(user_id: i64) -> Self {
        Self {
            user_id,
            schedule_id: None,
        }
    }
}

/// Who is paged and why: the same for every incident of a call to [`queue_notifications`].
pub struct Paging<'a> {
    pub recipients: &'a [Recipient],
    pub urgency: &'a str,
    /// `escalation` or `reassigned`.
    pub reason: &'a str,
    /// The escalation step that pages, if one does.
    pub escalation_step: Option<i64>,
}

/// One notification row and delivery job per message of each recipient's plan, for each
/// incident of `incident_ids`, in `tx`: a few statements per message of the plan, whatever
/// the number of incidents. Returns how many messages were queued.
pub async fn queue_notifications(
    tx: &mut sqlx::AnyConnection,
    dialect: keel_platform::db::Dialect,
    incident_ids: &[i64],
    paging: &Paging<'_>,
    now: Timestamp,
) -> AppResult<usize> {
    let users: Vec<i64> = paging.recipients.iter().map(|r| r.user_id).collect();
    let plan = notify_store::plan_for(&mut *tx, &users, paging.urgency).await?;
    let mut queued = 0;
    for (user_id, method_id, kind, address, delay) in &plan {
        let schedule_id = paging
            .recipients
            .iter()
            .find(|r| r.user_id == *user_id)
            .and_then(|r| r.schedule_id);
        let due_at = now.plus(std::time::Duration::from_secs(*delay as u64 * 60));
        let ids = notify_store::insert_notification_for_each(
            &mut *tx,
            incident_ids,
            &NewNotification {
                incident_id: None,
                user_id: *user_id,
                contact_method_id: *method_id,
                kind,
                address,
                reason: paging.reason,
                escalation_step: paging.escalation_step,
                schedule_id,
                due_at,
            },
            now,
        )
        .await?;
        let jobs: Vec<_> = ids
            .into_iter()
            .map(crate::notify::NotifyJob::about_incident)
            .collect();
        queued +=
            jobs::enqueue_many(&mut *tx, dialect, &jobs, due_at, NOTIFY_ATTEMPTS, now).await?;
    }
    Ok(queued)
}

/// The people a level's targets stand for right now, each once, in target order.
pub async fn resolve_targets(
    platform: &Platform,
    targets: &[Target],
    now: Timestamp,
) -> AppResult<Vec<i64>> {
    Ok(resolve_recipients(platform, targets, now)
        .await?
        .into_iter()
        .map(|r| r.user_id)
        .collect())
}

/// Like [`resolve_targets`], with the schedule that brought each person in: the first target
/// naming them decides.
pub async fn resolve_recipients(
    platform: &Platform,
    targets: &[Target],
    now: Timestamp,
) -> AppResult<Vec<Recipient>> {
    let mut recipients: Vec<Recipient> = Vec::new();
    for target in targets {
        let (found, schedule_id) = match *target {
            Target::User(id) => (vec![id], None),
            Target::Schedule(id) => (
                crate::oncall::on_call_at(platform, id, now).await?,
                Some(id),
            ),
            Target::Team(id) => (store::team_members(platform.db.pool(), id).await?, None),
        };
        for user_id in found {
            if !recipients.iter().any(|r| r.user_id == user_id) {
                recipients.push(Recipient {
                    user_id,
                    schedule_id,
                });
            }
        }
    }
    // A disabled account can neither be reached nor act: it takes no place in a level.
    let users: Vec<i64> = recipients.iter().map(|r| r.user_id).collect();
    let active = crate::oncall::active_users(platform, &users).await?;
    recipients.retain(|r| active.contains(&r.user_id));
    Ok(recipients)
}
