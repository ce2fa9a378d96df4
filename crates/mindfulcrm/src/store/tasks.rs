//! Tasks.

use keel_platform::domain::Timestamp;
use keel_platform::store::Executor;

use super::*;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    pub id: i64,
    pub title: String,
    pub notes: String,
    pub due_at: Option<i64>,
    pub priority: String,
    pub status: String,
    pub completed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

const TASK_COLUMNS: &str =
    "id, title, notes, due_at, priority, status, completed_at, created_at, updated_at";

pub struct TaskFields<'a> {
    pub title: &'a str,
    pub notes: &'a str,
    pub due_at: Option<Timestamp>,
    pub priority: &'a str,
    pub contact_ids: &'a [i64],
}

pub async fn insert_task(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    f: &TaskFields<'_>,
    now: Timestamp,
) -> sqlx::Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO crm_tasks (user_id, title, notes, due_at, priority, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'open', $6, $6) RETURNING id",
    )
    .bind(user_id)
    .bind(f.title)
    .bind(f.notes)
    .bind(f.due_at.map(Timestamp::as_millis))
    .bind(f.priority)
    .bind(now.as_millis())
    .fetch_one(&mut *tx)
    .await?;
    link(tx, "crm_task_contacts", "task_id", id, f.contact_ids).await?;
    Ok(id)
}

pub async fn update_task(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    id: i64,
    f: &TaskFields<'_>,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let changed = sqlx::query(
        "UPDATE crm_tasks SET title = $1, notes = $2, due_at = $3, priority = $4, updated_at = $5 WHERE id = $6 AND user_id = $7",
    )
    .bind(f.title)
    .bind(f.notes)
    .bind(f.due_at.map(Timestamp::as_millis))
    .bind(f.priority)
    .bind(now.as_millis())
    .bind(id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if changed {
        link(tx, "crm_task_contacts", "task_id", id, f.contact_ids).await?;
    }
    Ok(changed)
}

/// Open ↔ done.
pub async fn set_task_status<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    id: i64,
    done: bool,
    now: Timestamp,
) -> sqlx::Result<bool> {
    sqlx::query(
        "UPDATE crm_tasks SET status = CASE WHEN $1 = 1 THEN 'done' ELSE 'open' END, \
         completed_at = CASE WHEN $1 = 1 THEN $2 ELSE NULL END, updated_at = $2 WHERE id = $3 AND user_id = $4",
    )
    .bind(i64::from(done))
    .bind(now.as_millis())
    .bind(id)
    .bind(user_id)
    .execute(db)
    .await
    .map(|r| r.rows_affected() > 0)
}

pub async fn task_row<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    id: i64,
) -> sqlx::Result<Option<TaskRow>> {
    sqlx::query_as::<_, TaskRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM crm_tasks WHERE id = $1 AND user_id = $2"
    )))
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// Tasks with a status (`None`: all), soonest due first (undated last), optionally of one contact.
pub async fn list_tasks<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    status: Option<&str>,
    contact_id: Option<i64>,
) -> sqlx::Result<Vec<TaskRow>> {
    sqlx::query_as::<_, TaskRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM crm_tasks t WHERE user_id = $1 AND ($2 IS NULL OR status = $2) \
         AND ($3 IS NULL OR EXISTS (SELECT 1 FROM crm_task_contacts tc WHERE tc.task_id = t.id AND tc.contact_id = $3)) \
         ORDER BY CASE WHEN due_at IS NULL THEN 1 ELSE 0 END, due_at, id LIMIT 500"
    )))
    .bind(user_id)
    .bind(status)
    .bind(contact_id)
    .fetch_all(db)
    .await
}

pub async fn delete_task<'c>(db: impl Executor<'c>, user_id: i64, id: i64) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM crm_tasks WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

/// A page of complete contacts (emails, phones, tags) in name order after `after`, for
/// exports: four queries per page, whatever its size.
pub async fn contacts_full_page(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    after: Option<&(String, i64)>,
    limit: i64,
) -> sqlx::Result<
    Vec<(
        ContactRow,
        Vec<LabeledValue>,
        Vec<LabeledValue>,
        Vec<String>,
    )>,
> {
    let (name, id) = after.cloned().unwrap_or_default();
    let rows = sqlx::query_as::<_, ContactRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {CONTACT_COLUMNS} FROM crm_contacts c WHERE c.user_id = $1 AND ($2 = 0 OR c.display_name > $3 OR (c.display_name = $3 AND c.id > $4)) \
         ORDER BY c.display_name, c.id LIMIT $5"
    )))
    .bind(user_id)
    .bind(i64::from(after.is_some()))
    .bind(name)
    .bind(id)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let list = rows
        .iter()
        .map(|r| r.id.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let labeled = |sql: String| {
        sqlx::query_as::<_, (i64, String, String)>(sqlx::AssertSqlSafe(sql)).persistent(false)
    };
    let emails = labeled(format!("SELECT contact_id, email, label FROM crm_contact_emails WHERE contact_id IN ({list}) ORDER BY contact_id, position"))
        .fetch_all(&mut *conn)
        .await?;
    let phones = labeled(format!("SELECT contact_id, phone, label FROM crm_contact_phones WHERE contact_id IN ({list}) ORDER BY contact_id, position"))
        .fetch_all(&mut *conn)
        .await?;
    let tags = sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(format!(
        "SELECT ct.contact_id, t.name FROM crm_contact_tags ct JOIN crm_tags t ON t.id = ct.tag_id WHERE ct.contact_id IN ({list}) ORDER BY t.name"
    )))
    .persistent(false)
    .fetch_all(&mut *conn)
    .await?;
    let of = |all: &[(i64, String, String)], id: i64| {
        all.iter()
            .filter(|e| e.0 == id)
            .map(|e| LabeledValue {
                value: e.1.clone(),
                label: e.2.clone(),
            })
            .collect::<Vec<_>>()
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let (e, p) = (of(&emails, r.id), of(&phones, r.id));
            let t = tags
                .iter()
                .filter(|t| t.0 == r.id)
                .map(|t| t.1.clone())
                .collect();
            (r, e, p, t)
        })
        .collect())
}
