//! Calendar events: entered by hand or imported from iCalendar files, attendees matched to
//! contacts by email, and turned into a meeting interaction once they are over. An event's
//! iCalendar UID is unique per user, so importing the same file twice updates, never
//! duplicates. The SQL for events lives here, beside the only code that uses it.

use keel_platform::domain::{Email, FieldError, Timestamp, Validator};
use keel_platform::identity::Principal;
use keel_platform::store::Executor;
use keel_platform::{AppError, AppResult, Platform};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::activity::ContactRef;
use crate::settings::Settings;
use crate::store;

const DAY_MS: i64 = 86_400_000;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Event {
    pub id: i64,
    /// iCalendar UID.
    pub uid: String,
    pub title: String,
    pub starts_at: Timestamp,
    /// Exclusive; for all-day events the midnight (UTC) after the last day.
    pub ends_at: Timestamp,
    pub all_day: bool,
    pub location: String,
    pub description: String,
    /// Attendee email addresses.
    pub attendees: Vec<String>,
    /// Attendees that are your contacts.
    pub contacts: Vec<ContactRef>,
    /// When the ended event was turned into an interaction (or found to have no contact).
    pub processed_at: Option<Timestamp>,
    pub interaction_id: Option<i64>,
    /// The feed or CalDAV calendar the event is mirrored from, if any.
    #[serde(skip)]
    pub source: Option<EventSource>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EventInput {
    pub title: String,
    /// RFC 3339, or a local `YYYY-MM-DDTHH:MM` in your time zone; `YYYY-MM-DD` when all day.
    pub starts_at: String,
    /// As `starts_at`; for all-day events the last day. Default: one hour, or the same day.
    pub ends_at: Option<String>,
    pub all_day: bool,
    pub location: String,
    pub description: String,
    pub attendees: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    id: i64,
    uid: String,
    title: String,
    starts_at: i64,
    ends_at: i64,
    all_day: i64,
    location: String,
    description: String,
    attendees: String,
    processed_at: Option<i64>,
    interaction_id: Option<i64>,
    feed_id: Option<i64>,
    caldav_calendar_id: Option<i64>,
}

const EVENT_COLUMNS: &str = "e.id, e.uid, e.title, e.starts_at, e.ends_at, e.all_day, e.location, e.description, e.attendees, e.processed_at, e.interaction_id, e.feed_id, e.caldav_calendar_id";

/// Parses a time as the API and forms give it: RFC 3339, a local date-time in the user's
/// zone (what `<input type=datetime-local>` sends), or a date for all-day events.
fn parse_time(raw: &str, all_day: bool, settings: &Settings) -> Result<i64, String> {
    let raw = raw.trim();
    if all_day {
        let date: jiff::civil::Date = raw
            .get(..10)
            .unwrap_or(raw)
            .parse()
            .map_err(|_| "must be a date such as 2026-11-23".to_string())?;
        return Ok(Settings::default().start_of_day(date));
    }
    if let Ok(at) = Timestamp::parse_rfc3339(raw) {
        return Ok(at.as_millis());
    }
    let local: jiff::civil::DateTime = raw.parse().map_err(|_| {
        "must be a time such as 2026-11-23T09:30 (your time zone) or 2026-11-23T08:30:00Z"
            .to_string()
    })?;
    settings
        .tz()
        .to_timestamp(local)
        .map(|t| t.as_millisecond())
        .map_err(|e| e.to_string())
}

/// Checked fields of an event, ready to store.
struct EventFields {
    title: String,
    starts_at: i64,
    ends_at: i64,
    all_day: bool,
    location: String,
    description: String,
    attendees: Vec<String>,
}

fn validate(input: &EventInput, settings: &Settings) -> AppResult<EventFields> {
    let mut v = Validator::new();
    let title = input.title.trim().to_string();
    if title.is_empty() || title.chars().count() > 500 {
        v.add("title", "is required, at most 500 characters");
    }
    let starts_at = v.check(
        "starts_at",
        parse_time(&input.starts_at, input.all_day, settings),
    );
    let ends_at = match input.ends_at.as_deref().map(str::trim) {
        None | Some("") => starts_at.map(|s| s + if input.all_day { DAY_MS } else { 3_600_000 }),
        // The last day of an all-day event is inclusive in forms, exclusive in storage.
        Some(raw) => v
            .check("ends_at", parse_time(raw, input.all_day, settings))
            .map(|e| if input.all_day { e + DAY_MS } else { e }),
    };
    if let (Some(s), Some(e)) = (starts_at, ends_at)
        && e < s
    {
        v.add("ends_at", "must not be before the start");
    }
    if input.location.chars().count() > 500 {
        v.add("location", "must be at most 500 characters");
    }
    if input.description.chars().count() > 20_000 {
        v.add("description", "must be at most 20000 characters");
    }
    if input.attendees.len() > 200 {
        v.add("attendees", "at most 200 attendees");
    }
    let mut attendees = Vec::new();
    for (i, raw) in input.attendees.iter().enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        if let Some(email) = v.check(&format!("attendees[{i}]"), Email::parse(raw)) {
            let email = email.as_str().to_string();
            if !attendees.contains(&email) {
                attendees.push(email);
            }
        }
    }
    v.finish().map_err(AppError::Validation)?;
    Ok(EventFields {
        title,
        starts_at: starts_at.expect("validated"),
        ends_at: ends_at.expect("validated"),
        all_day: input.all_day,
        location: input.location.trim().to_string(),
        description: input.description.trim().to_string(),
        attendees,
    })
}

impl From<&crate::ics::Event> for EventFields {
    fn from(e: &crate::ics::Event) -> Self {
        Self {
            title: e.title.chars().take(500).collect(),
            starts_at: e.starts_at,
            ends_at: e.ends_at.max(e.starts_at),
            all_day: e.all_day,
            location: e.location.chars().take(500).collect(),
            description: e.description.chars().take(20_000).collect(),
            attendees: e.attendees.iter().take(200).cloned().collect(),
        }
    }
}

/// Inserts or (same UID) updates an event and re-matches its attendees to contacts.
async fn upsert(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    uid: &str,
    f: &EventFields,
    now: Timestamp,
) -> sqlx::Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO crm_events (user_id, uid, title, starts_at, ends_at, all_day, location, description, attendees, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) \
         ON CONFLICT (user_id, uid) DO UPDATE SET title = excluded.title, starts_at = excluded.starts_at, ends_at = excluded.ends_at, \
         all_day = excluded.all_day, location = excluded.location, description = excluded.description, \
         attendees = excluded.attendees, updated_at = excluded.updated_at RETURNING id",
    )
    .bind(user_id)
    .bind(uid)
    .bind(&f.title)
    .bind(f.starts_at)
    .bind(f.ends_at)
    .bind(i64::from(f.all_day))
    .bind(&f.location)
    .bind(&f.description)
    .bind(f.attendees.join("\n"))
    .bind(now.as_millis())
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM crm_event_contacts WHERE event_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    if !f.attendees.is_empty() {
        let params: Vec<String> = (0..f.attendees.len())
            .map(|i| format!("${}", i + 3))
            .collect();
        let sql = format!(
            "INSERT INTO crm_event_contacts (event_id, contact_id) SELECT DISTINCT $1, m.contact_id \
             FROM crm_contact_emails m WHERE m.user_id = $2 AND m.email IN ({})",
            params.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(id).bind(user_id);
        for email in &f.attendees {
            q = q.bind(email);
        }
        q.execute(&mut *tx).await?;
    }
    Ok(id)
}

/// Where a synced event comes from; it is deleted with its source, and each sync that reads
/// it again writes it as the source has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventSource {
    Feed(i64),
    CalDav(i64),
}

/// Writes an event read from a feed or a CalDAV calendar and marks it as that source's.
pub(crate) async fn upsert_synced(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    source: EventSource,
    event: &crate::ics::Event,
    now: Timestamp,
) -> sqlx::Result<()> {
    let id = upsert(tx, user_id, &event.uid, &event.into(), now).await?;
    let (feed, calendar) = match source {
        EventSource::Feed(id) => (Some(id), None),
        EventSource::CalDav(id) => (None, Some(id)),
    };
    sqlx::query("UPDATE crm_events SET feed_id = $1, caldav_calendar_id = $2 WHERE id = $3")
        .bind(feed)
        .bind(calendar)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

async fn rows_to_events(platform: &Platform, rows: Vec<EventRow>) -> AppResult<Vec<Event>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let links = store::links(platform.db.pool(), "crm_event_contacts", "event_id", &ids).await?;
    Ok(rows
        .into_iter()
        .map(|r| Event {
            contacts: links
                .iter()
                .filter(|l| l.0 == r.id)
                .map(|l| ContactRef {
                    id: l.1,
                    display_name: l.2.clone(),
                })
                .collect(),
            id: r.id,
            uid: r.uid,
            title: r.title,
            starts_at: Timestamp::from_millis(r.starts_at),
            ends_at: Timestamp::from_millis(r.ends_at),
            all_day: r.all_day != 0,
            location: r.location,
            description: r.description,
            attendees: r
                .attendees
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            processed_at: r.processed_at.map(Timestamp::from_millis),
            interaction_id: r.interaction_id,
            source: match (r.feed_id, r.caldav_calendar_id) {
                (Some(feed), _) => Some(EventSource::Feed(feed)),
                (None, Some(calendar)) => Some(EventSource::CalDav(calendar)),
                (None, None) => None,
            },
        })
        .collect())
}

pub async fn create(
    platform: &Platform,
    principal: &Principal,
    input: &EventInput,
) -> AppResult<Event> {
    let settings = crate::settings::get(platform.db.pool(), principal.user.id).await?;
    let fields = validate(input, &settings)?;
    let uid = format!(
        "{}@keel",
        keel_platform::crypto::random_token(24).to_lowercase()
    );
    let mut tx = platform.db.begin().await?;
    let id = upsert(&mut tx, principal.user.id, &uid, &fields, platform.now()).await?;
    tx.commit().await?;
    get(platform, principal, id).await
}

pub async fn update(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    input: &EventInput,
) -> AppResult<Event> {
    let existing = get(platform, principal, id).await?;
    if existing.source.is_some() {
        // The next sync would write it back as the calendar has it.
        return Err(AppError::Conflict(
            "this event is mirrored from a calendar: change it in that calendar".into(),
        ));
    }
    let settings = crate::settings::get(platform.db.pool(), principal.user.id).await?;
    let fields = validate(input, &settings)?;
    let mut tx = platform.db.begin().await?;
    upsert(
        &mut tx,
        principal.user.id,
        &existing.uid,
        &fields,
        platform.now(),
    )
    .await?;
    tx.commit().await?;
    get(platform, principal, id).await
}

pub async fn get(platform: &Platform, principal: &Principal, id: i64) -> AppResult<Event> {
    let row: Option<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM crm_events e WHERE e.id = $1 AND e.user_id = $2"
    )))
    .bind(id)
    .bind(principal.user.id)
    .fetch_optional(platform.db.pool())
    .await?;
    let row = row.ok_or(AppError::NotFound("event"))?;
    Ok(rows_to_events(platform, vec![row]).await?.remove(0))
}

/// The name of the feed or CalDAV calendar a synced event is mirrored from.
pub async fn source_name(
    platform: &Platform,
    principal: &Principal,
    source: EventSource,
) -> AppResult<String> {
    let pool = platform.db.pool();
    let name = match source {
        EventSource::Feed(id) => store::feed(pool, Some(principal.user.id), id)
            .await?
            .map(|feed| feed.name),
        EventSource::CalDav(id) => store::caldav_calendar_name(pool, principal.user.id, id).await?,
    };
    name.ok_or(AppError::NotFound("calendar"))
}

pub async fn delete(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    let deleted = sqlx::query("DELETE FROM crm_events WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(principal.user.id)
        .execute(platform.db.pool())
        .await?
        .rows_affected();
    if deleted == 0 {
        return Err(AppError::NotFound("event"));
    }
    Ok(())
}

/// Events overlapping `[from, to)`, by start; optionally only those with a contact.
pub async fn list(
    platform: &Platform,
    principal: &Principal,
    from: Timestamp,
    to: Timestamp,
    contact_id: Option<i64>,
) -> AppResult<Vec<Event>> {
    let join = if contact_id.is_some() {
        "JOIN crm_event_contacts ec ON ec.event_id = e.id AND ec.contact_id = $4"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM crm_events e {join} WHERE e.user_id = $1 AND e.starts_at < $3 AND e.ends_at > $2 \
         ORDER BY e.starts_at, e.id LIMIT 500"
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(principal.user.id)
        .bind(from.as_millis())
        .bind(to.as_millis());
    if let Some(c) = contact_id {
        q = q.bind(c);
    }
    let rows: Vec<EventRow> = q.fetch_all(platform.db.pool()).await?;
    rows_to_events(platform, rows).await
}

/// Every event of the user, for export, in start order.
pub async fn all<'c>(db: impl Executor<'c>, user_id: i64) -> AppResult<Vec<crate::ics::Event>> {
    let rows: Vec<EventRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM crm_events e WHERE e.user_id = $1 ORDER BY e.starts_at, e.id"
    )))
    .bind(user_id)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| crate::ics::Event {
            uid: r.uid,
            title: r.title,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            all_day: r.all_day != 0,
            location: r.location,
            description: r.description,
            attendees: r
                .attendees
                .lines()
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect(),
            series_uid: None,
        })
        .collect())
}

pub async fn export_ics(platform: &Platform, principal: &Principal) -> AppResult<String> {
    let events = all(platform.db.pool(), principal.user.id).await?;
    Ok(crate::ics::write_calendar(
        &events,
        platform.now().as_millis(),
    ))
}

/// What an iCalendar import did (or, in a dry run, would do).
#[derive(Debug, Serialize, ToSchema)]
pub struct IcsImportOutcome {
    pub dry_run: bool,
    /// Events read from the file; a recurring event counts each occurrence imported.
    pub events: usize,
    /// Of those, events new to you (the others update the event with the same UID).
    pub created: usize,
}

/// Imports every event of an `.ics` file in one transaction, or nothing: an unreadable event
/// fails the whole file, each problem named by its line. Recurring events are imported as
/// their occurrences around today.
pub async fn import_ics(
    platform: &Platform,
    principal: &Principal,
    text: &str,
    dry_run: bool,
) -> AppResult<IcsImportOutcome> {
    let window = crate::ics::Window::around(platform.now().as_millis());
    let (events, problems) = crate::ics::read(text, &window);
    if !problems.is_empty() {
        return Err(AppError::Validation(
            problems
                .into_iter()
                .map(|(line, message)| FieldError::new(format!("line {line}"), message))
                .collect(),
        ));
    }
    if events.len() > 50_000 {
        return Err(AppError::field("file", "at most 50000 events per file"));
    }
    let user_id = principal.user.id;
    let mut tx = platform.db.begin().await?;
    let mut created = 0;
    for event in &events {
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT id FROM crm_events WHERE user_id = $1 AND uid = $2")
                .bind(user_id)
                .bind(&event.uid)
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            created += 1;
        }
        if !dry_run {
            upsert(&mut tx, user_id, &event.uid, &event.into(), platform.now()).await?;
        }
    }
    if dry_run {
        tx.rollback().await?;
    } else {
        tx.commit().await?;
    }
    Ok(IcsImportOutcome {
        dry_run,
        events: events.len(),
        created,
    })
}

/// Turns ended, unprocessed events into meeting interactions with their matched contacts
/// (events without a known attendee are just marked). Each event is claimed with a
/// conditional update, so several nodes may run this at once. Returns events processed.
pub async fn process_ended(platform: &Platform) -> sqlx::Result<usize> {
    let now = platform.now();
    let due: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT id, user_id FROM crm_events WHERE processed_at IS NULL AND ends_at <= $1 ORDER BY ends_at LIMIT 200",
    )
    .bind(now.as_millis())
    .fetch_all(platform.db.pool())
    .await?;
    let mut done = 0;
    for (id, user_id) in due {
        let mut tx = platform.db.begin().await?;
        let claimed = sqlx::query(
            "UPDATE crm_events SET processed_at = $1 WHERE id = $2 AND processed_at IS NULL",
        )
        .bind(now.as_millis())
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if claimed == 0 {
            continue;
        }
        let row: EventRow = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM crm_events e WHERE e.id = $1"
        )))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let contacts: Vec<i64> =
            sqlx::query_scalar("SELECT contact_id FROM crm_event_contacts WHERE event_id = $1")
                .bind(id)
                .fetch_all(&mut *tx)
                .await?;
        if !contacts.is_empty() {
            let source_ref = format!("event:{}", row.uid);
            let existing: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM crm_interactions WHERE user_id = $1 AND source_ref = $2",
            )
            .bind(user_id)
            .bind(&source_ref)
            .fetch_optional(&mut *tx)
            .await?;
            let interaction = match existing {
                Some(i) => i,
                None => {
                    let summary = if row.description.is_empty() {
                        row.location.clone()
                    } else {
                        row.description.clone()
                    };
                    store::insert_interaction(
                        &mut tx,
                        user_id,
                        &store::InteractionFields {
                            kind: "meeting",
                            occurred_at: Timestamp::from_millis(row.starts_at),
                            subject: &row.title,
                            summary: &summary,
                            sentiment: None,
                            source_ref: Some(&source_ref),
                            direction: None,
                            contact_ids: &contacts,
                        },
                        now,
                    )
                    .await?
                }
            };
            sqlx::query("UPDATE crm_events SET interaction_id = $1 WHERE id = $2")
                .bind(interaction)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            store::refresh_last_interaction(&mut tx, &contacts).await?;
        }
        tx.commit().await?;
        done += 1;
    }
    Ok(done)
}
