//! MindfulCRM's background cycle, once a minute on every node: ended calendar events become
//! interactions, and each user who asked for it gets one digest mail a day at their local
//! hour. Every few seconds, connected mailboxes, calendar feeds and CalDAV accounts that are due get a job. All of them
//! claim their work with conditional updates, so nodes never do it twice.

use std::time::Duration;

use keel_platform::Platform;
use keel_platform::domain::Timestamp;
use keel_platform::mail::{self, OutgoingMail};
use tokio::sync::watch;

use crate::settings::Settings;

pub const CYCLE: Duration = Duration::from_secs(60);

pub async fn run(platform: Platform, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(CYCLE);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut mail_tick = tokio::time::interval(crate::mailbox::SCHEDULER_TICK);
    mail_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(err) = cycle(&platform).await {
                    tracing::warn!(error = %err, "mindfulcrm cycle failed");
                }
            }
            _ = mail_tick.tick() => {
                if let Err(err) = crate::mailbox::SCHEDULE.queue_due(&platform).await {
                    tracing::warn!(error = %err, "queueing mailbox syncs failed");
                }
                if let Err(err) = crate::calendar_feeds::SCHEDULE.queue_due(&platform).await {
                    tracing::warn!(error = %err, "queueing calendar feed refreshes failed");
                }
                if let Err(err) = crate::caldav::SCHEDULE.queue_due(&platform).await {
                    tracing::warn!(error = %err, "queueing CalDAV syncs failed");
                }
            }
            _ = shutdown.changed() => return,
        }
    }
}

/// One pass: events first, so a digest counts the interactions they became.
pub async fn cycle(platform: &Platform) -> sqlx::Result<()> {
    crate::calendar::process_ended(platform).await?;
    send_digests(platform).await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct DigestUser {
    user_id: i64,
    email: String,
    name: String,
    time_zone: String,
    digest_hour: i64,
    digest_sent_on: Option<String>,
}

/// Sends each due digest; returns how many were queued.
pub async fn send_digests(platform: &Platform) -> sqlx::Result<usize> {
    let now = platform.now();
    let users: Vec<DigestUser> = sqlx::query_as(
        "SELECT s.user_id, u.email, u.name, s.time_zone, s.digest_hour, s.digest_sent_on FROM crm_settings s \
         JOIN users u ON u.id = s.user_id WHERE s.digest_enabled = 1 AND u.disabled_at IS NULL",
    )
    .fetch_all(platform.db.pool())
    .await?;
    let mut sent = 0;
    for user in users {
        let settings = Settings {
            time_zone: user.time_zone.clone(),
            digest_hour: user.digest_hour,
            ..Settings::default()
        };
        let local = settings.local(now);
        let today = local.date().to_string();
        if i64::from(local.hour()) < user.digest_hour
            || user.digest_sent_on.as_deref() == Some(today.as_str())
        {
            continue;
        }
        let end_of_day = local
            .date()
            .tomorrow()
            .map_or(now.as_millis() + 86_400_000, |d| settings.start_of_day(d));
        let mut tx = platform.db.begin().await?;
        let claimed = sqlx::query(
            "UPDATE crm_settings SET digest_sent_on = $1 WHERE user_id = $2 \
             AND (digest_sent_on IS NULL OR digest_sent_on <> $1)",
        )
        .bind(&today)
        .bind(user.user_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            continue;
        }
        if let Some(text) = digest_text(&mut tx, &user, now, end_of_day).await? {
            mail::queue(
                &mut *tx,
                &platform.secret,
                &OutgoingMail {
                    to: user.email.clone(),
                    subject: format!("Your MindfulCRM day, {today}"),
                    text,
                    html: None,
                    unsubscribe: None,
                },
                now,
            )
            .await?;
            sent += 1;
        }
        tx.commit().await?;
    }
    Ok(sent)
}

/// The digest body, or `None` when there is nothing to say (no mail is better than an empty one).
async fn digest_text(
    tx: &mut sqlx::AnyConnection,
    user: &DigestUser,
    now: Timestamp,
    end_of_day: i64,
) -> sqlx::Result<Option<String>> {
    let due: Vec<(String, Option<i64>)> = sqlx::query_as(
        "SELECT display_name, last_interaction_at FROM crm_contacts WHERE user_id = $1 AND stage <> 'archived' \
         AND cadence_days IS NOT NULL AND (last_interaction_at IS NULL OR last_interaction_at + cadence_days * 86400000 <= $2) \
         ORDER BY COALESCE(last_interaction_at, 0), display_name LIMIT 20",
    )
    .bind(user.user_id)
    .bind(now.as_millis())
    .fetch_all(&mut *tx)
    .await?;
    let tasks: Vec<(String, i64)> = sqlx::query_as(
        "SELECT title, due_at FROM crm_tasks WHERE user_id = $1 AND status = 'open' AND due_at IS NOT NULL AND due_at < $2 \
         ORDER BY due_at LIMIT 20",
    )
    .bind(user.user_id)
    .bind(end_of_day)
    .fetch_all(&mut *tx)
    .await?;
    if due.is_empty() && tasks.is_empty() {
        return Ok(None);
    }
    let mut text = format!("Hello {},\n\n", user.name);
    if !due.is_empty() {
        text.push_str("Time to reconnect with:\n");
        for (name, last) in &due {
            let last = last.map_or("never in touch yet".to_string(), |t| {
                format!(
                    "last in touch {} days ago",
                    (now.as_millis() - t) / 86_400_000
                )
            });
            text.push_str(&format!("  - {name} ({last})\n"));
        }
        text.push('\n');
    }
    if !tasks.is_empty() {
        text.push_str("Tasks due today or overdue:\n");
        for (title, due_at) in &tasks {
            let when = if *due_at < now.as_millis() {
                "overdue"
            } else {
                "today"
            };
            text.push_str(&format!("  - {title} ({when})\n"));
        }
        text.push('\n');
    }
    text.push_str("Turn this mail off under MindfulCRM settings.\n");
    Ok(Some(text))
}
