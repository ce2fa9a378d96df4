//! ICalendar feeds.

use keel_platform::audit::{self, Actor};
use keel_platform::domain::Timestamp;
use keel_platform::identity::{ClientMeta, Principal};
use keel_platform::{AppResult, Platform, crypto};
use serde_json::json;

use crate::domain::schedule::{self as rules};
use crate::store::schedules::{self as store};

use super::*;

/// Issues a new secret feed URL for a schedule (the old one stops working).
pub async fn rotate_schedule_feed(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<String> {
    managed_schedule(platform, principal, id).await?;
    let token = crypto::random_token(32);
    let hash = platform.secret.hash_token(FEED_PURPOSE, &token);
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::set_feed_token(&mut *tx, id, Some(&hash)).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "schedule.feed_rotated",
        ("schedule", &id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(format!(
        "{}/oncall/feeds/schedules/{token}.ics",
        platform.config.base_url()
    ))
}

pub async fn revoke_schedule_feed(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    managed_schedule(platform, principal, id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::set_feed_token(&mut *tx, id, None).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "schedule.feed_revoked",
        ("schedule", &id.to_string()),
        json!({}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Issues (or, with `rotate == false`, revokes) the caller's personal shifts feed.
pub async fn set_personal_feed(
    platform: &Platform,
    principal: &Principal,
    rotate: bool,
) -> AppResult<Option<String>> {
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let url = if rotate {
        let token = crypto::random_token(32);
        let hash = platform.secret.hash_token(FEED_PURPOSE, &token);
        store::set_user_feed(&mut tx, principal.user.id, Some(&hash), now).await?;
        Some(format!(
            "{}/oncall/feeds/users/{token}.ics",
            platform.config.base_url()
        ))
    } else {
        store::set_user_feed(&mut tx, principal.user.id, None, now).await?;
        None
    };
    tx.commit().await?;
    Ok(url)
}

/// The next eight weeks of a schedule's final timeline, or of one person's shifts across
/// every schedule, as iCalendar. `None` when the token is unknown or revoked.
pub async fn feed(platform: &Platform, kind: FeedKind, token: &str) -> AppResult<Option<String>> {
    let hash = platform.secret.hash_token(FEED_PURPOSE, token);
    let now = platform.now();
    let from = Timestamp::from_millis(now.as_millis() - 7 * 86_400_000);
    let to = Timestamp::from_millis(now.as_millis() + 56 * 86_400_000);
    let (schedule_ids, only_user, title) = match kind {
        FeedKind::Schedule => match store::schedule_by_feed(platform.db.pool(), &hash).await? {
            Some(id) => (vec![id], None, None),
            None => return Ok(None),
        },
        FeedKind::User => match store::user_by_feed(platform.db.pool(), &hash).await? {
            Some(user) => (
                store::schedules_of_user(platform.db.pool(), user).await?,
                Some(user),
                Some("My on-call shifts"),
            ),
            None => return Ok(None),
        },
    };
    let names = user_names(platform).await?;
    let mut events = Vec::new();
    let mut calendar_name = title.map(str::to_string);
    for id in schedule_ids {
        let mut conn = platform.db.pool().acquire().await?;
        let Some(schedule) = store::schedule_by_id(&mut conn, id).await? else {
            continue;
        };
        drop(conn);
        calendar_name.get_or_insert_with(|| format!("On call: {}", schedule.name));
        let spans = computable(platform, &schedule, from, to)
            .await?
            .timeline(from.as_millis(), to.as_millis());
        for shift in rules::per_person(&spans) {
            if only_user.is_some_and(|u| u != shift.user_id) {
                continue;
            }
            let who = names
                .iter()
                .find(|(id, _)| *id == shift.user_id)
                .map(|(_, n)| n.as_str())
                .unwrap_or("?");
            events.push(crate::domain::ical::Event {
                uid: format!(
                    "shift-{}-{}-{}@keel",
                    schedule.id, shift.user_id, shift.starts_at
                ),
                summary: format!("On call: {} ({who})", schedule.name),
                starts_at: shift.starts_at,
                ends_at: shift.ends_at,
            });
        }
    }
    Ok(Some(crate::domain::ical::calendar(
        calendar_name.as_deref().unwrap_or("On call"),
        now.as_millis(),
        &events,
    )))
}

#[derive(Debug, Clone, Copy)]
pub enum FeedKind {
    Schedule,
    User,
}

/// Every user's id and name (for labels).
pub async fn user_names(platform: &Platform) -> AppResult<Vec<(i64, String)>> {
    Ok(keel_platform::accounts::directory(platform)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect())
}
