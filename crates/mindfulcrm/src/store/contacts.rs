//! Contacts.

use keel_platform::db::Dialect;
use keel_platform::domain::Timestamp;
use keel_platform::store::Executor;
use serde::{Deserialize, Serialize};

use crate::domain::Stage;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
pub struct LabeledValue {
    pub value: String,
    #[serde(default)]
    pub label: String,
}

/// A postal address, in vCard's order of parts (RFC 6350 `ADR` without PO box and extended
/// address, which hardly anyone fills in).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct Address {
    /// `home`, `work`, … (free text).
    pub label: String,
    pub street: String,
    pub locality: String,
    pub region: String,
    pub postal_code: String,
    pub country: String,
}

impl Address {
    /// Street, locality, region, postal code and country, in that order.
    pub fn parts(&self) -> [&str; 5] {
        [
            &self.street,
            &self.locality,
            &self.region,
            &self.postal_code,
            &self.country,
        ]
    }

    /// True when no part but the label is filled in.
    pub fn is_blank(&self) -> bool {
        self.parts().iter().all(|p| p.is_empty())
    }
}

/// A contact's editable fields, validated.
pub struct ContactFields {
    pub given_name: String,
    pub family_name: String,
    pub display_name: String,
    pub company: String,
    pub title: String,
    pub birthday: Option<String>,
    pub website: String,
    pub notes: String,
    pub stage: Stage,
    pub cadence_days: Option<i64>,
    pub addresses: Vec<Address>,
    /// Profile links: the URL in `value`, the network or site in `label`.
    pub links: Vec<LabeledValue>,
    pub emails: Vec<LabeledValue>,
    pub phones: Vec<LabeledValue>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContactRow {
    pub id: i64,
    pub given_name: String,
    pub family_name: String,
    pub display_name: String,
    pub company: String,
    pub title: String,
    pub birthday: Option<String>,
    pub website: String,
    pub notes: String,
    pub stage: String,
    pub cadence_days: Option<i64>,
    pub last_interaction_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    /// JSON array of [`Address`].
    pub addresses: String,
    /// JSON array of [`LabeledValue`].
    pub links: String,
    /// When the photo was set; `None`: no photo.
    pub photo_at: Option<i64>,
}

pub(super) const CONTACT_COLUMNS: &str = "c.id, c.given_name, c.family_name, c.display_name, c.company, c.title, c.birthday, \
    c.website, c.notes, c.stage, c.cadence_days, c.last_interaction_at, c.created_at, c.updated_at, c.addresses, c.links, c.photo_at";

fn json_text<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("plain data serializes")
}

pub async fn insert_contact(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    f: &ContactFields,
    now: Timestamp,
) -> sqlx::Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO crm_contacts (user_id, given_name, family_name, display_name, company, title, birthday, website, notes, stage, cadence_days, created_at, updated_at, addresses, links) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14) RETURNING id",
    )
    .bind(user_id)
    .bind(&f.given_name)
    .bind(&f.family_name)
    .bind(&f.display_name)
    .bind(&f.company)
    .bind(&f.title)
    .bind(&f.birthday)
    .bind(&f.website)
    .bind(&f.notes)
    .bind(f.stage.as_str())
    .bind(f.cadence_days)
    .bind(now.as_millis())
    .bind(json_text(&f.addresses))
    .bind(json_text(&f.links))
    .fetch_one(&mut *tx)
    .await?;
    replace_details(tx, user_id, id, f).await?;
    Ok(id)
}

pub async fn update_contact(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    id: i64,
    f: &ContactFields,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let changed = sqlx::query(
        "UPDATE crm_contacts SET given_name = $1, family_name = $2, display_name = $3, company = $4, title = $5, birthday = $6, \
         website = $7, notes = $8, stage = $9, cadence_days = $10, updated_at = $11, addresses = $14, links = $15 WHERE id = $12 AND user_id = $13",
    )
    .bind(&f.given_name)
    .bind(&f.family_name)
    .bind(&f.display_name)
    .bind(&f.company)
    .bind(&f.title)
    .bind(&f.birthday)
    .bind(&f.website)
    .bind(&f.notes)
    .bind(f.stage.as_str())
    .bind(f.cadence_days)
    .bind(now.as_millis())
    .bind(id)
    .bind(user_id)
    .bind(json_text(&f.addresses))
    .bind(json_text(&f.links))
    .execute(&mut *tx)
    .await?
    .rows_affected()
        > 0;
    if changed {
        replace_details(tx, user_id, id, f).await?;
    }
    Ok(changed)
}

/// Emails, phones and tags are replaced as a whole with the contact.
async fn replace_details(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    contact_id: i64,
    f: &ContactFields,
) -> sqlx::Result<()> {
    for table in [
        "crm_contact_emails",
        "crm_contact_phones",
        "crm_contact_tags",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM {table} WHERE contact_id = $1"
        )))
        .bind(contact_id)
        .execute(&mut *tx)
        .await?;
    }
    for (table, column, values) in [
        ("crm_contact_emails", "email", &f.emails),
        ("crm_contact_phones", "phone", &f.phones),
    ] {
        for (position, v) in values.iter().enumerate() {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO {table} (contact_id, position, user_id, {column}, label) VALUES ($1, $2, $3, $4, $5)"
            )))
            .bind(contact_id)
            .bind(position as i64)
            .bind(user_id)
            .bind(&v.value)
            .bind(&v.label)
            .execute(&mut *tx)
            .await?;
        }
    }
    for name in &f.tags {
        let tag_id = ensure_tag(tx, user_id, name).await?;
        sqlx::query("INSERT INTO crm_contact_tags (contact_id, tag_id) VALUES ($1, $2)")
            .bind(contact_id)
            .bind(tag_id)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

async fn ensure_tag(tx: &mut sqlx::AnyConnection, user_id: i64, name: &str) -> sqlx::Result<i64> {
    sqlx::query("INSERT INTO crm_tags (user_id, name) VALUES ($1, $2) ON CONFLICT (user_id, name) DO NOTHING")
        .bind(user_id)
        .bind(name)
        .execute(&mut *tx)
        .await?;
    sqlx::query_scalar("SELECT id FROM crm_tags WHERE user_id = $1 AND name = $2")
        .bind(user_id)
        .bind(name)
        .fetch_one(&mut *tx)
        .await
}

pub async fn delete_contact<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    id: i64,
) -> sqlx::Result<bool> {
    sqlx::query("DELETE FROM crm_contacts WHERE id = $1 AND user_id = $2")
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await
        .map(|r| r.rows_affected() > 0)
}

pub async fn contact_row(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    id: i64,
) -> sqlx::Result<Option<ContactRow>> {
    sqlx::query_as::<_, ContactRow>(sqlx::AssertSqlSafe(format!(
        "SELECT {CONTACT_COLUMNS} FROM crm_contacts c WHERE c.id = $1 AND c.user_id = $2"
    )))
    .bind(id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await
}

/// Emails, phones and tags of one contact.
pub async fn contact_details(
    conn: &mut sqlx::AnyConnection,
    id: i64,
) -> sqlx::Result<(Vec<LabeledValue>, Vec<LabeledValue>, Vec<String>)> {
    let labeled = |rows: Vec<(String, String)>| {
        rows.into_iter()
            .map(|(value, label)| LabeledValue { value, label })
            .collect::<Vec<_>>()
    };
    let emails = sqlx::query_as(
        "SELECT email, label FROM crm_contact_emails WHERE contact_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let phones = sqlx::query_as(
        "SELECT phone, label FROM crm_contact_phones WHERE contact_id = $1 ORDER BY position",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let tags = sqlx::query_scalar(
        "SELECT t.name FROM crm_contact_tags ct JOIN crm_tags t ON t.id = ct.tag_id WHERE ct.contact_id = $1 ORDER BY t.name",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok((labeled(emails), labeled(phones), tags))
}

/// One page of contacts, by name, each with its first email and its tags, in one query.
#[derive(Debug, Default)]
pub struct ContactQuery {
    pub search: Option<String>,
    pub tag: Option<String>,
    pub stage: Option<Stage>,
    /// Only contacts whose cadence has passed at this instant (due or overdue).
    pub due_at: Option<i64>,
    pub include_archived: bool,
    /// Keyset: contacts after this (display_name, id).
    pub after: Option<(String, i64)>,
    /// Longest silence first (never talked to first) instead of by name; no keyset.
    pub least_recent_first: bool,
    pub limit: i64,
}

pub struct ListedContact {
    pub row: ContactRow,
    pub email: Option<String>,
    pub tags: Vec<String>,
}

/// Searches matching at most this many contacts are paged from their ids.
const FEW_MATCHES: usize = 2000;

pub async fn list_contacts(
    pool: &sqlx::AnyPool,
    dialect: Dialect,
    user_id: i64,
    q: &ContactQuery,
) -> sqlx::Result<Vec<ListedContact>> {
    let mut filters = vec!["c.user_id = $1".to_string()];
    let mut n = 1;
    let mut next = || {
        n += 1;
        format!("${n}")
    };
    let search = q
        .search
        .as_deref()
        .and_then(|text| search_expression(dialect, text));
    let mut search_param = None;
    // Statements whose text holds ids are used once: not worth a cached prepared statement
    // (each connection keeps up to 100, and these are large).
    let mut ids_inline = false;
    if let Some(expression) = &search {
        let matching = |p: &str| {
            dialect.full_text(
                format!(
                "SELECT rowid FROM crm_contact_fts WHERE crm_contact_fts MATCH {p} \
                 UNION SELECT ic.contact_id FROM crm_interaction_contacts ic WHERE ic.interaction_id IN \
                 (SELECT rowid FROM crm_interaction_fts WHERE crm_interaction_fts MATCH {p})"
                ),
                // ANY(ARRAY(…)): the matching interactions are read once and their links found
                // by index; a join would be planned from text-search row estimates, which are
                // poor.
                format!(
                "SELECT s.contact_id FROM crm_contact_search s WHERE s.body @@ to_tsquery('simple', {p}) \
                 UNION SELECT ic.contact_id FROM crm_interaction_contacts ic WHERE ic.interaction_id = ANY(ARRAY( \
                 SELECT i.id FROM crm_interactions i WHERE i.user_id = $1 AND i.search @@ to_tsquery('simple', {p})))"
                ),
            )
        };
        // Few matches (the usual search): read them first and page through them by id, rather
        // than walking every contact in name order looking for them. `+c.user_id` keeps the
        // planners from reaching for a (user_id, …) index and testing each of the user's
        // contacts against the matches: the matches lead, by primary key.
        let ids: Vec<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT c.id FROM crm_contacts c WHERE +c.user_id = $1 AND c.id IN ({}) LIMIT {}",
            matching("$2"),
            FEW_MATCHES + 1
        )))
        .bind(user_id)
        .bind(expression.clone())
        .fetch_all(pool)
        .await?;
        if ids.len() <= FEW_MATCHES {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
            filters[0] = "+c.user_id = $1".into();
            filters.push(format!("c.id IN ({list})"));
            ids_inline = true;
        } else {
            filters.push(format!("c.id IN ({})", matching(&next())));
            search_param = Some(expression.clone());
        }
    }
    if q.tag.is_some() {
        let p = next();
        filters.push(format!(
            "EXISTS (SELECT 1 FROM crm_contact_tags ct JOIN crm_tags t ON t.id = ct.tag_id WHERE ct.contact_id = c.id AND t.name = {p})"
        ));
    }
    if q.stage.is_some() {
        filters.push(format!("c.stage = {}", next()));
    } else if !q.include_archived {
        filters.push("c.stage <> 'archived'".into());
    }
    if q.due_at.is_some() {
        let p = next();
        filters.push(format!(
            "c.cadence_days IS NOT NULL AND (c.last_interaction_at IS NULL OR c.last_interaction_at + c.cadence_days * 86400000 <= {p})"
        ));
    }
    if q.after.is_some() {
        let (a, b) = (next(), next());
        filters.push(format!(
            "(c.display_name > {a} OR (c.display_name = {a} AND c.id > {b}))"
        ));
    }
    let limit = next();
    // Both orders are served by an index (user_id, display_name, id) / (user_id, last_interaction_at).
    let order = if q.least_recent_first {
        "c.last_interaction_at NULLS FIRST, c.id"
    } else {
        "c.display_name, c.id"
    };
    let sql = format!(
        "SELECT {CONTACT_COLUMNS}, \
         (SELECT e.email FROM crm_contact_emails e WHERE e.contact_id = c.id ORDER BY e.position LIMIT 1) AS email, t.name AS tag \
         FROM (SELECT * FROM crm_contacts c WHERE {} ORDER BY {order} LIMIT {limit}) c \
         LEFT JOIN crm_contact_tags ct ON ct.contact_id = c.id LEFT JOIN crm_tags t ON t.id = ct.tag_id \
         ORDER BY {order}, t.name",
        filters.join(" AND ")
    );
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
        .persistent(!ids_inline)
        .bind(user_id);
    if let Some(s) = search_param {
        query = query.bind(s);
    }
    if let Some(tag) = &q.tag {
        query = query.bind(tag.clone());
    }
    if let Some(stage) = q.stage {
        query = query.bind(stage.as_str());
    }
    if let Some(at) = q.due_at {
        query = query.bind(at);
    }
    if let Some((name, id)) = &q.after {
        query = query.bind(name.clone()).bind(*id);
    }
    let rows = query.bind(q.limit).fetch_all(pool).await?;
    let mut out: Vec<ListedContact> = Vec::new();
    for row in rows {
        use sqlx::{FromRow, Row};
        let contact = ContactRow::from_row(&row)?;
        let tag: Option<String> = row.try_get("tag")?;
        match out.last_mut() {
            Some(last) if last.row.id == contact.id => last.tags.extend(tag),
            _ => out.push(ListedContact {
                email: row.try_get("email")?,
                row: contact,
                tags: tag.into_iter().collect(),
            }),
        }
    }
    Ok(out)
}

/// A full-text query for the backend's index, or `None` when the text has nothing to search
/// for. Text is cut into alphanumeric words as the indexes cut it; every word must match, the
/// last as a prefix, so "ada lov" finds Ada Lovelace while she is being typed.
fn search_expression(dialect: Dialect, text: &str) -> Option<String> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(8)
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        return None;
    }
    // Earlier words are whole; the last may be half-typed. Whole words let the indexes
    // intersect short lists instead of merging every word that starts the same way.
    Some(dialect.prefix_search_query(&words))
}

/// How many contacts the user keeps outside the archive (an index-only count).
pub async fn count_active<'c>(db: impl Executor<'c>, user_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM crm_contacts WHERE user_id = $1 AND stage <> 'archived'",
    )
    .bind(user_id)
    .fetch_one(db)
    .await
}

/// The user's tags with how many contacts carry each.
pub async fn tags<'c>(
    db: impl Executor<'c>,
    user_id: i64,
) -> sqlx::Result<Vec<(i64, String, i64)>> {
    sqlx::query_as(
        "SELECT t.id, t.name, COUNT(ct.contact_id) FROM crm_tags t LEFT JOIN crm_contact_tags ct ON ct.tag_id = t.id \
         WHERE t.user_id = $1 GROUP BY t.id, t.name ORDER BY t.name",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// Sets each contact's last interaction time from its interactions.
pub async fn refresh_last_interaction(
    tx: &mut sqlx::AnyConnection,
    contact_ids: &[i64],
) -> sqlx::Result<()> {
    for id in contact_ids {
        sqlx::query(
            "UPDATE crm_contacts SET last_interaction_at = (SELECT MAX(i.occurred_at) FROM crm_interactions i \
             JOIN crm_interaction_contacts ic ON ic.interaction_id = i.id WHERE ic.contact_id = $1) WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// Moves the contacts' last interaction time forward to `at` where it is older: one
/// statement per batch instead of re-reading every interaction of a busy contact.
pub async fn advance_last_interaction(
    tx: &mut sqlx::AnyConnection,
    contact_ids: &[i64],
    at: Timestamp,
) -> sqlx::Result<()> {
    if contact_ids.is_empty() {
        return Ok(());
    }
    let list = contact_ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE crm_contacts SET last_interaction_at = $1 WHERE id IN ({list}) \
         AND (last_interaction_at IS NULL OR last_interaction_at < $1)"
    )))
    .persistent(false)
    .bind(at.as_millis())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Which of `ids` are contacts of the user.
pub async fn own_contacts<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    ids: &[i64],
) -> sqlx::Result<Vec<i64>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT id FROM crm_contacts WHERE user_id = $1 AND id IN ({list})"
    )))
    .persistent(false)
    .bind(user_id)
    .fetch_all(db)
    .await
}
