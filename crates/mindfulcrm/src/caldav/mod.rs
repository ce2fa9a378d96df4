//! CalDAV accounts (Nextcloud, Radicale, Fastmail, iCloud…): the calendars are discovered
//! when the account is added, the user picks which are read, and a background job mirrors
//! their events into MindfulCRM's calendar, asking only for what changed since the last sync
//! (RFC 6578), or comparing ETags where the server refuses the token.

mod client;
pub mod xml;

use std::collections::HashMap;
use std::time::Duration;

use keel_platform::domain::{FieldError, Timestamp};
use keel_platform::identity::Principal;
use keel_platform::jobs::{Job, JobError};
use keel_platform::{AppError, AppResult, Platform};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::calendar::EventSource;
use crate::store::{self, SyncedTable};
use crate::sync_schedule::Schedule;
use client::{Dav, DavError};

const PASSWORD_PURPOSE: &str = "mindfulcrm.caldav_password";
/// How often an account is synced.
pub const SYNC_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// Objects read per multiget request, and the most kept per calendar.
const READ_BATCH: usize = 50;
/// How often objects holding a recurring event are read again to move its window.
const EXPAND_AGAIN: Duration = Duration::from_secs(24 * 3600);
const MAX_OBJECTS: usize = 20_000;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalDavAccount {
    pub id: i64,
    pub url: String,
    pub username: String,
    /// `new`, `ok` or `error`.
    pub state: String,
    pub error: Option<String>,
    pub last_synced_at: Option<Timestamp>,
    pub next_sync_at: Timestamp,
    pub calendars: Vec<CalDavCalendar>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CalDavCalendar {
    pub id: i64,
    pub name: String,
    /// Whether its events are read.
    pub selected: bool,
    pub events: i64,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CalDavAccountInput {
    /// The server's address, such as `https://cloud.example.com/remote.php/dav/`.
    pub url: String,
    pub username: String,
    pub password: String,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarSelection {
    /// The calendars to read; the others are not (and their events leave).
    pub selected: Vec<i64>,
}

/// When CalDAV accounts are synced.
pub const SCHEDULE: Schedule<CalDavSyncJob> = Schedule {
    table: SyncedTable::CalDavAccounts,
    subject: "mindfulcrm.caldav_account",
    job: |account_id| CalDavSyncJob { account_id },
};

/// Syncs one CalDAV account now.
#[derive(Debug, Serialize, Deserialize)]
pub struct CalDavSyncJob {
    pub account_id: i64,
}

impl Job for CalDavSyncJob {
    const KIND: &'static str = "mindfulcrm.caldav_sync";
}

fn field(name: &str, message: impl Into<String>) -> AppError {
    AppError::Validation(vec![FieldError::new(name, message)])
}

/// Checks the address and credentials by discovering the calendars, then stores the account
/// with every calendar selected and starts the first sync.
pub async fn add(
    platform: &Platform,
    principal: &Principal,
    input: &CalDavAccountInput,
) -> AppResult<CalDavAccount> {
    let mut errors = Vec::new();
    let url = match url::Url::parse(input.url.trim()) {
        Ok(url) => match platform.outbound.policy().check_url(&url) {
            Ok(()) => Some(url),
            Err(err) => {
                errors.push(FieldError::new("url", err.to_string()));
                None
            }
        },
        Err(_) => {
            errors.push(FieldError::new("url", "must be an https:// address"));
            None
        }
    };
    if input.username.trim().is_empty() || input.username.len() > 320 {
        errors.push(FieldError::new(
            "username",
            "is required, at most 320 characters",
        ));
    }
    if input.password.is_empty() || input.password.len() > 1024 {
        errors.push(FieldError::new(
            "password",
            "is required, at most 1024 characters",
        ));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let url = url.expect("checked");
    let dav = Dav {
        outbound: &platform.outbound,
        base: url.clone(),
        username: input.username.trim(),
        password: &input.password,
    };
    let calendars = match dav.discover().await {
        Ok(calendars) => calendars,
        Err(DavError::Unauthorized) => {
            return Err(field("password", DavError::Unauthorized.to_string()));
        }
        Err(err) => return Err(field("url", err.to_string())),
    };
    let sealed = platform
        .secret
        .seal(PASSWORD_PURPOSE, input.password.as_bytes());
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let id = store::insert_caldav_account(
        &mut *tx,
        principal.user.id,
        url.as_str(),
        input.username.trim(),
        &sealed,
        now,
    )
    .await?;
    for calendar in &calendars {
        store::add_caldav_calendar(&mut *tx, id, &calendar.href, &calendar.name).await?;
    }
    SCHEDULE.queue(&mut tx, id, now, true).await?;
    tx.commit().await?;
    platform.job_wake.notify_one();
    get(platform, principal, id).await
}

async fn view(platform: &Platform, row: store::CalDavAccountRow) -> AppResult<CalDavAccount> {
    let calendars = store::caldav_calendars(platform.db.pool(), row.id)
        .await?
        .into_iter()
        .map(|c| CalDavCalendar {
            id: c.id,
            name: c.name,
            selected: c.selected == 1,
            events: c.events,
        })
        .collect();
    Ok(CalDavAccount {
        id: row.id,
        url: row.url,
        username: row.username,
        state: row.state,
        error: row.last_error,
        last_synced_at: row.last_synced_at.map(Timestamp::from_millis),
        next_sync_at: Timestamp::from_millis(row.next_sync_at),
        calendars,
        created_at: Timestamp::from_millis(row.created_at),
    })
}

pub async fn list(platform: &Platform, principal: &Principal) -> AppResult<Vec<CalDavAccount>> {
    let mut out = Vec::new();
    for row in store::caldav_accounts(platform.db.pool(), principal.user.id).await? {
        out.push(view(platform, row).await?);
    }
    Ok(out)
}

pub async fn get(platform: &Platform, principal: &Principal, id: i64) -> AppResult<CalDavAccount> {
    let row = store::caldav_account(platform.db.pool(), Some(principal.user.id), id)
        .await?
        .ok_or(AppError::NotFound("CalDAV account"))?;
    view(platform, row).await
}

/// Removes the account, its password and the events it brought in.
pub async fn remove(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    let mut tx = platform.db.begin().await?;
    if store::delete_caldav_account(&mut *tx, principal.user.id, id).await? == 0 {
        return Err(AppError::NotFound("CalDAV account"));
    }
    SCHEDULE.cancel(&mut tx, id).await?;
    tx.commit().await?;
    Ok(())
}

/// Chooses the calendars to read and syncs at once.
pub async fn select(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    selection: &CalendarSelection,
) -> AppResult<CalDavAccount> {
    let account = get(platform, principal, id).await?;
    let mut tx = platform.db.begin().await?;
    for calendar in &account.calendars {
        let wanted = selection.selected.contains(&calendar.id);
        if wanted != calendar.selected {
            store::select_caldav_calendar(&mut tx, id, calendar.id, wanted).await?;
        }
    }
    SCHEDULE.queue(&mut tx, id, platform.now(), true).await?;
    tx.commit().await?;
    platform.job_wake.notify_one();
    get(platform, principal, id).await
}

pub async fn sync_now(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    get(platform, principal, id).await?;
    SCHEDULE.queue_now(platform, id).await
}

/// The job: sync every selected calendar; the outcome is written on the account.
pub async fn run(platform: &Platform, job: CalDavSyncJob) -> Result<(), JobError> {
    let Some(account) = store::caldav_account(platform.db.pool(), None, job.account_id).await?
    else {
        return Ok(());
    };
    let outcome = sync(platform, &account).await;
    let now = platform.now();
    let (error, next) = match outcome {
        Ok(()) => (None, now.plus(SYNC_INTERVAL)),
        Err(Failure::Dav(err)) => {
            let exp = account.failures.clamp(0, 8) as u32;
            let delay = Duration::from_secs(60 * 2u64.pow(exp)).min(Duration::from_secs(6 * 3600));
            (Some(err.to_string()), now.plus(delay))
        }
        Err(Failure::Db(err)) => return Err(err.into()),
    };
    store::finish_caldav_sync(platform.db.pool(), account.id, error.as_deref(), now, next).await?;
    Ok(())
}

enum Failure {
    Dav(DavError),
    Db(sqlx::Error),
}

impl From<DavError> for Failure {
    fn from(err: DavError) -> Self {
        Self::Dav(err)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

async fn sync(platform: &Platform, account: &store::CalDavAccountRow) -> Result<(), Failure> {
    let password = platform
        .secret
        .unseal(PASSWORD_PURPOSE, &account.password_sealed)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(DavError::Unauthorized)?;
    let base = url::Url::parse(&account.url).map_err(|_| DavError::NotCalDav)?;
    let dav = Dav {
        outbound: &platform.outbound,
        base,
        username: &account.username,
        password: &password,
    };
    for calendar in store::caldav_calendars(platform.db.pool(), account.id).await? {
        if calendar.selected == 1 {
            sync_calendar(platform, &dav, account.user_id, &calendar).await?;
        }
    }
    Ok(())
}

/// Mirrors one calendar: the changes since its token, or (no token, or a refused one) every
/// object whose ETag differs from what was read before. Once a day the objects holding a
/// recurring event are read again, so their occurrences follow the moving window.
async fn sync_calendar(
    platform: &Platform,
    dav: &Dav<'_>,
    user_id: i64,
    calendar: &store::CalDavCalendarRow,
) -> Result<(), Failure> {
    let known: HashMap<String, store::CalDavItemRow> =
        store::caldav_items(platform.db.pool(), calendar.id)
            .await?
            .into_iter()
            .map(|item| (item.href.clone(), item))
            .collect();
    let full = |listed: Vec<(String, String)>, token: Option<String>| {
        let present: std::collections::HashSet<&str> =
            listed.iter().map(|(h, _)| h.as_str()).collect();
        client::Changes {
            deleted: known
                .keys()
                .filter(|h| !present.contains(h.as_str()))
                .cloned()
                .collect(),
            changed: listed.clone(),
            token,
        }
    };
    let changes = match dav
        .changes(&calendar.href, calendar.sync_token.as_deref())
        .await
    {
        Ok(changes) if calendar.sync_token.is_some() => changes,
        // Everything since nothing: what is not listed any more was deleted.
        Ok(all) => full(all.changed, all.token),
        Err(DavError::TokenRefused) => {
            let all = dav.changes(&calendar.href, None).await?;
            full(all.changed, all.token)
        }
        // No sync-collection on this server: compare ETags, every time.
        Err(DavError::Status(_)) => full(dav.etags(&calendar.href).await?, None),
        Err(err) => return Err(err.into()),
    };
    let now = platform.now();
    let mut changed: Vec<String> = changes
        .changed
        .iter()
        .filter(|(href, etag)| known.get(href).map(|item| &item.etag) != Some(etag))
        .map(|(href, _)| href.clone())
        .collect();
    let expand_again = calendar
        .expanded_at
        .is_none_or(|at| now.as_millis() - at >= EXPAND_AGAIN.as_millis() as i64);
    if expand_again {
        let recurring = known.values().filter(|item| {
            item.recurring == 1
                && !changed.contains(&item.href)
                && !changes.deleted.contains(&item.href)
        });
        let recurring: Vec<String> = recurring.map(|item| item.href.clone()).collect();
        changed.extend(recurring);
    }
    if known.len() + changed.len() > MAX_OBJECTS {
        return Err(DavError::Network(format!(
            "a calendar has more than {MAX_OBJECTS} events; deselect it"
        ))
        .into());
    }
    let window = crate::ics::Window::around(now.as_millis());
    for batch in changed.chunks(READ_BATCH) {
        let objects = dav.read(&calendar.href, batch).await?;
        let mut tx = platform.db.begin().await?;
        for (href, etag, data) in objects {
            let (events, _) = crate::ics::read(&data, &window);
            for event in &events {
                crate::calendar::upsert_synced(
                    &mut tx,
                    user_id,
                    EventSource::CalDav(calendar.id),
                    event,
                    now,
                )
                .await?;
            }
            let uids: Vec<&str> = events.iter().map(|e| e.uid.as_str()).collect();
            // Occurrences that left the window, or events the object no longer holds.
            if let Some(before) = known.get(&href) {
                let gone: Vec<&str> = before
                    .uids
                    .lines()
                    .filter(|uid| !uids.contains(uid))
                    .collect();
                store::delete_caldav_events(&mut tx, calendar.id, &gone).await?;
            }
            let item = store::CalDavItemRow {
                href,
                etag,
                uids: uids.join("\n"),
                recurring: i64::from(events.iter().any(|e| e.series_uid.is_some())),
            };
            store::save_caldav_item(&mut tx, calendar.id, &item).await?;
        }
        tx.commit().await?;
    }
    let mut tx = platform.db.begin().await?;
    for href in &changes.deleted {
        store::delete_caldav_item(&mut tx, calendar.id, href).await?;
    }
    let expanded_at = expand_again.then_some(now);
    store::finish_caldav_calendar(&mut *tx, calendar.id, changes.token.as_deref(), expanded_at)
        .await?;
    tx.commit().await?;
    Ok(())
}
