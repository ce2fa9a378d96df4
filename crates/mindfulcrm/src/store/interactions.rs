//! Interactions.

use keel_platform::domain::Timestamp;
use keel_platform::store::Executor;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InteractionRow {
    pub id: i64,
    pub kind: String,
    pub occurred_at: i64,
    pub subject: String,
    pub summary: String,
    pub sentiment: Option<String>,
    pub source_ref: Option<String>,
    pub direction: Option<String>,
    pub created_at: i64,
}

pub struct InteractionFields<'a> {
    pub kind: &'a str,
    pub occurred_at: Timestamp,
    pub subject: &'a str,
    pub summary: &'a str,
    pub sentiment: Option<&'a str>,
    pub source_ref: Option<&'a str>,
    /// `received` or `sent`, for mail.
    pub direction: Option<&'a str>,
    pub contact_ids: &'a [i64],
}

pub async fn insert_interaction(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    f: &InteractionFields<'_>,
    now: Timestamp,
) -> sqlx::Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO crm_interactions (user_id, kind, occurred_at, subject, summary, sentiment, source_ref, direction, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(user_id)
    .bind(f.kind)
    .bind(f.occurred_at.as_millis())
    .bind(f.subject)
    .bind(f.summary)
    .bind(f.sentiment)
    .bind(f.source_ref)
    .bind(f.direction)
    .bind(now.as_millis())
    .fetch_one(&mut *tx)
    .await?;
    link(
        tx,
        "crm_interaction_contacts",
        "interaction_id",
        id,
        f.contact_ids,
    )
    .await?;
    Ok(id)
}

/// The user's interaction recorded from `source_ref` (a message id, an event uid), if any.
pub async fn interaction_by_source(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    source_ref: &str,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM crm_interactions WHERE user_id = $1 AND source_ref = $2")
        .bind(user_id)
        .bind(source_ref)
        .fetch_optional(&mut *tx)
        .await
}

/// Replaces the contacts linked to an interaction or a task.
pub async fn link(
    tx: &mut sqlx::AnyConnection,
    table: &str,
    column: &str,
    id: i64,
    contact_ids: &[i64],
) -> sqlx::Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {table} WHERE {column} = $1"
    )))
    .bind(id)
    .execute(&mut *tx)
    .await?;
    for contact_id in contact_ids {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} ({column}, contact_id) VALUES ($1, $2)"
        )))
        .bind(id)
        .bind(contact_id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Contacts linked to each of `ids` in `table` (`crm_interaction_contacts` or `crm_task_contacts`).
pub async fn links<'c>(
    db: impl Executor<'c>,
    table: &str,
    column: &str,
    ids: &[i64],
) -> sqlx::Result<Vec<(i64, i64, String)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT l.{column}, c.id, c.display_name FROM {table} l JOIN crm_contacts c ON c.id = l.contact_id \
         WHERE l.{column} IN ({list}) ORDER BY c.display_name"
    )))
    .persistent(false)
    .fetch_all(db)
    .await
}

const INTERACTION_COLUMNS: &str = "i.id, i.kind, i.occurred_at, i.subject, i.summary, i.sentiment, i.source_ref, i.direction, i.created_at";

/// The user's interactions, newest first, optionally with one contact only.
pub async fn list_interactions<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    contact_id: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<InteractionRow>> {
    // With a contact, start from its links (indexed by contact): a contact has a handful of
    // interactions, the user may have millions.
    let from = if contact_id.is_some() {
        // CROSS JOIN: SQLite keeps this join order (PostgreSQL plans it as an inner join).
        "crm_interaction_contacts ic CROSS JOIN crm_interactions i WHERE i.id = ic.interaction_id AND ic.contact_id = $3 AND"
    } else {
        "crm_interactions i WHERE $3 IS NULL AND"
    };
    // Keyset on (occurred_at, id), the list's order; the cursor is the last interaction seen.
    let keyset = if before.is_some() {
        "AND (i.occurred_at, i.id) < (SELECT b.occurred_at, b.id FROM crm_interactions b WHERE b.id = $2 AND b.user_id = $1)"
    } else {
        "AND $2 IS NULL"
    };
    sqlx::query_as::<_, InteractionRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {INTERACTION_COLUMNS} FROM {from} i.user_id = $1 {keyset} \
         ORDER BY i.occurred_at DESC, i.id DESC LIMIT $4"
    )))
    // Planned for its parameters each time: PostgreSQL's generic plan for the optional
    // filters took 40 ms where the custom one takes 2.
    .persistent(false)
    .bind(user_id)
    .bind(before)
    .bind(contact_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn interaction_row<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    id: i64,
) -> sqlx::Result<Option<InteractionRow>> {
    sqlx::query_as::<_, InteractionRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {INTERACTION_COLUMNS} FROM crm_interactions i WHERE i.id = $1 AND i.user_id = $2"
    )))
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

pub async fn delete_interaction<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    id: i64,
) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM crm_interactions WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}
