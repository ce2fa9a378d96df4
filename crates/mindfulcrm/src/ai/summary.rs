//! The relationship summary on a contact's page: who they are to you, what you last talked
//! about, what is still open. Built from the contact's details, notes and newest interactions
//! (mail text included when synced), cached by a hash of exactly that prompt and made by a
//! background job: a page view never waits for a model, and an unchanged contact never costs
//! a second call.

use keel_platform::Platform;
use keel_platform::domain::Timestamp;
use keel_platform::identity::Principal;
use keel_platform::jobs::{Job, JobError};
use keel_platform::{AppError, AppResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ask::{AskError, Question, ask};
use super::selector::Tier;
use crate::contacts::Contact;
use crate::store;

/// The ledger's name for this feature.
pub const FEATURE: &str = "summary";
const MAX_TOKENS: u32 = 400;
/// Text of the prompt, newest interactions first, up to about 8,000 tokens.
const MAX_PROMPT_BYTES: usize = 24_000;
/// Interactions read at a time while the prompt fills.
const PAGE: i64 = 200;
const ATTEMPTS: i64 = 4;
const NOT_SET_UP: &str = "The AI assistant is not set up on this server.";

const INSTRUCTIONS: &str = "You help someone keep in touch with the people in their life. From the notes and \
the history below, write a short summary in plain text (no Markdown, at most 120 words): who this person is to \
the user, what they last talked about and when, and any open threads or promises. Only use what the text says.";

/// Makes one summary.
#[derive(Debug, Serialize, Deserialize)]
pub struct SummaryJob {
    pub user_id: i64,
    pub contact_id: i64,
    pub source_hash: String,
}

impl Job for SummaryJob {
    const KIND: &'static str = "mindfulcrm.ai_summary";
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct ContactSummary {
    /// `off` (AI not set up, or not turned on for you), `working`, `ready` or `failed`.
    pub state: String,
    /// The latest summary made; shown while a newer one is being made or could not be.
    pub text: Option<String>,
    /// `provider / model` that wrote `text`.
    pub model: Option<String>,
    /// Why there is no summary or no newer one, in words.
    pub message: Option<String>,
    /// `text` was made from older notes and interactions.
    pub stale: bool,
    pub updated_at: Option<Timestamp>,
}

/// The prompt for a contact: their details and notes, then interactions newest first until
/// the size limit.
async fn prompt(platform: &Platform, user_id: i64, contact: &Contact) -> sqlx::Result<String> {
    let mut text = format!("Name: {}\n", contact.display_name);
    for (label, value) in [
        ("Company", contact.company.as_str()),
        ("Title", contact.title.as_str()),
        ("Notes", contact.notes.as_str()),
    ] {
        if !value.trim().is_empty() {
            text.push_str(&format!("{label}: {}\n", value.trim()));
        }
    }
    if !contact.tags.is_empty() {
        text.push_str(&format!("Tags: {}\n", contact.tags.join(", ")));
    }
    text.push_str("\nHistory, newest first:\n");
    // A page at a time: the size limit is usually reached long before the oldest.
    let mut before = None;
    loop {
        let page =
            store::list_interactions(platform.db.pool(), user_id, Some(contact.id), before, PAGE)
                .await?;
        for i in &page {
            let day = Timestamp::from_millis(i.occurred_at)
                .to_jiff()
                .strftime("%Y-%m-%d")
                .to_string();
            let direction = i
                .direction
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            let line = format!(
                "- {day} {}{direction}: {} {}\n",
                i.kind,
                i.subject.trim(),
                i.summary.trim()
            );
            if text.len() + line.len() > MAX_PROMPT_BYTES {
                return Ok(text);
            }
            text.push_str(&line);
        }
        match page.last() {
            Some(last) if page.len() as i64 == PAGE => before = Some(last.id),
            _ => return Ok(text),
        }
    }
}

/// The prompt a summary of this contact would be made from (for benchmarks and support).
pub async fn source_text(platform: &Platform, user_id: i64, contact_id: i64) -> AppResult<String> {
    let contact = crate::contacts::of_user(platform, user_id, contact_id).await?;
    Ok(prompt(platform, user_id, &contact).await?)
}

/// The contact's summary as it stands, starting a new one when what it is made from changed
/// (or, with `retry`, when the last one failed).
pub async fn get(
    platform: &Platform,
    principal: &Principal,
    contact_id: i64,
    retry: bool,
) -> AppResult<ContactSummary> {
    let user_id = principal.user.id;
    let contact = crate::contacts::get(platform, principal, contact_id).await?;
    let me = super::mine(platform, principal).await?;
    if !me.available || !me.opted_in {
        let message = if me.available {
            "Turn on the AI assistant in Settings to get a summary of this relationship."
        } else {
            NOT_SET_UP
        };
        return Ok(ContactSummary {
            state: "off".into(),
            text: None,
            model: None,
            message: Some(message.into()),
            stale: false,
            updated_at: None,
        });
    }
    if retry {
        // Asked for explicitly: a used-up budget is the answer, not a queued job.
        let standing = super::ledger::standing(platform, user_id).await?;
        if let Some(refusal) = standing.exhausted(platform.now()) {
            return Err(AppError::Conflict(refusal.message()));
        }
    }
    let hash = keel_platform::crypto::sha256_hex(&prompt(platform, user_id, &contact).await?);
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    if store::start_ai_summary(&mut *tx, user_id, contact_id, &hash, retry, now).await? {
        let job = SummaryJob {
            user_id,
            contact_id,
            source_hash: hash.clone(),
        };
        keel_platform::jobs::enqueue(&mut *tx, &job, now, ATTEMPTS, now).await?;
    }
    tx.commit().await?;
    platform.job_wake.notify_one();
    let row = match store::ai_summary(platform.db.pool(), user_id, contact_id).await? {
        Some(row) => row,
        None => return Err(AppError::NotFound("summary")),
    };
    Ok(view(row, &hash))
}

/// The summary for the contact page: `None` when the server has no AI set up; a problem
/// reading it leaves the card out rather than the page.
pub async fn for_page(
    platform: &Platform,
    principal: &Principal,
    contact_id: i64,
) -> Option<ContactSummary> {
    match get(platform, principal, contact_id, false).await {
        Ok(summary) if summary.state == "off" && summary.message.as_deref() == Some(NOT_SET_UP) => {
            None
        }
        Ok(summary) => Some(summary),
        Err(err) => {
            tracing::warn!(error = %err, contact_id, "relationship summary left out");
            None
        }
    }
}

fn view(row: store::SummaryRow, hash: &str) -> ContactSummary {
    let message = match row.state.as_str() {
        "working" => Some("Writing a summary…".to_string()),
        _ => row.error.clone(),
    };
    ContactSummary {
        stale: row.text.is_some() && (row.source_hash != hash || row.state != "ready"),
        state: row.state,
        text: row.text,
        model: row.model,
        message,
        updated_at: Some(Timestamp::from_millis(row.updated_at)),
    }
}

/// The job: ask for the summary and keep it; a refusal or a settings problem is written on the
/// summary, a provider failure is also retried with backoff.
pub async fn run(platform: &Platform, job: SummaryJob) -> Result<(), JobError> {
    let db = platform.db.pool();
    let current = store::ai_summary(db, job.user_id, job.contact_id).await?;
    if current.is_none_or(|row| row.source_hash != job.source_hash) {
        // The contact changed again (a newer job has it) or is gone.
        return Ok(());
    }
    let contact = match crate::contacts::of_user(platform, job.user_id, job.contact_id).await {
        Ok(contact) => contact,
        Err(AppError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(JobError::Failed(e.to_string())),
    };
    let text = prompt(platform, job.user_id, &contact).await?;
    let question = Question {
        user_id: job.user_id,
        feature: FEATURE,
        tier: Tier::Economy,
        system: INSTRUCTIONS,
        text: &text,
        max_tokens: MAX_TOKENS,
    };
    let outcome = ask(platform, &question).await;
    let now = platform.now();
    let (result, retry) = match outcome {
        Ok(answer) => {
            let text: String = answer.text.trim().chars().take(4_000).collect();
            (Ok((text, answer.model)), None)
        }
        Err(AskError::Db(e)) => return Err(e.into()),
        Err(AskError::Failed(why)) => {
            let message = format!("No model answered ({why}); it is tried again in a while.");
            (Err(message), Some(why))
        }
        Err(other) => (Err(other.to_string()), None),
    };
    let result = match &result {
        Ok((text, model)) => Ok((text.as_str(), model.as_str())),
        Err(message) => Err(message.as_str()),
    };
    store::finish_ai_summary(db, job.contact_id, &job.source_hash, result, now).await?;
    match retry {
        Some(why) => Err(JobError::Failed(why)),
        None => Ok(()),
    }
}
