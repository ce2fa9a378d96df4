//! What the assistant writes about one contact: the relationship summary on their page (who
//! they are to you, what you last talked about, what is open) and, for contacts due for a
//! reconnect, a suggested next touch on the dashboard (why now, and a short draft to copy).
//! Each is built from the contact's details, notes and newest interactions (mail text
//! included when synced), cached by a hash of exactly that prompt and made by a background
//! job: a page view never waits for a model, and an unchanged contact never costs a second
//! call.

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

/// Interactions read at a time while the prompt fills.
const PAGE: i64 = 200;
const ATTEMPTS: i64 = 4;
const NOT_SET_UP: &str = "The AI assistant is not set up on this server.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextKind {
    Summary,
    NextTouch,
}

impl TextKind {
    /// The stored kind, which is also the ledger's feature name.
    pub fn as_str(self) -> &'static str {
        match self {
            TextKind::Summary => "summary",
            TextKind::NextTouch => "next_touch",
        }
    }

    fn instructions(self) -> &'static str {
        match self {
            TextKind::Summary => {
                "You help someone keep in touch with the people in their life. From the notes and the \
history below, write a short summary in plain text (no Markdown, at most 120 words): who this person is to \
the user, what they last talked about and when, and any open threads or promises. Only use what the text says."
            }
            TextKind::NextTouch => {
                "You help someone keep in touch with the people in their life. This person is due for a \
reconnect. From the notes and the history below, answer with JSON only: {\"why\": one sentence on why now is \
a good moment and what to bring up, \"draft\": a short, warm message (at most 60 words) the user could send, \
in the language of the history}. Only use what the text says."
            }
        }
    }

    fn max_tokens(self) -> u32 {
        match self {
            TextKind::Summary => 400,
            TextKind::NextTouch => 250,
        }
    }

    /// How much text of the history goes into the prompt.
    fn max_prompt_bytes(self) -> usize {
        match self {
            TextKind::Summary => 24_000,
            TextKind::NextTouch => 6_000,
        }
    }
}

/// Makes one text.
#[derive(Debug, Serialize, Deserialize)]
pub struct AiTextJob {
    pub user_id: i64,
    pub contact_id: i64,
    pub kind: TextKind,
    pub source_hash: String,
}

impl Job for AiTextJob {
    const KIND: &'static str = "mindfulcrm.ai_text";
}

#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct ContactText {
    /// `off` (AI not set up, or not turned on for you), `working`, `ready` or `failed`.
    pub state: String,
    /// The latest text made; shown while a newer one is being made or could not be.
    pub text: Option<String>,
    /// `provider / model` that wrote `text`.
    pub model: Option<String>,
    /// Why there is no text or no newer one, in words.
    pub message: Option<String>,
    /// `text` was made from older notes and interactions.
    pub stale: bool,
    pub updated_at: Option<Timestamp>,
}

/// A suggested next touch as the dashboard shows it.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct NextTouch {
    pub why: String,
    pub draft: String,
}

impl NextTouch {
    /// Reads the model's answer leniently: the JSON object it was asked for, else the whole
    /// answer as the draft.
    pub fn parse(text: &str) -> Self {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(default)]
            why: String,
            #[serde(default)]
            draft: String,
        }
        let object = text
            .find('{')
            .zip(text.rfind('}'))
            .and_then(|(start, end)| text.get(start..=end))
            .and_then(|json| serde_json::from_str::<Answer>(json).ok());
        match object {
            Some(a) if !a.draft.trim().is_empty() => Self {
                why: a.why.trim().to_string(),
                draft: a.draft.trim().to_string(),
            },
            _ => Self {
                why: String::new(),
                draft: text.trim().to_string(),
            },
        }
    }
}

/// The prompt: the contact's details and notes, then interactions newest first until the
/// kind's size limit.
async fn prompt(
    platform: &Platform,
    user_id: i64,
    contact: &Contact,
    kind: TextKind,
) -> sqlx::Result<String> {
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
    if let (TextKind::NextTouch, Some(days)) = (kind, contact.cadence_days) {
        text.push_str(&format!("Wants to be in touch every {days} days.\n"));
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
            if text.len() + line.len() > kind.max_prompt_bytes() {
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

/// The prompt a text of this kind would be made from (for benchmarks and support).
pub async fn source_text(
    platform: &Platform,
    user_id: i64,
    contact_id: i64,
    kind: TextKind,
) -> AppResult<String> {
    let contact = crate::contacts::of_user(platform, user_id, contact_id).await?;
    Ok(prompt(platform, user_id, &contact, kind).await?)
}

/// The contact's text of `kind` as it stands, starting a new one when what it is made from
/// changed (or, with `retry`, when the last one failed).
pub async fn get(
    platform: &Platform,
    principal: &Principal,
    contact_id: i64,
    kind: TextKind,
    retry: bool,
) -> AppResult<ContactText> {
    let user_id = principal.user.id;
    let contact = crate::contacts::get(platform, principal, contact_id).await?;
    let available = !super::usable_models(platform).await?.is_empty();
    let opted_in = store::ai_user(platform.db.pool(), user_id)
        .await?
        .is_some_and(|u| u.opted_in == 1);
    if !available || !opted_in {
        let message = if available {
            "Turn on the AI assistant in Settings to get a summary of this relationship."
        } else {
            NOT_SET_UP
        };
        return Ok(ContactText {
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
    let hash = keel_platform::crypto::sha256_hex(&prompt(platform, user_id, &contact, kind).await?);
    let kept = store::ai_text(platform.db.pool(), user_id, contact_id, kind.as_str()).await?;
    if let Some(row) = kept
        && row.source_hash == hash
        && !(retry && row.state == "failed")
    {
        // Up to date or already being made: a page view writes nothing.
        return Ok(view(row, &hash, kind));
    }
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    if store::start_ai_text(
        &mut *tx,
        user_id,
        contact_id,
        kind.as_str(),
        &hash,
        retry,
        now,
    )
    .await?
    {
        let job = AiTextJob {
            user_id,
            contact_id,
            kind,
            source_hash: hash.clone(),
        };
        keel_platform::jobs::enqueue(&mut *tx, &job, now, ATTEMPTS, now).await?;
    }
    tx.commit().await?;
    platform.job_wake.notify_one();
    let row = store::ai_text(platform.db.pool(), user_id, contact_id, kind.as_str())
        .await?
        .ok_or(AppError::NotFound("AI text"))?;
    Ok(view(row, &hash, kind))
}

/// The text for a page: `None` when the server has no AI set up (or, for the next touch, when
/// it is off for the user); a problem reading it leaves it out rather than the page.
pub async fn for_page(
    platform: &Platform,
    principal: &Principal,
    contact_id: i64,
    kind: TextKind,
) -> Option<ContactText> {
    match get(platform, principal, contact_id, kind, false).await {
        Ok(text) if text.state == "off" => {
            let offer_opt_in =
                kind == TextKind::Summary && text.message.as_deref() != Some(NOT_SET_UP);
            offer_opt_in.then_some(text)
        }
        Ok(text) => Some(text),
        Err(err) => {
            tracing::warn!(error = %err, contact_id, kind = kind.as_str(), "AI text left out");
            None
        }
    }
}

fn view(row: store::TextRow, hash: &str, kind: TextKind) -> ContactText {
    let message = match row.state.as_str() {
        "working" if kind == TextKind::Summary => Some("Writing a summary…".to_string()),
        "working" => Some("Writing a suggestion…".to_string()),
        _ => row.error.clone(),
    };
    ContactText {
        stale: row.text.is_some() && (row.source_hash != hash || row.state != "ready"),
        state: row.state,
        text: row.text,
        model: row.model,
        message,
        updated_at: Some(Timestamp::from_millis(row.updated_at)),
    }
}

/// The job: ask for the text and keep it; a refusal or a settings problem is written on the
/// text, a provider failure is also retried with backoff.
pub async fn run(platform: &Platform, job: AiTextJob) -> Result<(), JobError> {
    let db = platform.db.pool();
    let kind = job.kind.as_str();
    let current = store::ai_text(db, job.user_id, job.contact_id, kind).await?;
    if current.is_none_or(|row| row.source_hash != job.source_hash) {
        // The contact changed again (a newer job has it) or is gone.
        return Ok(());
    }
    let contact = match crate::contacts::of_user(platform, job.user_id, job.contact_id).await {
        Ok(contact) => contact,
        Err(AppError::NotFound(_)) => return Ok(()),
        Err(e) => return Err(JobError::Failed(e.to_string())),
    };
    let text = prompt(platform, job.user_id, &contact, job.kind).await?;
    let question = Question {
        user_id: job.user_id,
        feature: kind,
        tier: Tier::Economy,
        system: job.kind.instructions(),
        text: &text,
        max_tokens: job.kind.max_tokens(),
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
    store::finish_ai_text(db, job.contact_id, kind, &job.source_hash, result, now).await?;
    super::announce(platform, job.user_id, &[job.contact_id], kind).await;
    match retry {
        Some(why) => Err(JobError::Failed(why)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_touch_answers_are_read_leniently() {
        let t = NextTouch::parse(
            "```json\n{\"why\": \"It has been a while.\", \"draft\": \"Hi Ada!\"}\n```",
        );
        assert_eq!(
            (t.why.as_str(), t.draft.as_str()),
            ("It has been a while.", "Hi Ada!")
        );
        let t = NextTouch::parse("Hi Ada, how was the regatta?");
        assert_eq!(
            (t.why.as_str(), t.draft.as_str()),
            ("", "Hi Ada, how was the regatta?")
        );
    }
}
