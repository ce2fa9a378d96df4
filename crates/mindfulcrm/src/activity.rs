//! Interactions (what happened with whom) and tasks (what you promised), scoped to the
//! signed-in user. Adding or removing an interaction refreshes its contacts' last
//! interaction time in the same transaction.

use keel_platform::domain::{Timestamp, Validator};
use keel_platform::identity::Principal;
use keel_platform::{AppError, AppResult, Platform};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{InteractionKind, Priority, Sentiment, TaskStatus};
use crate::store::{self, InteractionFields, TaskFields};

/// A contact mentioned by an interaction or a task.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContactRef {
    pub id: i64,
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Interaction {
    pub id: i64,
    pub kind: InteractionKind,
    pub occurred_at: Timestamp,
    pub subject: String,
    pub summary: String,
    pub sentiment: Option<Sentiment>,
    /// Set for synced interactions (message id, event uid).
    pub source_ref: Option<String>,
    /// `received` or `sent`, for synced mail.
    pub direction: Option<String>,
    pub contacts: Vec<ContactRef>,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionInput {
    /// `email`, `meeting`, `call`, `message` or `note`.
    pub kind: String,
    /// RFC 3339; default now.
    pub occurred_at: Option<String>,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub summary: String,
    pub sentiment: Option<String>,
    pub source_ref: Option<String>,
    /// At least one of your contacts.
    pub contact_ids: Vec<i64>,
}

/// The contacts of `links` (owner id, contact id, name) linked to `owner`.
fn linked(links: &[(i64, i64, String)], owner: i64) -> Vec<ContactRef> {
    links
        .iter()
        .filter(|l| l.0 == owner)
        .map(|l| ContactRef {
            id: l.1,
            display_name: l.2.clone(),
        })
        .collect()
}

/// Ids the caller may link: each must be one of their contacts.
async fn checked_contacts(
    platform: &Platform,
    principal: &Principal,
    ids: &[i64],
    v: &mut Validator,
) -> AppResult<Vec<i64>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.len() > 100 {
        v.add("contact_ids", "at most 100 contacts");
        return Ok(Vec::new());
    }
    let own = store::own_contacts(platform.db.pool(), principal.user.id, &ids).await?;
    if let Some(missing) = ids.iter().find(|id| !own.contains(id)) {
        v.add("contact_ids", format!("no contact {missing}"));
    }
    Ok(own)
}

pub async fn create_interaction(
    platform: &Platform,
    principal: &Principal,
    input: &InteractionInput,
) -> AppResult<Interaction> {
    let mut v = Validator::new();
    let kind = v.check("kind", InteractionKind::parse(&input.kind));
    let occurred_at = match input.occurred_at.as_deref() {
        None | Some("") => Some(platform.now()),
        Some(raw) => v.check("occurred_at", Timestamp::parse_rfc3339(raw)),
    };
    let sentiment = match input.sentiment.as_deref() {
        None | Some("") => None,
        Some(raw) => v.check("sentiment", Sentiment::parse(raw)),
    };
    if input.subject.chars().count() > 500 {
        v.add("subject", "must be at most 500 characters");
    }
    if input.summary.chars().count() > 50_000 {
        v.add("summary", "must be at most 50000 characters");
    }
    if input.subject.trim().is_empty() && input.summary.trim().is_empty() {
        v.add("summary", "say something about it (a subject or a summary)");
    }
    if input.source_ref.as_deref().is_some_and(|s| s.len() > 500) {
        v.add("source_ref", "must be at most 500 characters");
    }
    if input.contact_ids.is_empty() {
        v.add("contact_ids", "an interaction is with at least one contact");
    }
    let contacts = checked_contacts(platform, principal, &input.contact_ids, &mut v).await?;
    v.finish().map_err(AppError::Validation)?;
    let mut tx = platform.db.begin().await?;
    let fields = InteractionFields {
        kind: kind.expect("validated").as_str(),
        occurred_at: occurred_at.expect("validated"),
        subject: input.subject.trim(),
        summary: input.summary.trim(),
        sentiment: sentiment.map(Sentiment::as_str),
        source_ref: input.source_ref.as_deref().filter(|s| !s.is_empty()),
        direction: None,
        contact_ids: &contacts,
    };
    let id = store::insert_interaction(&mut tx, principal.user.id, &fields, platform.now())
        .await
        .map_err(|e| {
            if keel_platform::db::is_unique_violation(&e) {
                AppError::Conflict("an interaction with this source_ref exists already".into())
            } else {
                e.into()
            }
        })?;
    store::refresh_last_interaction(&mut tx, &contacts).await?;
    tx.commit().await?;
    // With the assistant on, follow-ups in what was just written are proposed.
    crate::ai::proposals::queue(platform, principal.user.id, id, false).await?;
    get_interaction(platform, principal, id).await
}

pub async fn get_interaction(
    platform: &Platform,
    principal: &Principal,
    id: i64,
) -> AppResult<Interaction> {
    let row = store::interaction_row(platform.db.pool(), principal.user.id, id)
        .await?
        .ok_or(AppError::NotFound("interaction"))?;
    Ok(with_contacts(platform, vec![row]).await?.remove(0))
}

pub async fn list_interactions(
    platform: &Platform,
    principal: &Principal,
    contact_id: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> AppResult<Vec<Interaction>> {
    let rows = store::list_interactions(
        platform.db.pool(),
        principal.user.id,
        contact_id,
        before,
        limit.clamp(1, 200),
    )
    .await?;
    with_contacts(platform, rows).await
}

async fn with_contacts(
    platform: &Platform,
    rows: Vec<store::InteractionRow>,
) -> AppResult<Vec<Interaction>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let links = store::links(
        platform.db.pool(),
        "crm_interaction_contacts",
        "interaction_id",
        &ids,
    )
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Interaction {
            contacts: linked(&links, r.id),
            id: r.id,
            kind: InteractionKind::parse(&r.kind).unwrap_or(InteractionKind::Note),
            occurred_at: Timestamp::from_millis(r.occurred_at),
            subject: r.subject,
            summary: r.summary,
            sentiment: r
                .sentiment
                .as_deref()
                .and_then(|s| Sentiment::parse(s).ok()),
            source_ref: r.source_ref,
            direction: r.direction,
            created_at: Timestamp::from_millis(r.created_at),
        })
        .collect())
}

pub async fn delete_interaction(
    platform: &Platform,
    principal: &Principal,
    id: i64,
) -> AppResult<()> {
    let interaction = get_interaction(platform, principal, id).await?;
    let mut tx = platform.db.begin().await?;
    store::delete_interaction(&mut *tx, principal.user.id, id).await?;
    let contacts: Vec<i64> = interaction.contacts.iter().map(|c| c.id).collect();
    store::refresh_last_interaction(&mut tx, &contacts).await?;
    tx.commit().await?;
    Ok(())
}

// ---- tasks ----

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Task {
    pub id: i64,
    pub title: String,
    pub notes: String,
    pub due_at: Option<Timestamp>,
    pub priority: Priority,
    pub status: TaskStatus,
    pub completed_at: Option<Timestamp>,
    pub contacts: Vec<ContactRef>,
    /// Open and past its due time.
    pub overdue: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TaskInput {
    pub title: String,
    pub notes: String,
    /// RFC 3339, or null for no due time.
    pub due_at: Option<String>,
    /// `low`, `normal` (default) or `high`.
    pub priority: Option<String>,
    pub contact_ids: Vec<i64>,
}

pub async fn save_task(
    platform: &Platform,
    principal: &Principal,
    id: Option<i64>,
    input: &TaskInput,
) -> AppResult<Task> {
    let mut v = Validator::new();
    let title = input.title.trim();
    if title.is_empty() || title.chars().count() > 500 {
        v.add("title", "is required, at most 500 characters");
    }
    if input.notes.chars().count() > 20_000 {
        v.add("notes", "must be at most 20000 characters");
    }
    let due_at = match input.due_at.as_deref() {
        None | Some("") => None,
        Some(raw) => v.check("due_at", Timestamp::parse_rfc3339(raw)),
    };
    let priority = match input.priority.as_deref() {
        None | Some("") => Some(Priority::Normal),
        Some(raw) => v.check("priority", Priority::parse(raw)),
    };
    let contacts = checked_contacts(platform, principal, &input.contact_ids, &mut v).await?;
    v.finish().map_err(AppError::Validation)?;
    let fields = TaskFields {
        title,
        notes: input.notes.trim(),
        due_at,
        priority: priority.expect("validated").as_str(),
        contact_ids: &contacts,
    };
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let id = match id {
        Some(id) => {
            if !store::update_task(&mut tx, principal.user.id, id, &fields, now).await? {
                return Err(AppError::NotFound("task"));
            }
            id
        }
        None => store::insert_task(&mut tx, principal.user.id, &fields, now).await?,
    };
    tx.commit().await?;
    get_task(platform, principal, id).await
}

pub async fn set_done(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    done: bool,
) -> AppResult<Task> {
    if !store::set_task_status(
        platform.db.pool(),
        principal.user.id,
        id,
        done,
        platform.now(),
    )
    .await?
    {
        return Err(AppError::NotFound("task"));
    }
    get_task(platform, principal, id).await
}

pub async fn get_task(platform: &Platform, principal: &Principal, id: i64) -> AppResult<Task> {
    let row = store::task_row(platform.db.pool(), principal.user.id, id)
        .await?
        .ok_or(AppError::NotFound("task"))?;
    Ok(tasks_with_contacts(platform, vec![row]).await?.remove(0))
}

pub async fn list_tasks(
    platform: &Platform,
    principal: &Principal,
    status: Option<TaskStatus>,
    contact_id: Option<i64>,
) -> AppResult<Vec<Task>> {
    let rows = store::list_tasks(
        platform.db.pool(),
        principal.user.id,
        status.map(TaskStatus::as_str),
        contact_id,
    )
    .await?;
    tasks_with_contacts(platform, rows).await
}

async fn tasks_with_contacts(
    platform: &Platform,
    rows: Vec<store::TaskRow>,
) -> AppResult<Vec<Task>> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let links = store::links(platform.db.pool(), "crm_task_contacts", "task_id", &ids).await?;
    let now = platform.now().as_millis();
    Ok(rows
        .into_iter()
        .map(|r| {
            let status = TaskStatus::parse(&r.status).unwrap_or(TaskStatus::Open);
            Task {
                contacts: linked(&links, r.id),
                overdue: status == TaskStatus::Open && r.due_at.is_some_and(|d| d < now),
                id: r.id,
                title: r.title,
                notes: r.notes,
                due_at: r.due_at.map(Timestamp::from_millis),
                priority: Priority::parse(&r.priority).unwrap_or(Priority::Normal),
                status,
                completed_at: r.completed_at.map(Timestamp::from_millis),
                created_at: Timestamp::from_millis(r.created_at),
                updated_at: Timestamp::from_millis(r.updated_at),
            }
        })
        .collect())
}

pub async fn delete_task(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    if store::delete_task(platform.db.pool(), principal.user.id, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound("task"))
    }
}
