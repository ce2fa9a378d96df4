//! Duplicates and merging.

use keel_platform::db::Dialect;

use super::*;

// SQL for `crate::merge`. Suggestions group the user's rows by the shared value (an index
// range scan and one sort), never pairing every contact with every other.

/// A field two contacts can share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateKey {
    Email,
    Phone,
    Name,
}

/// A phone number's digits in SQL: the formatting characters the contact form accepts removed.
const PHONE_DIGITS: &str = "REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(REPLACE(p.phone, ' ', ''), '-', ''), '(', ''), ')', ''), '+', ''), '.', '')";

/// Contacts sharing a value held by more than one contact, as (value compared, value shown,
/// contact id), by value then contact id: the first `groups` such values, at most `rows` rows.
pub async fn duplicate_groups(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    key: DuplicateKey,
    groups: i64,
    rows: i64,
) -> sqlx::Result<Vec<(String, String, i64)>> {
    let sql = match key {
        // Emails are stored lower-case: equality on the (user_id, email) index is enough.
        DuplicateKey::Email => "WITH dup AS (SELECT e.email AS k FROM crm_contact_emails e WHERE e.user_id = $1 \
             GROUP BY e.email HAVING COUNT(DISTINCT e.contact_id) > 1 ORDER BY e.email LIMIT $2) \
             SELECT e.email, MIN(e.email), e.contact_id FROM dup JOIN crm_contact_emails e ON e.user_id = $1 AND e.email = dup.k \
             GROUP BY e.email, e.contact_id ORDER BY 1, 3 LIMIT $3"
            .to_string(),
        DuplicateKey::Phone => format!(
            "WITH p AS (SELECT p.contact_id, {PHONE_DIGITS} AS k, p.phone FROM crm_contact_phones p WHERE p.user_id = $1), \
             dup AS (SELECT k FROM p WHERE k <> '' GROUP BY k HAVING COUNT(DISTINCT contact_id) > 1 ORDER BY k LIMIT $2) \
             SELECT p.k, MIN(p.phone), p.contact_id FROM p JOIN dup ON dup.k = p.k \
             GROUP BY p.k, p.contact_id ORDER BY 1, 3 LIMIT $3"
        ),
        DuplicateKey::Name => "WITH n AS (SELECT c.id, LOWER(TRIM(c.display_name)) AS k, c.display_name FROM crm_contacts c WHERE c.user_id = $1), \
             dup AS (SELECT k FROM n GROUP BY k HAVING COUNT(*) > 1 ORDER BY k LIMIT $2) \
             SELECT n.k, MIN(n.display_name), n.id FROM n JOIN dup ON dup.k = n.k \
             GROUP BY n.k, n.id ORDER BY 1, 3 LIMIT $3"
            .to_string(),
    };
    sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(user_id)
        .bind(groups)
        .bind(rows)
        .fetch_all(&mut *conn)
        .await
}

/// A contact as a duplicate suggestion shows it.
pub struct DuplicateCandidate {
    pub row: ContactRow,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub interactions: i64,
    pub tasks: i64,
}

/// The user's contacts among `ids` with what tells them apart, in five queries.
pub async fn duplicate_candidates(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    ids: &[i64],
) -> sqlx::Result<Vec<DuplicateCandidate>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let rows = sqlx::query_as::<_, ContactRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {CONTACT_COLUMNS} FROM crm_contacts c WHERE c.user_id = $1 AND c.id IN ({list})"
    )))
    .persistent(false)
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?;
    let values = |table: &str, column: &str| {
        format!(
            "SELECT contact_id, {column} FROM {table} WHERE user_id = $1 AND contact_id IN ({list}) ORDER BY contact_id, position"
        )
    };
    let emails: Vec<(i64, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(values("crm_contact_emails", "email")))
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?;
    let phones: Vec<(i64, String)> =
        sqlx::query_as(sqlx::AssertSqlSafe(values("crm_contact_phones", "phone")))
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?;
    let counts = |table: &str| {
        format!(
            "SELECT l.contact_id, COUNT(*) FROM {table} l JOIN crm_contacts c ON c.id = l.contact_id \
             WHERE c.user_id = $1 AND l.contact_id IN ({list}) GROUP BY l.contact_id"
        )
    };
    let interactions: Vec<(i64, i64)> =
        sqlx::query_as(sqlx::AssertSqlSafe(counts("crm_interaction_contacts")))
            .bind(user_id)
            .fetch_all(&mut *conn)
            .await?;
    let tasks: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(counts("crm_task_contacts")))
        .bind(user_id)
        .fetch_all(&mut *conn)
        .await?;
    let of = |all: &[(i64, String)], id: i64| {
        all.iter()
            .filter(|v| v.0 == id)
            .map(|v| v.1.clone())
            .collect::<Vec<_>>()
    };
    let count = |all: &[(i64, i64)], id: i64| all.iter().find(|c| c.0 == id).map_or(0, |c| c.1);
    Ok(rows
        .into_iter()
        .map(|row| DuplicateCandidate {
            emails: of(&emails, row.id),
            phones: of(&phones, row.id),
            interactions: count(&interactions, row.id),
            tasks: count(&tasks, row.id),
            row,
        })
        .collect())
}

/// Locks the user's contacts among `ids` until the transaction ends, so two merges of the
/// same contacts run one after the other (SQLite's write lock already does that), and returns
/// the ids found.
pub async fn lock_contacts(
    tx: &mut sqlx::AnyConnection,
    dialect: Dialect,
    user_id: i64,
    ids: &[i64],
) -> sqlx::Result<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let lock = dialect.for_update();
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM crm_contacts WHERE user_id = $1 AND id IN ({list}) ORDER BY id{lock}"
    )))
    .persistent(false)
    .bind(user_id)
    .fetch_all(&mut *tx)
    .await
}

/// Gives `to` every interaction, task and calendar event of `from` (both the user's). A row
/// already linked to both stays linked once; `from`'s own links go when it is deleted.
pub async fn move_contact_links(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    from: i64,
    to: i64,
) -> sqlx::Result<()> {
    for (table, column) in [
        ("crm_interaction_contacts", "interaction_id"),
        ("crm_task_contacts", "task_id"),
        ("crm_event_contacts", "event_id"),
    ] {
        // SQLite needs the WHERE clause to read `ON CONFLICT` as the upsert, not a join.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} ({column}, contact_id) SELECT l.{column}, k.id FROM {table} l \
             JOIN crm_contacts c ON c.id = l.contact_id JOIN crm_contacts k ON k.id = $1 \
             WHERE l.contact_id = $2 AND c.user_id = $3 AND k.user_id = $3 ON CONFLICT DO NOTHING"
        )))
        .bind(to)
        .bind(from)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
