//! Telling subscribers: a notice job per update (or per status change made without an
//! incident, when the page says so) fans out into one delivery job per interested subscriber,
//! so each address is retried on its own. E-mails carry one-click unsubscribe; webhooks are
//! signed like OpenAlert's outgoing webhooks.

use keel_platform::jobs::{self, Job, JobError};
use keel_platform::mail::OutgoingMail;
use keel_platform::{AppResult, Platform};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::events::{Change, Event, one_event};
use super::public;
use super::subscribers::{interested, manage_url, webhook_salt};
use crate::store::status::{self as store, PageKey, StatusPage};
use crate::store::status_subscribers::{self as subscribers, Subscriber};

/// Something subscribers of a page should hear about.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notice {
    pub page_id: i64,
    /// An incident's or maintenance's update…
    pub event_id: Option<i64>,
    pub update_id: Option<i64>,
    /// …or a status change made without one.
    pub change: Option<Change>,
    /// When it happened: only subscribers confirmed by then hear of it.
    pub at: keel_platform::domain::Timestamp,
}

impl Job for Notice {
    const KIND: &'static str = "openalert.status_notice";
}

/// One subscriber's copy of a notice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub subscriber_id: i64,
    pub notice: Notice,
}

impl Job for Delivery {
    const KIND: &'static str = "openalert.status_delivery";
}

/// Queues a notice in the transaction of the change it tells about.
pub async fn queue<'c>(
    conn: impl keel_platform::store::Executor<'c>,
    notice: &Notice,
    now: keel_platform::domain::Timestamp,
) -> sqlx::Result<i64> {
    jobs::enqueue(conn, notice, now, jobs::DEFAULT_MAX_ATTEMPTS, now).await
}

/// The components a notice concerns (none: the whole page).
async fn concerned(platform: &Platform, notice: &Notice) -> AppResult<(Vec<i64>, Option<Event>)> {
    if let Some(change) = &notice.change {
        return Ok((vec![change.component_id], None));
    }
    let Some(event_id) = notice.event_id else {
        return Ok((Vec::new(), None));
    };
    let event = one_event(platform, notice.page_id, event_id).await?;
    Ok((event.component_ids.clone(), Some(event)))
}

/// The notice job: one delivery job per confirmed, interested subscriber.
pub async fn fan_out(platform: &Platform, notice: &Notice) -> Result<(), JobError> {
    let (components, _) = match concerned(platform, notice).await {
        Ok(found) => found,
        // The event was deleted meanwhile: nothing to tell.
        Err(keel_platform::AppError::NotFound(_)) => return Ok(()),
        Err(err) => return Err(JobError::Failed(err.to_string())),
    };
    let list = subscribers::of_page(platform.db.pool(), notice.page_id, true).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let mut queued = 0;
    let confirmed_in_time = |s: &&Subscriber| s.confirmed_at.is_some_and(|c| c <= notice.at);
    for s in list
        .iter()
        .filter(confirmed_in_time)
        .filter(|s| interested(s, &components))
    {
        let job = Delivery {
            subscriber_id: s.id,
            notice: notice.clone(),
        };
        jobs::enqueue(&mut *tx, &job, now, jobs::DEFAULT_MAX_ATTEMPTS, now).await?;
        queued += 1;
    }
    tx.commit().await?;
    if queued > 0 {
        platform.job_wake.notify_one();
    }
    tracing::info!(
        page_id = notice.page_id,
        subscribers = queued,
        "status notice fanned out"
    );
    Ok(())
}

/// What a notice says, in words and as JSON.
struct Message {
    subject: String,
    text: String,
    payload: serde_json::Value,
}

fn status_words(status: &str) -> String {
    let mut words = status.replace('_', " ");
    if let Some(first) = words.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    words
}

fn message(
    platform: &Platform,
    page: &StatusPage,
    notice: &Notice,
    event: Option<&Event>,
) -> Option<Message> {
    let url = public::page_url(platform, page);
    let page_json = json!({"id": page.id.to_string(), "name": page.name, "url": url});
    if let Some(change) = &notice.change {
        return Some(Message {
            subject: format!(
                "[{}] {}: {}",
                page.name,
                change.name,
                change.new_status.label()
            ),
            text: format!(
                "{} is now {} (was {}).\n\nCurrent status: {url}\n",
                change.name,
                change.new_status.label().to_lowercase(),
                change.old_status.label().to_lowercase(),
            ),
            payload: json!({
                "page": page_json,
                "component_update": {
                    "component_id": change.component_id.to_string(),
                    "old_status": change.old_status,
                    "new_status": change.new_status,
                },
                "component": {"id": change.component_id.to_string(), "name": change.name, "status": change.new_status},
            }),
        });
    }
    let event = event?;
    let update = event
        .updates
        .iter()
        .find(|u| Some(u.id) == notice.update_id)
        .or(event.updates.first())?;
    let link = format!("{url}/incidents/{}", event.id);
    let kind = if event.is_maintenance() {
        "Maintenance"
    } else {
        "Incident"
    };
    let mut text = format!(
        "{kind}: {}\nStatus: {}\n\n{}\n",
        event.name,
        status_words(&update.status),
        update.body
    );
    for c in &update.changes {
        text.push_str(&format!(
            "\n{}: {} → {}",
            c.name,
            c.old_status.label(),
            c.new_status.label()
        ));
    }
    if let (Some(from), Some(until)) = (event.scheduled_for, event.scheduled_until) {
        text.push_str(&format!("\nScheduled from {from} until {until} (UTC)."));
    }
    text.push_str(&format!("\n\nDetails: {link}\n"));
    let mut subject = format!(
        "[{}] {}: {}",
        page.name,
        event.name,
        status_words(&update.status)
    );
    if subject.chars().count() > 180 {
        subject = subject.chars().take(179).collect::<String>() + "…";
    }
    Some(Message {
        subject,
        text,
        payload: json!({
            "page": page_json,
            "incident": {
                "id": event.id.to_string(),
                "kind": event.kind,
                "name": event.name,
                "status": event.status,
                "impact": event.impact,
                "shortlink": link,
                "scheduled_for": event.scheduled_for,
                "scheduled_until": event.scheduled_until,
                "update": {
                    "id": update.id.to_string(),
                    "status": update.status,
                    "body": update.body,
                    "created_at": update.created_at,
                    "affected_components": update.changes,
                },
            },
        }),
    })
}

/// The delivery job: one e-mail or one signed webhook call.
pub async fn deliver(platform: &Platform, job: &Delivery) -> Result<(), JobError> {
    let pool = platform.db.pool();
    // Unsubscribed, or the page is gone: nothing to send.
    let Some(s) = subscribers::by_id(pool, job.subscriber_id).await? else {
        return Ok(());
    };
    let Some(page) = store::page(pool, PageKey::Id(job.notice.page_id)).await? else {
        return Ok(());
    };
    if s.page_id != page.id || s.confirmed_at.is_none() {
        return Ok(());
    }
    let event = match concerned(platform, &job.notice).await {
        Ok((_, event)) => event,
        Err(keel_platform::AppError::NotFound(_)) => return Ok(()),
        Err(err) => return Err(JobError::Failed(err.to_string())),
    };
    let Some(message) = message(platform, &page, &job.notice, event.as_ref()) else {
        return Ok(());
    };
    match s.kind.as_str() {
        "email" => send_mail(platform, &page, &s, message).await,
        _ => send_webhook(platform, &page, &s, message).await,
    }
}

async fn send_mail(
    platform: &Platform,
    page: &StatusPage,
    s: &Subscriber,
    message: Message,
) -> Result<(), JobError> {
    let manage = manage_url(platform, page, s);
    let mail = OutgoingMail {
        to: s.address.clone(),
        subject: message.subject,
        text: format!(
            "{}\n--\nYou subscribed to {} status.\nChoose components: {manage}\nUnsubscribe: {manage}/unsubscribe\n",
            message.text, page.name
        ),
        html: None,
        unsubscribe: Some(format!("{manage}/unsubscribe")),
    };
    platform.mailer.send(&mail).await.map_err(JobError::Failed)
}

async fn send_webhook(
    platform: &Platform,
    page: &StatusPage,
    s: &Subscriber,
    message: Message,
) -> Result<(), JobError> {
    let mut payload = message.payload;
    payload["meta"] = json!({
        "unsubscribe": format!("{}/unsubscribe", manage_url(platform, page, s)),
        "generated_at": platform.now(),
    });
    let body = serde_json::to_string(&payload)?;
    let timestamp = platform.now().as_millis() / 1000;
    let signature = crate::notify::webhook_signature(platform, &webhook_salt(s), timestamp, &body);
    let request = platform
        .outbound
        .post(&s.address)
        .header("content-type", "application/json")
        .header("x-keel-timestamp", timestamp.to_string())
        .header("x-keel-signature", format!("v1={signature}"))
        .body(body);
    platform
        .outbound
        .expect_success(request)
        .await
        .map_err(|e| JobError::Failed(e.to_string()))
}
