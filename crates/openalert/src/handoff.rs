//! Handoff notices: a mail to each person shortly before their on-call shift starts and when
//! it has ended. Runs from the engine once a minute; a row per notice (inserted only if new)
//! makes each notice go out once, whichever node sees it first.

use std::time::Duration;

use keel_platform::domain::Timestamp;
use keel_platform::mail::{self, OutgoingMail};
use keel_platform::{AppResult, Platform};

use crate::domain::schedule::per_person;
use crate::store::schedules as store;

/// How long before a shift starts its person is told.
pub const LEAD: Duration = Duration::from_secs(15 * 60);
/// How far back a missed notice (server down) is still sent.
const GRACE: Duration = Duration::from_secs(10 * 60);

/// Sends the notices due now; returns how many were queued here.
pub async fn run(platform: &Platform) -> AppResult<usize> {
    let now = platform.now();
    // A day either side, so the shifts around now are seen whole, not clipped.
    let from = now.minus(Duration::from_secs(86_400));
    let to = now.plus(Duration::from_secs(86_400));
    let mut queued = 0;
    for listed in store::list_schedules(platform.db.pool(), None).await? {
        let mut conn = platform.db.pool().acquire().await?;
        let Some(schedule) = store::schedule_by_id(&mut conn, listed.id).await? else {
            continue;
        };
        drop(conn);
        let spans = crate::oncall::timeline(platform, &schedule, from, to).await?;
        for shift in per_person(&spans) {
            let starts = Timestamp::from_millis(shift.starts_at);
            let ends = Timestamp::from_millis(shift.ends_at);
            if starts > now && starts <= now.plus(LEAD) {
                queued +=
                    notice(platform, &schedule, shift.user_id, "starts", starts, ends).await?;
            }
            if ends <= now && ends > now.minus(GRACE) {
                queued += notice(platform, &schedule, shift.user_id, "ended", starts, ends).await?;
            }
        }
    }
    if queued > 0 {
        platform.job_wake.notify_one();
    }
    Ok(queued)
}

async fn notice(
    platform: &Platform,
    schedule: &store::Schedule,
    user_id: i64,
    kind: &str,
    starts: Timestamp,
    ends: Timestamp,
) -> AppResult<usize> {
    let at = if kind == "starts" { starts } else { ends };
    let mut tx = platform.db.begin().await?;
    let new = sqlx::query(
        "INSERT INTO oa_handoff_notices (schedule_id, user_id, kind, at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(schedule.id)
    .bind(user_id)
    .bind(kind)
    .bind(at.as_millis())
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if !new {
        return Ok(0);
    }
    let Some(user) = keel_platform::store::accounts::user_by_id(&mut *tx, user_id).await? else {
        return Ok(0);
    };
    let local = |t: Timestamp| {
        jiff::Timestamp::from_millisecond(t.as_millis())
            .unwrap_or_default()
            .to_zoned_datetime(
                crate::domain::schedule::time_zone(&schedule.time_zone)
                    .unwrap_or(jiff::tz::TimeZone::UTC),
            )
            .strftime("%a %d %b %H:%M %Z")
            .to_string()
    };
    let url = format!(
        "{}/openalert/schedules/{}",
        platform.config.base_url(),
        schedule.id
    );
    let (subject, text) = if kind == "starts" {
        (
            format!(
                "You are on call for {} from {}",
                schedule.name,
                local(starts)
            ),
            format!(
                "Hello {},\n\nYour on-call shift in {} starts {} and ends {}.\n\n{url}\n",
                user.name,
                schedule.name,
                local(starts),
                local(ends)
            ),
        )
    } else {
        (
            format!("Your on-call shift for {} has ended", schedule.name),
            format!(
                "Hello {},\n\nYour on-call shift in {} ended {}. Thank you.\n\n{url}\n",
                user.name,
                schedule.name,
                local(ends)
            ),
        )
    };
    mail::queue(
        &mut *tx,
        &platform.secret,
        &OutgoingMail {
            to: user.email.clone(),
            subject,
            text,
            html: None,
            unsubscribe: None,
        },
        platform.now(),
    )
    .await?;
    tx.commit().await?;
    Ok(1)
}
