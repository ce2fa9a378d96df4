//! Follow-ups found in an interaction: the assistant proposes them, the user accepts (a task,
//! due on the day the text named), edits or dismisses. Nothing becomes a task without the
//! user's accept. Interactions logged by hand are read when they are saved; synced mail only
//! when the user asks, so a mailbox sync cannot spend the budget.

use keel_platform::Platform;
use keel_platform::domain::Timestamp;
use keel_platform::identity::Principal;
use keel_platform::jobs::{Job, JobError};
use keel_platform::{AppError, AppResult};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ask::{AskError, Question, ask};
use super::selector::Tier;
use crate::activity::{self, Task, TaskInput};
use crate::store;

pub const FEATURE: &str = "action_items";
const MAX_TOKENS: u32 = 300;
const MAX_PROPOSALS: usize = 5;
const ATTEMPTS: i64 = 4;
/// Text shorter than this holds no follow-up worth a call.
const MIN_TEXT_CHARS: usize = 40;

const INSTRUCTIONS: &str = "Find follow-ups the user promised or was asked for in the text below (things to \
send, do, ask or arrange). Answer with a JSON array only, at most 5 items, each {\"title\": a short imperative \
sentence, \"due\": \"YYYY-MM-DD\" if the text names a day, else null}. Answer [] when there are none.";

/// Reads one interaction for follow-ups.
#[derive(Debug, Serialize, Deserialize)]
pub struct ActionItemsJob {
    pub user_id: i64,
    pub interaction_id: i64,
}

impl Job for ActionItemsJob {
    const KIND: &'static str = "mindfulcrm.ai_action_items";
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Proposal {
    pub id: i64,
    /// The interaction it was found in.
    pub interaction_id: i64,
    pub title: String,
    /// `YYYY-MM-DD` when the text named a day.
    pub due_on: Option<String>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AcceptInput {
    /// The task's title, if edited.
    pub title: Option<String>,
    /// `YYYY-MM-DD`, if edited; empty for none.
    pub due_on: Option<String>,
}

/// What the model answers, read leniently: an array of items somewhere in the text.
#[derive(Deserialize)]
struct Found {
    title: String,
    #[serde(default)]
    due: Option<String>,
}

/// The items of an answer: at most five, titles trimmed and bounded, dates only when real.
pub fn parse_answer(text: &str) -> Vec<(String, Option<String>)> {
    let (Some(start), Some(end)) = (text.find('['), text.rfind(']')) else {
        return Vec::new();
    };
    let Ok(found) = serde_json::from_str::<Vec<Found>>(text.get(start..=end).unwrap_or("[]"))
    else {
        return Vec::new();
    };
    found
        .into_iter()
        .filter_map(|f| {
            let title: String = f
                .title
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .chars()
                .filter(|c| !c.is_control())
                .take(200)
                .collect();
            let due = f
                .due
                .and_then(|d| d.trim().parse::<jiff::civil::Date>().ok())
                .map(|d| d.to_string());
            (!title.is_empty()).then_some((title, due))
        })
        .take(MAX_PROPOSALS)
        .collect()
}

/// Queues a read of the interaction when the user has the assistant on; `force` also for
/// synced ones (the user asked).
pub async fn queue(
    platform: &Platform,
    user_id: i64,
    interaction_id: i64,
    force: bool,
) -> AppResult<bool> {
    let db = platform.db.pool();
    let opted_in = store::ai_user(db, user_id)
        .await?
        .is_some_and(|u| u.opted_in == 1);
    let Some(row) = store::interaction_row(db, user_id, interaction_id).await? else {
        return Err(AppError::NotFound("interaction"));
    };
    let long_enough = row.subject.chars().count() + row.summary.chars().count() >= MIN_TEXT_CHARS;
    if !opted_in || !(force || (row.source_ref.is_none() && long_enough)) {
        return Ok(false);
    }
    let now = platform.now();
    let job = ActionItemsJob {
        user_id,
        interaction_id,
    };
    keel_platform::jobs::enqueue(db, &job, now, ATTEMPTS, now).await?;
    platform.job_wake.notify_one();
    Ok(true)
}

/// Asks again for one interaction (the user's button).
pub async fn find(
    platform: &Platform,
    principal: &Principal,
    interaction_id: i64,
) -> AppResult<()> {
    store::interaction_row(platform.db.pool(), principal.user.id, interaction_id)
        .await?
        .ok_or(AppError::NotFound("interaction"))?;
    if !super::is_on(platform, principal.user.id).await? {
        return Err(AppError::Conflict(
            "turn on the AI assistant in Settings first".into(),
        ));
    }
    let standing = super::ledger::standing(platform, principal.user.id).await?;
    if let Some(refusal) = standing.exhausted(platform.now()) {
        return Err(AppError::Conflict(refusal.message()));
    }
    queue(platform, principal.user.id, interaction_id, true).await?;
    Ok(())
}

pub async fn run(platform: &Platform, job: ActionItemsJob) -> Result<(), JobError> {
    let db = platform.db.pool();
    let Some(row) = store::interaction_row(db, job.user_id, job.interaction_id).await? else {
        return Ok(());
    };
    let day = Timestamp::from_millis(row.occurred_at)
        .to_jiff()
        .strftime("%A %Y-%m-%d")
        .to_string();
    let text = format!(
        "Written on {day} ({}).\nSubject: {}\n{}",
        row.kind, row.subject, row.summary
    );
    let question = Question {
        user_id: job.user_id,
        feature: FEATURE,
        tier: Tier::Economy,
        system: INSTRUCTIONS,
        text: &text,
        max_tokens: MAX_TOKENS,
    };
    let answer = match ask(platform, &question).await {
        Ok(answer) => answer,
        Err(AskError::Db(e)) => return Err(e.into()),
        Err(AskError::Failed(why)) => return Err(JobError::Failed(why)),
        // Off, over budget or too long: nothing to propose, nothing to retry.
        Err(_) => return Ok(()),
    };
    let now = platform.now();
    let found = parse_answer(&answer.text);
    let mut tx = platform.db.begin().await?;
    for (title, due) in &found {
        store::insert_ai_proposal(&mut *tx, job.user_id, row.id, title, due.as_deref(), now)
            .await?;
    }
    tx.commit().await?;
    if !found.is_empty() {
        let links =
            store::links(db, "crm_interaction_contacts", "interaction_id", &[row.id]).await?;
        let contacts: Vec<i64> = links.iter().map(|l| l.1).collect();
        super::announce(platform, job.user_id, &contacts, FEATURE).await;
    }
    Ok(())
}

fn view(row: store::ProposalRow) -> Proposal {
    Proposal {
        id: row.id,
        interaction_id: row.interaction_id,
        title: row.title,
        due_on: row.due_on,
        created_at: Timestamp::from_millis(row.created_at),
    }
}

/// Open proposals, newest first; with a contact, those from interactions with them.
pub async fn list(
    platform: &Platform,
    principal: &Principal,
    contact_id: Option<i64>,
) -> AppResult<Vec<Proposal>> {
    let rows = store::open_ai_proposals(platform.db.pool(), principal.user.id, contact_id).await?;
    Ok(rows.into_iter().map(view).collect())
}

/// Turns a proposal into a task (with the interaction's contacts), as proposed or edited.
pub async fn accept(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    input: &AcceptInput,
) -> AppResult<Task> {
    let user_id = principal.user.id;
    let db = platform.db.pool();
    let row = store::ai_proposal(db, user_id, id)
        .await?
        .ok_or(AppError::NotFound("proposal"))?;
    let due_on = input.due_on.clone().or(row.due_on.clone());
    let due_at = match due_on.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => {
            let date: jiff::civil::Date = raw
                .parse()
                .map_err(|_| AppError::field("due_on", "must be a date such as 2026-12-24"))?;
            let settings = crate::settings::get(db, user_id).await?;
            // Nine in the morning of that day, the user's time.
            let at = settings.start_of_day(date) + 9 * 3_600_000;
            Some(Timestamp::from_millis(at).to_string())
        }
    };
    // Claimed first, so two clicks make one task.
    if !store::close_ai_proposal(db, user_id, id, "accepted", None).await? {
        return Err(AppError::Conflict(
            "this proposal was already handled".into(),
        ));
    }
    let contacts = store::links(
        db,
        "crm_interaction_contacts",
        "interaction_id",
        &[row.interaction_id],
    )
    .await?;
    let task = TaskInput {
        title: input.title.clone().unwrap_or(row.title),
        notes: String::new(),
        due_at,
        priority: None,
        contact_ids: contacts.iter().map(|l| l.1).collect(),
    };
    match activity::save_task(platform, principal, None, &task).await {
        Ok(task) => {
            store::update_ai_proposal(db, user_id, id, "accepted", Some(task.id)).await?;
            Ok(task)
        }
        Err(err) => {
            store::update_ai_proposal(db, user_id, id, "open", None).await?;
            Err(err)
        }
    }
}

pub async fn dismiss(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    let user_id = principal.user.id;
    store::ai_proposal(platform.db.pool(), user_id, id)
        .await?
        .ok_or(AppError::NotFound("proposal"))?;
    store::close_ai_proposal(platform.db.pool(), user_id, id, "dismissed", None).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_read_leniently_and_bounded() {
        let text = "Sure! [{\"title\": \"Send Ada the  regatta photos\", \"due\": \"2026-12-10\"}, \
                    {\"title\": \"Call back\", \"due\": \"next week\"}, {\"title\": \"  \"}] Hope that helps.";
        assert_eq!(
            parse_answer(text),
            [
                (
                    "Send Ada the regatta photos".to_string(),
                    Some("2026-12-10".to_string())
                ),
                ("Call back".to_string(), None),
            ]
        );
        assert!(parse_answer("No follow-ups.").is_empty());
        assert!(parse_answer("[not json]").is_empty());
        let many = format!("[{}]", ["{\"title\": \"x\"}"; 9].join(","));
        assert_eq!(parse_answer(&many).len(), MAX_PROPOSALS);
    }
}
