//! Connected mail accounts: any IMAP mailbox (Gmail and Outlook with an app password,
//! Fastmail, iCloud, Dovecot…) read in the background so the timeline and "keep in touch"
//! reflect the mail that really went back and forth.
//!
//! INBOX, the Sent folder and folders the user picks are read within a backfill window. Of
//! each message only the header facts and a short snippet are kept, once per user however
//! many folders hold it; a message with a known contact becomes an email interaction.
//! Addresses the user writes to that are no contact are offered as suggested contacts.
//! Passwords are sealed with the server key and never shown again.

pub mod imap;
pub mod message;
pub mod sync;

use std::time::Duration;

use keel_platform::domain::{Email, FieldError, Timestamp, Validator};
use keel_platform::identity::Principal;
use keel_platform::{AppError, AppResult, Platform};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::contacts::{self, Contact, ContactInput};
use crate::store::{self, LabeledValue, SyncedTable};
use crate::sync_schedule::Schedule;
use imap::{Credentials, Session, TlsMode};
use sync::MailSyncJob;

/// When mailboxes are synced.
pub const SCHEDULE: Schedule<MailSyncJob> = Schedule {
    table: SyncedTable::MailAccounts,
    subject: "mindfulcrm.mail_account",
    job: |account_id| MailSyncJob { account_id },
};

/// What the password is sealed for; a sealed value for another purpose does not open.
pub const PASSWORD_PURPOSE: &str = "mindfulcrm.mail_password";
/// How often an account is checked for new mail: with the scheduler's tick and a sync's own
/// time, new mail shows within a minute. Unchanged folders cost one STATUS each (CONDSTORE).
pub const POLL_INTERVAL: Duration = Duration::from_secs(40);
/// How often due accounts are looked for.
pub const SCHEDULER_TICK: Duration = Duration::from_secs(15);
/// The longest "Test connection" may take, well within the request time limit.
const TEST_LIMIT: Duration = Duration::from_secs(20);
/// Sent this many times before an address is suggested as a contact.
const SUGGEST_AFTER: i64 = 2;
const DEFAULT_BACKFILL_DAYS: i64 = 365;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MailAccount {
    pub id: i64,
    pub address: String,
    pub host: String,
    pub port: u16,
    /// `implicit`, `starttls` or `plain`.
    pub tls: String,
    pub username: String,
    /// Folders read besides INBOX and Sent.
    pub folders: Vec<String>,
    pub backfill_days: i64,
    /// The text of each message is kept (and becomes the interaction's summary), not just a
    /// snippet.
    pub keep_bodies: bool,
    pub status: SyncStatus,
    /// Messages read so far, and how many of them became interactions.
    pub messages: i64,
    pub interactions: i64,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SyncStatus {
    /// `new` (first sync pending), `syncing`, `ok` (up to date) or `error`.
    pub state: String,
    /// Messages done and to do in the current run.
    pub done: i64,
    pub total: i64,
    pub last_synced_at: Option<Timestamp>,
    /// What went wrong, in words that say what to do.
    pub error: Option<String>,
    pub next_sync_at: Timestamp,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MailAccountInput {
    pub address: String,
    pub host: String,
    /// Default 993 for implicit TLS, 143 otherwise.
    pub port: Option<u16>,
    /// `implicit` (default), `starttls`, or `plain` (only for a server on this machine).
    pub tls: String,
    /// Default: the address.
    pub username: String,
    pub password: String,
    /// Folders to read besides INBOX and Sent.
    pub folders: Vec<String>,
    /// How far back the first sync reads; default 365 days.
    pub backfill_days: Option<i64>,
    /// Keep the text of each message (up to 20,000 characters), not just a 240-character
    /// snippet. Off by default.
    pub keep_bodies: bool,
}

/// The answer of "Test connection".
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConnectionCheck {
    pub ok: bool,
    pub message: String,
    /// The folders that would be read.
    pub folders: Vec<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SuggestedContact {
    pub address: String,
    pub name: String,
    /// Messages you sent to this address.
    pub sent_count: i64,
    pub last_at: Timestamp,
}

struct Validated {
    address: String,
    creds: Credentials,
    folders: Vec<String>,
    backfill_days: i64,
}

fn validate(input: &MailAccountInput) -> AppResult<Validated> {
    let mut v = Validator::default();
    let address = v.check("address", Email::parse(&input.address));
    let host = input.host.trim().trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty()
        || host.len() > 253
        || host
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == '@')
    {
        v.add("host", "must be a server name such as imap.example.com");
    }
    let tls = if input.tls.trim().is_empty() {
        Some(TlsMode::Implicit)
    } else {
        TlsMode::parse(input.tls.trim())
    };
    match tls {
        None => v.add("tls", "must be implicit, starttls or plain"),
        Some(TlsMode::Plain) if !imap::is_local_host(&host) => v.add(
            "tls",
            "unencrypted IMAP is only allowed for a server on this machine: choose implicit TLS or STARTTLS",
        ),
        _ => {}
    }
    let tls = tls.unwrap_or(TlsMode::Implicit);
    let port = input.port.unwrap_or(match tls {
        TlsMode::Implicit => 993,
        _ => 143,
    });
    if port == 0 {
        v.add("port", "must be between 1 and 65535");
    }
    if input.password.is_empty() {
        v.add("password", "is required");
    } else if input.password.len() > 1024 {
        v.add("password", "must be at most 1024 characters");
    }
    let username = match input.username.trim() {
        "" => input.address.trim().to_string(),
        name => name.to_string(),
    };
    if username.len() > 320 || username.chars().any(char::is_control) {
        v.add("username", "must be at most 320 characters, on one line");
    }
    let mut folders = Vec::new();
    for (i, folder) in input.folders.iter().enumerate() {
        let folder = folder.trim();
        if folder.is_empty() {
            continue;
        }
        if folder.len() > 200 || folder.chars().any(char::is_control) {
            v.add(
                &format!("folders[{i}]"),
                "must be a folder name of at most 200 characters",
            );
        } else if !folders.iter().any(|f| f == folder) {
            folders.push(folder.to_string());
        }
    }
    if folders.len() > 50 {
        v.add("folders", "at most 50 folders");
    }
    let backfill_days = input.backfill_days.unwrap_or(DEFAULT_BACKFILL_DAYS);
    if !(1..=3650).contains(&backfill_days) {
        v.add("backfill_days", "must be between 1 and 3650 days");
    }
    v.finish().map_err(AppError::Validation)?;
    Ok(Validated {
        address: address.expect("checked").as_str().to_string(),
        creds: Credentials {
            host,
            port,
            tls,
            username,
            password: input.password.clone(),
        },
        folders,
        backfill_days,
    })
}

/// Connects, logs in and lists the folders, without storing anything.
pub async fn test_connection(
    platform: &Platform,
    input: &MailAccountInput,
) -> AppResult<ConnectionCheck> {
    let valid = validate(input)?;
    let attempt = async {
        let mut session = Session::open(platform.outbound.policy(), &valid.creds).await?;
        let folders = session.folders(&valid.folders).await?;
        session.logout().await;
        Ok::<_, imap::MailError>(folders)
    };
    let outcome = match tokio::time::timeout(TEST_LIMIT, attempt).await {
        Ok(outcome) => outcome,
        Err(_) => Err(imap::MailError::Connect(
            keel_platform::outbound::socket::ConnectError::TimedOut,
        )),
    };
    Ok(match outcome {
        Ok(folders) => ConnectionCheck {
            ok: true,
            message: format!("Connected: {} folders will be read.", folders.len()),
            folders: folders.into_iter().map(|f| f.name).collect(),
        },
        Err(err) => ConnectionCheck {
            ok: false,
            message: err.to_string(),
            folders: Vec::new(),
        },
    })
}

/// Adds an account and starts its first sync.
pub async fn add(
    platform: &Platform,
    principal: &Principal,
    input: &MailAccountInput,
) -> AppResult<MailAccount> {
    let valid = validate(input)?;
    let user_id = principal.user.id;
    let taken = || AppError::Validation(vec![FieldError::new("address", "is already connected")]);
    if store::mail_accounts(platform.db.pool(), user_id)
        .await?
        .iter()
        .any(|a| a.address == valid.address)
    {
        return Err(taken());
    }
    let sealed = platform
        .secret
        .seal(PASSWORD_PURPOSE, valid.creds.password.as_bytes());
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let id = store::insert_mail_account(
        &mut *tx,
        user_id,
        &store::MailAccountFields {
            address: &valid.address,
            host: &valid.creds.host,
            port: valid.creds.port,
            tls: valid.creds.tls.as_str(),
            username: &valid.creds.username,
            password_sealed: &sealed,
            folders: &valid.folders.join("\n"),
            backfill_days: valid.backfill_days,
            keep_bodies: input.keep_bodies,
        },
        now,
    )
    .await
    // Two adds of the same address at once: the second meets the unique key.
    .map_err(|e| match keel_platform::db::is_unique_violation(&e) {
        true => taken(),
        false => e.into(),
    })?;
    SCHEDULE.queue(&mut tx, id, now, true).await?;
    tx.commit().await?;
    platform.job_wake.notify_one();
    get(platform, principal, id).await
}

pub async fn list(platform: &Platform, principal: &Principal) -> AppResult<Vec<MailAccount>> {
    let rows = store::mail_accounts(platform.db.pool(), principal.user.id).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(view(platform, row).await?);
    }
    Ok(out)
}

pub async fn get(platform: &Platform, principal: &Principal, id: i64) -> AppResult<MailAccount> {
    let row = store::mail_account(platform.db.pool(), Some(principal.user.id), id)
        .await?
        .ok_or(AppError::NotFound("mail account"))?;
    view(platform, row).await
}

async fn view(platform: &Platform, row: store::MailAccountRow) -> AppResult<MailAccount> {
    let (messages, interactions) = store::mail_message_counts(platform.db.pool(), row.id).await?;
    Ok(MailAccount {
        id: row.id,
        address: row.address,
        host: row.host,
        port: u16::try_from(row.port).unwrap_or(0),
        tls: row.tls,
        username: row.username,
        folders: row.folders.lines().map(str::to_string).collect(),
        backfill_days: row.backfill_days,
        keep_bodies: row.keep_bodies == 1,
        status: SyncStatus {
            state: row.state,
            done: row.progress_done,
            total: row.progress_total,
            last_synced_at: row.last_synced_at.map(Timestamp::from_millis),
            error: row.last_error,
            next_sync_at: Timestamp::from_millis(row.next_sync_at),
        },
        messages,
        interactions,
        created_at: Timestamp::from_millis(row.created_at),
    })
}

/// Removes an account: its sync stops and its password is gone. The interactions its mail
/// created stay unless `delete_interactions`.
pub async fn remove(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    delete_interactions: bool,
) -> AppResult<()> {
    let mut tx = platform.db.begin().await?;
    let removed =
        store::delete_mail_account(&mut tx, principal.user.id, id, delete_interactions).await?;
    if removed == 0 {
        return Err(AppError::NotFound("mail account"));
    }
    SCHEDULE.cancel(&mut tx, id).await?;
    tx.commit().await?;
    Ok(())
}

/// Queues a sync now (unless one is queued or running).
pub async fn sync_now(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    get(platform, principal, id).await?;
    SCHEDULE.queue_now(platform, id).await
}

pub async fn suggestions(
    platform: &Platform,
    principal: &Principal,
) -> AppResult<Vec<SuggestedContact>> {
    let rows =
        store::mail_suggestions(platform.db.pool(), principal.user.id, SUGGEST_AFTER).await?;
    Ok(rows
        .into_iter()
        .map(|r| SuggestedContact {
            address: r.address,
            name: r.name,
            sent_count: r.sent_count,
            last_at: Timestamp::from_millis(r.last_at),
        })
        .collect())
}

pub async fn ignore_suggestion(
    platform: &Platform,
    principal: &Principal,
    address: &str,
) -> AppResult<()> {
    let address = address.trim().to_lowercase();
    if store::ignore_mail_suggestion(platform.db.pool(), principal.user.id, &address).await? == 0 {
        return Err(AppError::NotFound("suggested contact"));
    }
    Ok(())
}

/// Creates the contact and records the mail already synced with them as interactions.
pub async fn accept_suggestion(
    platform: &Platform,
    principal: &Principal,
    address: &str,
) -> AppResult<Contact> {
    let address = address.trim().to_lowercase();
    let suggestion = store::mail_suggestions(platform.db.pool(), principal.user.id, 1)
        .await?
        .into_iter()
        .find(|s| s.address == address)
        .ok_or(AppError::NotFound("suggested contact"))?;
    let (given, family) = match suggestion.name.rsplit_once(' ') {
        Some((given, family)) => (given.to_string(), family.to_string()),
        None if suggestion.name.is_empty() => (
            address.split('@').next().unwrap_or("").to_string(),
            String::new(),
        ),
        None => (suggestion.name.clone(), String::new()),
    };
    let contact = contacts::create(
        platform,
        principal,
        &ContactInput {
            given_name: given,
            family_name: family,
            emails: vec![LabeledValue {
                value: address.clone(),
                label: String::new(),
            }],
            ..ContactInput::default()
        },
    )
    .await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    for m in store::unlinked_mail_messages(&mut tx, principal.user.id, &address).await? {
        let interaction = sync::interaction_for(
            &mut tx,
            principal.user.id,
            &sync::MailInteraction {
                key: &m.message_key,
                sent_at: Timestamp::from_millis(m.sent_at),
                subject: &m.subject,
                text: &m.text,
                direction: &m.direction,
            },
            &[contact.id],
            now,
        )
        .await?;
        store::link_mail_message(&mut tx, m.id, interaction).await?;
    }
    tx.commit().await?;
    contacts::get(platform, principal, contact.id).await
}
