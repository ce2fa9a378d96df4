//! Subscribed iCalendar feeds: a read-only URL (such as a provider's secret "iCal address")
//! fetched on a schedule with conditional GET, its events mirrored into the calendar. Events
//! that leave the feed leave the calendar; unsubscribing removes the feed's events (the
//! interactions that past meetings became stay).

use std::collections::HashSet;
use std::time::Duration;

use keel_platform::domain::{FieldError, Timestamp};
use keel_platform::identity::Principal;
use keel_platform::jobs::{Job, JobError};
use keel_platform::outbound::OutboundError;
use keel_platform::{AppError, AppResult, Platform};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::store::{self, SyncedTable};
use crate::sync_schedule::Schedule;

const URL_PURPOSE: &str = "mindfulcrm.calendar_feed_url";
/// How often a feed is fetched again.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30 * 60);
/// The largest feed read, and the most events kept from one.
/// How often the body is read even when the server says it did not change.
const READ_IN_FULL_EVERY: Duration = Duration::from_secs(24 * 3600);
pub const MAX_FEED_BYTES: usize = 20_000_000;
pub const MAX_FEED_EVENTS: usize = 20_000;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalendarFeed {
    pub id: i64,
    pub name: String,
    /// The feed's host; the whole URL is kept secret.
    pub host: String,
    /// `new`, `ok` or `error`.
    pub state: String,
    pub events: i64,
    pub last_synced_at: Option<Timestamp>,
    pub error: Option<String>,
    pub next_sync_at: Timestamp,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarFeedInput {
    pub name: String,
    /// `https://`, `http://` or `webcal://`.
    pub url: String,
}

/// When feeds are fetched.
pub const SCHEDULE: Schedule<FeedRefreshJob> = Schedule {
    table: SyncedTable::CalendarFeeds,
    subject: "mindfulcrm.calendar_feed",
    job: |feed_id| FeedRefreshJob { feed_id },
};

/// Fetches one feed now.
#[derive(Debug, Serialize, Deserialize)]
pub struct FeedRefreshJob {
    pub feed_id: i64,
}

impl Job for FeedRefreshJob {
    const KIND: &'static str = "mindfulcrm.calendar_feed_refresh";
}

fn view(row: store::FeedRow) -> CalendarFeed {
    CalendarFeed {
        id: row.id,
        name: row.name,
        host: row.host,
        state: row.state,
        events: row.events,
        last_synced_at: row.last_synced_at.map(Timestamp::from_millis),
        error: row.last_error,
        next_sync_at: Timestamp::from_millis(row.next_sync_at),
        created_at: Timestamp::from_millis(row.created_at),
    }
}

pub async fn add(
    platform: &Platform,
    principal: &Principal,
    input: &CalendarFeedInput,
) -> AppResult<CalendarFeed> {
    let mut errors = Vec::new();
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        errors.push(FieldError::new(
            "name",
            "is required, at most 200 characters",
        ));
    }
    let raw = input.url.trim();
    let raw = match raw.strip_prefix("webcal://") {
        Some(rest) => format!("https://{rest}"),
        None => raw.to_string(),
    };
    let url = match url::Url::parse(&raw) {
        Err(_) => Err("must be a URL such as https://calendar.example.com/…/basic.ics".to_string()),
        Ok(url) => platform
            .outbound
            .policy()
            .check_url(&url)
            .map(|()| url)
            .map_err(|e| e.to_string()),
    };
    let url = match url {
        Ok(url) if raw.len() <= 2000 => Some(url),
        Ok(_) => {
            errors.push(FieldError::new("url", "must be at most 2000 characters"));
            None
        }
        Err(message) => {
            errors.push(FieldError::new("url", message));
            None
        }
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let url = url.expect("checked");
    let sealed = platform.secret.seal(URL_PURPOSE, url.as_str().as_bytes());
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let id = store::insert_feed(
        &mut *tx,
        principal.user.id,
        name,
        &sealed,
        url.host_str().unwrap_or(""),
        now,
    )
    .await?;
    SCHEDULE.queue(&mut tx, id, now, true).await?;
    tx.commit().await?;
    platform.job_wake.notify_one();
    get(platform, principal, id).await
}

pub async fn list(platform: &Platform, principal: &Principal) -> AppResult<Vec<CalendarFeed>> {
    Ok(store::feeds(platform.db.pool(), principal.user.id)
        .await?
        .into_iter()
        .map(view)
        .collect())
}

pub async fn get(platform: &Platform, principal: &Principal, id: i64) -> AppResult<CalendarFeed> {
    store::feed(platform.db.pool(), Some(principal.user.id), id)
        .await?
        .map(view)
        .ok_or(AppError::NotFound("calendar feed"))
}

/// Unsubscribes: the feed's events go with it.
pub async fn remove(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    let mut tx = platform.db.begin().await?;
    if store::delete_feed(&mut *tx, principal.user.id, id).await? == 0 {
        return Err(AppError::NotFound("calendar feed"));
    }
    SCHEDULE.cancel(&mut tx, id).await?;
    tx.commit().await?;
    Ok(())
}

pub async fn refresh_now(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    get(platform, principal, id).await?;
    SCHEDULE.queue_now(platform, id).await
}

/// The job: fetch, and on a changed body mirror its events. Failures are recorded on the
/// feed and retried on its own schedule (backing off up to a day).
pub async fn run(platform: &Platform, job: FeedRefreshJob) -> Result<(), JobError> {
    let Some(feed) = store::feed(platform.db.pool(), None, job.feed_id).await? else {
        return Ok(());
    };
    match refresh(platform, &feed).await {
        Ok(()) => {}
        Err(Failure::Db(err)) => return Err(err.into()),
        Err(Failure::Feed(message)) => {
            let exp = feed.failures.clamp(0, 5) as u32;
            let delay =
                Duration::from_secs(15 * 60 * 2u64.pow(exp)).min(Duration::from_secs(86_400));
            store::finish_feed_error(
                platform.db.pool(),
                feed.id,
                &message,
                platform.now().plus(delay),
            )
            .await?;
        }
    }
    Ok(())
}

enum Failure {
    Feed(String),
    Db(sqlx::Error),
}

impl From<sqlx::Error> for Failure {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

async fn refresh(platform: &Platform, feed: &store::FeedRow) -> Result<(), Failure> {
    let url = platform
        .secret
        .unseal(URL_PURPOSE, &feed.url_sealed)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            Failure::Feed("the stored address cannot be read: add the feed again".into())
        })?;
    // Recurring events are expanded around today, so the body is read in full once a day even
    // when it did not change.
    let read_in_full = feed
        .expanded_at
        .is_none_or(|at| platform.now().as_millis() - at >= READ_IN_FULL_EVERY.as_millis() as i64);
    let mut request = platform
        .outbound
        .request(keel_platform::outbound::Method::GET, &url)
        .header("Accept", "text/calendar");
    if !read_in_full {
        if let Some(etag) = &feed.etag {
            request = request.header("If-None-Match", etag);
        }
        if let Some(modified) = &feed.last_modified {
            request = request.header("If-Modified-Since", modified);
        }
    }
    let answer = platform
        .outbound
        .fetch(request, MAX_FEED_BYTES)
        .await
        .map_err(|e| Failure::Feed(describe(&e)))?;
    let now = platform.now();
    let next = now.plus(REFRESH_INTERVAL);
    let unchanged = |events| store::FeedRefreshed {
        etag: None,
        last_modified: None,
        content_hash: None,
        events,
        expanded_at: None,
    };
    if answer.status == 304 {
        store::finish_feed_ok(platform.db.pool(), feed.id, &unchanged(None), now, next).await?;
        return Ok(());
    }
    if !(200..300).contains(&answer.status) {
        return Err(Failure::Feed(format!(
            "the server answered {} (is the address still valid?)",
            answer.status
        )));
    }
    let text = String::from_utf8_lossy(&answer.body);
    let hash = keel_platform::crypto::sha256_hex(&text);
    let etag = answer.header("etag").map(str::to_string);
    let modified = answer.header("last-modified").map(str::to_string);
    let refreshed = |events: Option<i64>| store::FeedRefreshed {
        etag: etag.as_deref(),
        last_modified: modified.as_deref(),
        content_hash: Some(&hash),
        events,
        expanded_at: events.map(|_| now),
    };
    if !read_in_full && feed.content_hash.as_deref() == Some(hash.as_str()) {
        store::finish_feed_ok(platform.db.pool(), feed.id, &refreshed(None), now, next).await?;
        return Ok(());
    }
    if !text.trim_start().starts_with("BEGIN:VCALENDAR") {
        return Err(Failure::Feed(
            "the address does not serve an iCalendar file".into(),
        ));
    }
    let window = crate::ics::Window::around(now.as_millis());
    let (events, _problems) = crate::ics::read(&text, &window);
    if events.len() > MAX_FEED_EVENTS {
        return Err(Failure::Feed(format!(
            "the feed has {} events; at most {MAX_FEED_EVENTS} are read",
            events.len()
        )));
    }
    let mut tx = platform.db.begin().await?;
    let wanted: HashSet<&str> = events.iter().map(|e| e.uid.as_str()).collect();
    let gone: Vec<i64> = store::feed_event_uids(&mut tx, feed.id)
        .await?
        .into_iter()
        .filter(|(_, uid)| !wanted.contains(uid.as_str()))
        .map(|(id, _)| id)
        .collect();
    store::delete_events(&mut tx, &gone).await?;
    for event in &events {
        crate::calendar::upsert_synced(
            &mut tx,
            feed.user_id,
            crate::calendar::EventSource::Feed(feed.id),
            event,
            now,
        )
        .await?;
    }
    store::finish_feed_ok(
        &mut *tx,
        feed.id,
        &refreshed(Some(events.len() as i64)),
        now,
        next,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

fn describe(err: &OutboundError) -> String {
    match err {
        OutboundError::Status(code) => format!("the server answered {code}"),
        other => other.to_string(),
    }
}
