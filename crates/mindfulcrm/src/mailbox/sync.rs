//! One sync run of one mail account, as a background job: take the account's lease, read
//! each folder's new UIDs in batches, and commit every batch together with the folder's new
//! position, so a run cut off anywhere resumes with no gap and no duplicate.

use std::time::Duration;

use keel_platform::Platform;
use keel_platform::domain::Timestamp;
use keel_platform::jobs::{Job, JobError};
use serde::{Deserialize, Serialize};

use super::imap::{BODY_BYTES, Credentials, Fetched, MailError, SNIPPET_BYTES, Session, TlsMode};
use super::message::MailMessage;
use super::{PASSWORD_PURPOSE, POLL_INTERVAL};
use crate::store;

/// Messages fetched and committed together.
pub const BATCH: usize = 250;
/// How long a sync may hold the account before another worker may take it over; renewed
/// with every batch.
const LEASE: Duration = Duration::from_secs(300);

/// Syncs one account now.
#[derive(Debug, Serialize, Deserialize)]
pub struct MailSyncJob {
    pub account_id: i64,
}

impl Job for MailSyncJob {
    const KIND: &'static str = "mindfulcrm.mail_sync";
}

/// Runs the job: syncs unless another worker holds the account, then records the outcome on
/// the account (errors are shown there and retried on the account's own schedule, not by the
/// job queue).
pub async fn run(platform: &Platform, job: MailSyncJob) -> Result<(), JobError> {
    let now = platform.now();
    if !store::take_mail_lease(platform.db.pool(), job.account_id, now, now.plus(LEASE)).await? {
        return Ok(());
    }
    let Some(account) = store::mail_account(platform.db.pool(), None, job.account_id).await? else {
        return Ok(());
    };
    let outcome = sync(platform, &account).await;
    let now = platform.now();
    let (error, next) = match &outcome {
        Ok(()) => (None, now.plus(POLL_INTERVAL)),
        Err(SyncError::Mail(err)) => (
            Some(err.to_string()),
            now.plus(retry_delay(account.failures + 1, err)),
        ),
        Err(SyncError::Db(err)) => {
            tracing::warn!(account = account.id, error = %err, "mail sync stopped on a database error");
            (
                Some("sync stopped on a storage error; it will resume".to_string()),
                now.plus(Duration::from_secs(60)),
            )
        }
    };
    store::finish_mail_sync(platform.db.pool(), account.id, error.as_deref(), now, next).await?;
    Ok(())
}

/// Backoff after `failures` failed runs in a row: 1, 2, 4 … minutes up to 6 hours; a server
/// that says it is throttling gets at least 15 minutes.
fn retry_delay(failures: i64, err: &MailError) -> Duration {
    let exp = failures.clamp(1, 12) as u32 - 1;
    let delay = Duration::from_secs(60 * 2u64.pow(exp)).min(Duration::from_secs(6 * 3600));
    if err.is_throttled() {
        delay.max(Duration::from_secs(15 * 60))
    } else {
        delay
    }
}

#[derive(Debug)]
enum SyncError {
    Mail(MailError),
    Db(sqlx::Error),
}

impl From<MailError> for SyncError {
    fn from(err: MailError) -> Self {
        Self::Mail(err)
    }
}

impl From<sqlx::Error> for SyncError {
    fn from(err: sqlx::Error) -> Self {
        Self::Db(err)
    }
}

struct Plan {
    folder: String,
    sent: bool,
    state: store::MailFolderRow,
    uids: Vec<u32>,
}

async fn sync(platform: &Platform, account: &store::MailAccountRow) -> Result<(), SyncError> {
    let password = platform
        .secret
        .unseal(PASSWORD_PURPOSE, &account.password_sealed)
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            MailError::Protocol("the stored password cannot be read: enter it again".into())
        })?;
    let creds = Credentials {
        host: account.host.clone(),
        port: u16::try_from(account.port).unwrap_or(993),
        tls: TlsMode::parse(&account.tls).unwrap_or(TlsMode::Implicit),
        username: account.username.clone(),
        password,
    };
    let mut session = Session::open(platform.outbound.policy(), &creds).await?;
    let picked: Vec<String> = account.folders.lines().map(str::to_string).collect();
    let folders = session.folders(&picked).await?;
    let since = jiff::tz::TimeZone::UTC
        .to_datetime(platform.now().to_jiff())
        .date()
        .saturating_sub(jiff::Span::new().days(account.backfill_days));
    let backfill_from = jiff::tz::TimeZone::UTC
        .to_timestamp(since.to_datetime(jiff::civil::Time::midnight()))
        .map(|at| Timestamp::from_millis(at.as_millisecond()))
        .unwrap_or(Timestamp::from_millis(0));

    let mut plans = Vec::new();
    // INBOX is looked at last, so it is still selected when its new mail is read first: each
    // SELECT of a large folder costs the server a scan.
    for folder in folders.into_iter().rev() {
        let selected = session.select(&folder.name).await?;
        let saved = store::mail_folder(platform.db.pool(), account.id, &folder.name).await?;
        let mut state = saved.clone().unwrap_or_default();
        if state.uid_validity != i64::from(selected.uid_validity) {
            // A new UIDVALIDITY means the old UIDs mean nothing: read the folder again (the
            // messages already stored are recognised by their Message-ID).
            state = store::MailFolderRow {
                uid_validity: i64::from(selected.uid_validity),
                ..Default::default()
            };
        }
        let unchanged = saved.is_some()
            && state.last_uid > 0
            && selected.uid_next.map(i64::from) == state.uid_next
            && selected.highest_modseq.is_some()
            && selected.highest_modseq.and_then(|m| i64::try_from(m).ok()) == state.highest_modseq;
        let uids = if unchanged || selected.exists == 0 {
            Vec::new()
        } else {
            session
                .uids_since(state.last_uid.try_into().unwrap_or(0), since)
                .await?
        };
        state.uid_next = selected.uid_next.map(i64::from);
        state.highest_modseq = selected.highest_modseq.and_then(|m| i64::try_from(m).ok());
        plans.push(Plan {
            folder: folder.name,
            sent: folder.sent,
            state,
            uids,
        });
    }

    plans.reverse();
    let keep_bodies = account.keep_bodies == 1;
    // Whole texts are larger: fewer per batch keeps memory flat.
    let (text_bytes, batch_size) = match keep_bodies {
        true => (BODY_BYTES, BATCH / 5),
        false => (SNIPPET_BYTES, BATCH),
    };
    let mut selected = plans.first().map(|p| p.folder.clone());
    let total: usize = plans.iter().map(|p| p.uids.len()).sum();
    let mut done = 0usize;
    store::set_mail_progress(
        platform.db.pool(),
        account.id,
        0,
        total as i64,
        platform.now().plus(LEASE),
    )
    .await?;
    for mut plan in plans {
        if !plan.uids.is_empty() && selected.as_ref() != Some(&plan.folder) {
            session.select(&plan.folder).await?;
            selected = Some(plan.folder.clone());
        }
        for batch in plan.uids.chunks(batch_size) {
            let fetched = session.fetch(batch, text_bytes).await?;
            let now = platform.now();
            let mut tx = platform.db.begin().await?;
            // The search after the first run has no date test: an old message moved into the
            // folder is left out here.
            let within = |raw: &&Fetched| raw.received_at.is_none_or(|at| at >= backfill_from);
            for raw in fetched.iter().filter(within) {
                let received_at = raw.received_at.unwrap_or(now);
                let message = MailMessage::parse(&raw.header, &raw.text, received_at, keep_bodies);
                record(&mut tx, account, plan.sent, &message, now).await?;
            }
            plan.state.last_uid = i64::from(*batch.last().expect("chunks are not empty"));
            let mut position = plan.state.clone();
            // Until the folder is done, the next run must not take it as unchanged.
            position.uid_next = None;
            store::save_mail_folder(&mut *tx, account.id, &plan.folder, &position).await?;
            tx.commit().await?;
            done += batch.len();
            store::set_mail_progress(
                platform.db.pool(),
                account.id,
                done as i64,
                total as i64,
                platform.now().plus(LEASE),
            )
            .await?;
        }
        store::save_mail_folder(platform.db.pool(), account.id, &plan.folder, &plan.state).await?;
    }
    session.logout().await;
    Ok(())
}

/// Stores one message once per user; with a known contact on it, it becomes an email
/// interaction. Addresses the user wrote to that are no contact count towards a suggestion.
async fn record(
    tx: &mut sqlx::AnyConnection,
    account: &store::MailAccountRow,
    in_sent_folder: bool,
    message: &MailMessage,
    now: Timestamp,
) -> sqlx::Result<()> {
    let user_id = account.user_id;
    if store::mail_message_known(tx, user_id, &message.key).await? {
        return Ok(());
    }
    let own = account.address.as_str();
    let sent = in_sent_folder
        || message
            .from
            .as_ref()
            .is_some_and(|p| p.address.eq_ignore_ascii_case(own));
    let direction = if sent { "sent" } else { "received" };
    let others = message.others(own);
    let addresses: Vec<&str> = others.iter().map(|p| p.address.as_str()).collect();
    let contacts = store::contacts_with_emails(tx, user_id, &addresses).await?;
    let interaction_id = if contacts.is_empty() {
        None
    } else {
        let interaction = MailInteraction {
            key: &message.key,
            sent_at: message.sent_at,
            subject: &message.subject,
            text: message.body.as_deref().unwrap_or(&message.snippet),
            direction,
        };
        Some(interaction_for(tx, user_id, &interaction, &contacts, now).await?)
    };
    if sent {
        for person in message.to.iter().chain(&message.cc) {
            if !person.address.eq_ignore_ascii_case(own) {
                store::bump_mail_suggestion(
                    tx,
                    user_id,
                    &person.address,
                    &person.name,
                    message.sent_at,
                )
                .await?;
            }
        }
    }
    let recipients = message
        .to
        .iter()
        .chain(&message.cc)
        .map(|p| {
            if p.name.is_empty() {
                p.address.clone()
            } else {
                format!("{} <{}>", p.name, p.address)
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    let participants = format!("\n{}\n", addresses.join("\n"));
    let from = message.from.clone().unwrap_or(super::message::Person {
        address: String::new(),
        name: String::new(),
    });
    store::insert_mail_message(
        tx,
        user_id,
        &store::MailMessageFields {
            account_id: account.id,
            key: &message.key,
            sent_at: message.sent_at,
            direction,
            from_address: &from.address,
            from_name: &from.name,
            recipients: &recipients,
            participants: &participants,
            subject: &message.subject,
            snippet: &message.snippet,
            body: message.body.as_deref(),
            thread_refs: &message.thread_refs.join(" "),
            interaction_id,
        },
        now,
    )
    .await
}

/// What an email interaction is made of.
pub(super) struct MailInteraction<'a> {
    pub key: &'a str,
    pub sent_at: Timestamp,
    pub subject: &'a str,
    /// The interaction's summary: the body when the account keeps bodies, else the snippet.
    pub text: &'a str,
    pub direction: &'a str,
}

/// The email interaction for a message with these contacts; it moves their "last talked".
pub(super) async fn interaction_for(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    mail: &MailInteraction<'_>,
    contacts: &[i64],
    now: Timestamp,
) -> sqlx::Result<i64> {
    let subject = if mail.subject.is_empty() {
        "(no subject)"
    } else {
        mail.subject
    };
    let source_ref = format!("mail:{}", mail.key);
    // An interaction already recorded for this message (an import, the API) is the one the
    // message points at: sources are unique per user, and a second one would fail the batch.
    if let Some(existing) = store::interaction_by_source(tx, user_id, &source_ref).await? {
        return Ok(existing);
    }
    let id = store::insert_interaction(
        tx,
        user_id,
        &store::InteractionFields {
            kind: "email",
            occurred_at: mail.sent_at,
            subject,
            summary: mail.text,
            sentiment: None,
            source_ref: Some(&source_ref),
            direction: Some(mail.direction),
            contact_ids: contacts,
        },
        now,
    )
    .await?;
    store::advance_last_interaction(tx, contacts, mail.sent_at).await?;
    Ok(id)
}
