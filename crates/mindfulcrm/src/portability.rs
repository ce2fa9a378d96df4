//! The whole account as one zip: everything the user entered in MindfulCRM, in open formats
//! (JSON for every record, CSV and vCard for contacts, iCalendar for events), so it can be
//! read by people and imported elsewhere. Records are read a page at a time and compressed
//! and sent as they are made, so an account of any size costs neither memory nor a wait for
//! the first byte (the request timeout is not reached by a long download).

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;

use keel_platform::domain::Timestamp;
use keel_platform::identity::Principal;
use keel_platform::{AppError, AppResult, Platform};
use serde::Serialize;
use zip::write::SimpleFileOptions;

use crate::transfer::{Format, load_page, render_page};

const PAGE: i64 = 1000;

const README: &str = "MindfulCRM export\n\
\n\
profile.json       your name and email, and when this file was made\n\
settings.json      time zone, default cadence, digest\n\
contacts.json      every contact with emails, phones and tags\n\
contacts.csv       the same contacts as a spreadsheet\n\
contacts.vcf       the same contacts as vCard 4.0 (address books)\n\
interactions.json  every interaction, with the ids of its contacts\n\
tasks.json         every task, with the ids of its contacts\n\
goals.json         every goal\n\
events.json        every calendar event, with matched contact ids\n\
events.ics         the same events as iCalendar (calendars)\n\
connected_accounts.json  mailboxes, calendar subscriptions and CalDAV accounts as set up\n\
                   (no passwords, no secret addresses; the mail itself stays in your mailbox)\n\
\n\
Times are RFC 3339 in UTC. Contact ids link the files together.\n";

fn zip_error(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(anyhow::anyhow!("writing the export: {e}"))
}

type Archive = zip::ZipWriter<zip::write::StreamWriter<Spool>>;

/// What the archive has compressed since it was last sent.
#[derive(Clone, Default)]
struct Spool(Arc<Mutex<Vec<u8>>>);

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("spool lock").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

type Chunk = Result<Bytes, std::io::Error>;

/// Where the archive's bytes go: the response body, a page of records at a time.
struct Sink {
    spool: Spool,
    chunks: mpsc::Sender<Chunk>,
}

impl Sink {
    /// Sends what is compressed so far; fails once the download has been abandoned.
    async fn send(&self) -> AppResult<()> {
        let bytes = std::mem::take(&mut *self.spool.0.lock().expect("spool lock"));
        if bytes.is_empty() {
            return Ok(());
        }
        self.chunks
            .send(Ok(bytes.into()))
            .await
            .map_err(|_| zip_error("the download was closed"))
    }
}

/// A JSON array written to the archive's current entry one element at a time.
struct JsonArray {
    first: bool,
}

impl JsonArray {
    fn start(zip: &mut Archive, name: &str) -> AppResult<Self> {
        zip.start_file(name, SimpleFileOptions::default())
            .map_err(zip_error)?;
        zip.write_all(b"[").map_err(zip_error)?;
        Ok(Self { first: true })
    }

    fn push(&mut self, zip: &mut Archive, value: &impl Serialize) -> AppResult<()> {
        if !self.first {
            zip.write_all(b",\n").map_err(zip_error)?;
        }
        self.first = false;
        serde_json::to_writer(&mut *zip, value).map_err(zip_error)
    }

    fn finish(self, zip: &mut Archive) -> AppResult<()> {
        zip.write_all(b"]\n").map_err(zip_error)
    }
}

#[derive(Serialize, sqlx::FromRow)]
struct InteractionRecord {
    id: i64,
    kind: String,
    #[sqlx(skip)]
    #[serde(rename = "occurred_at")]
    occurred: String,
    #[serde(skip)]
    occurred_at: i64,
    subject: String,
    summary: String,
    sentiment: Option<String>,
    source_ref: Option<String>,
    /// `received` or `sent`, for mail.
    direction: Option<String>,
    #[sqlx(skip)]
    contact_ids: Vec<i64>,
}

#[derive(Serialize, sqlx::FromRow)]
struct TaskRecord {
    id: i64,
    title: String,
    notes: String,
    #[serde(skip)]
    due_at: Option<i64>,
    #[sqlx(skip)]
    #[serde(rename = "due_at")]
    due: Option<String>,
    priority: String,
    status: String,
    #[serde(skip)]
    completed_at: Option<i64>,
    #[sqlx(skip)]
    #[serde(rename = "completed_at")]
    completed: Option<String>,
    #[sqlx(skip)]
    contact_ids: Vec<i64>,
}

fn rfc3339(ms: i64) -> String {
    Timestamp::from_millis(ms).to_string()
}

/// `(owner, contact)` links of `ids` in a link table.
async fn contact_ids(
    platform: &Platform,
    table: &str,
    column: &str,
    ids: &[i64],
) -> AppResult<Vec<(i64, i64)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {column}, contact_id FROM {table} WHERE {column} IN ({list}) ORDER BY {column}, contact_id"
    )))
    .persistent(false)
    .fetch_all(platform.db.pool())
    .await?)
}

/// The contacts of `owner` in `links`, which are sorted by owner.
fn linked(links: &[(i64, i64)], owner: i64) -> Vec<i64> {
    let start = links.partition_point(|l| l.0 < owner);
    links[start..]
        .iter()
        .take_while(|l| l.0 == owner)
        .map(|l| l.1)
        .collect()
}

/// The signed-in user's archive as a stream of bytes, written while it is read. A failure
/// part-way is logged and ends the stream with an error, so the client sees a broken
/// download rather than a short archive that looks whole.
pub fn account_zip(
    platform: Platform,
    principal: Principal,
) -> impl Stream<Item = Chunk> + Send + 'static {
    let (chunks, received) = mpsc::channel::<Chunk>(4);
    tokio::spawn(async move {
        let sink = Sink {
            spool: Spool::default(),
            chunks,
        };
        // A closed channel means the client left; that is not a failure worth logging.
        if let Err(e) = write_account(&platform, &principal, &sink).await
            && !sink.chunks.is_closed()
        {
            tracing::error!(user_id = principal.user.id, error = %e, "account export failed");
            let _ = sink
                .chunks
                .send(Err(std::io::Error::other("export failed")))
                .await;
        }
    });
    // Fused: a compression layer polls once more after the end, which `unfold` forbids.
    futures_util::StreamExt::fuse(futures_util::stream::unfold(
        received,
        |mut received| async move { received.recv().await.map(|chunk| (chunk, received)) },
    ))
}

async fn write_account(platform: &Platform, principal: &Principal, sink: &Sink) -> AppResult<()> {
    let user_id = principal.user.id;
    let now = platform.now();
    let mut zip: Archive = zip::ZipWriter::new_stream(sink.spool.clone());
    let options = SimpleFileOptions::default();

    zip.start_file("README.txt", options).map_err(zip_error)?;
    zip.write_all(README.as_bytes()).map_err(zip_error)?;
    zip.start_file("profile.json", options).map_err(zip_error)?;
    serde_json::to_writer_pretty(
        &mut zip,
        &serde_json::json!({
            "name": principal.user.name,
            "email": principal.user.email,
            "exported_at": now,
        }),
    )
    .map_err(zip_error)?;
    zip.start_file("settings.json", options)
        .map_err(zip_error)?;
    let settings = crate::settings::get(platform.db.pool(), user_id).await?;
    serde_json::to_writer_pretty(&mut zip, &settings).map_err(zip_error)?;

    // Contacts, three times over (each file is one zip entry, written start to end).
    for (name, format) in [
        ("contacts.json", None),
        ("contacts.csv", Some(Format::Csv)),
        ("contacts.vcf", Some(Format::Vcard)),
    ] {
        let mut json = match format {
            None => Some(JsonArray::start(&mut zip, name)?),
            Some(_) => None,
        };
        let mut after: Option<(String, i64)> = None;
        let mut first = true;
        loop {
            let mut conn = platform.db.pool().acquire().await?;
            let page = load_page(&mut conn, user_id, after.as_ref(), now, format).await?;
            drop(conn);
            let contacts = &page.contacts;
            match (&mut json, format) {
                (Some(array), _) => {
                    for c in contacts {
                        array.push(&mut zip, c)?;
                    }
                }
                (None, Some(format)) => {
                    if first {
                        zip.start_file(name, options).map_err(zip_error)?;
                    }
                    let text = render_page(format, &page, first).map_err(zip_error)?;
                    zip.write_all(text.as_bytes()).map_err(zip_error)?;
                }
                (None, None) => unreachable!("json is set when no format is"),
            }
            first = false;
            sink.send().await?;
            if (contacts.len() as i64) < crate::transfer::page_size(format) {
                break;
            }
            after = contacts.last().map(|c| (c.display_name.clone(), c.id));
        }
        if let Some(array) = json {
            array.finish(&mut zip)?;
        }
    }

    // Interactions oldest first, a page at a time, along the (user_id, occurred_at) index
    // (by id, SQLite would re-sort every interaction of the user for each page).
    let mut array = JsonArray::start(&mut zip, "interactions.json")?;
    let mut after = (i64::MIN, 0i64);
    loop {
        let mut page: Vec<InteractionRecord> = sqlx::query_as(
            "SELECT id, kind, occurred_at, subject, summary, sentiment, source_ref, direction FROM crm_interactions \
             WHERE user_id = $1 AND (occurred_at, id) > ($2, $3) ORDER BY occurred_at, id LIMIT $4",
        )
        .bind(user_id)
        .bind(after.0)
        .bind(after.1)
        .bind(PAGE)
        .fetch_all(platform.db.pool())
        .await?;
        let ids: Vec<i64> = page.iter().map(|i| i.id).collect();
        let links =
            contact_ids(platform, "crm_interaction_contacts", "interaction_id", &ids).await?;
        for record in &mut page {
            record.occurred = rfc3339(record.occurred_at);
            record.contact_ids = linked(&links, record.id);
            array.push(&mut zip, record)?;
        }
        sink.send().await?;
        match page.last() {
            Some(r) if page.len() as i64 == PAGE => after = (r.occurred_at, r.id),
            _ => break,
        }
    }
    array.finish(&mut zip)?;

    let mut tasks: Vec<TaskRecord> = sqlx::query_as(
        "SELECT id, title, notes, due_at, priority, status, completed_at FROM crm_tasks WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(platform.db.pool())
    .await?;
    let mut array = JsonArray::start(&mut zip, "tasks.json")?;
    for chunk in tasks.chunks_mut(PAGE as usize) {
        let ids: Vec<i64> = chunk.iter().map(|t| t.id).collect();
        let links = contact_ids(platform, "crm_task_contacts", "task_id", &ids).await?;
        for task in chunk {
            task.due = task.due_at.map(rfc3339);
            task.completed = task.completed_at.map(rfc3339);
            task.contact_ids = linked(&links, task.id);
            array.push(&mut zip, task)?;
        }
        sink.send().await?;
    }
    array.finish(&mut zip)?;

    let goals = crate::goals::list(platform, principal, 0).await?;
    let mut array = JsonArray::start(&mut zip, "goals.json")?;
    for goal in &goals {
        array.push(&mut zip, &serde_json::json!({
            "id": goal.id, "title": goal.title, "kind": goal.kind, "period": goal.period, "target": goal.target,
            "interaction_kind": goal.interaction_kind, "stage": goal.stage, "tag": goal.tag,
        }))?;
    }
    array.finish(&mut zip)?;

    let events = crate::calendar::all(platform.db.pool(), user_id).await?;
    let mut array = JsonArray::start(&mut zip, "events.json")?;
    for e in &events {
        array.push(&mut zip, &serde_json::json!({
            "uid": e.uid, "title": e.title, "starts_at": rfc3339(e.starts_at), "ends_at": rfc3339(e.ends_at),
            "all_day": e.all_day, "location": e.location, "description": e.description, "attendees": e.attendees,
        }))?;
    }
    array.finish(&mut zip)?;
    zip.start_file("events.ics", options).map_err(zip_error)?;
    zip.write_all(crate::ics::write_calendar(&events, now.as_millis()).as_bytes())
        .map_err(zip_error)?;

    zip.start_file("connected_accounts.json", options)
        .map_err(zip_error)?;
    let accounts = serde_json::json!({
        "mail_accounts": crate::mailbox::list(platform, principal).await?,
        "calendar_feeds": crate::calendar_feeds::list(platform, principal).await?,
        "caldav_accounts": crate::caldav::list(platform, principal).await?,
    });
    serde_json::to_writer_pretty(&mut zip, &accounts).map_err(zip_error)?;

    zip.finish().map_err(zip_error)?;
    sink.send().await
}
