//! MindfulCRM's SQL. Every statement is scoped by `user_id`: a row of another user is as good
//! as missing. Policy (validation, derived fields) lives in the service modules.

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

/// A contact's photo: image bytes whose type was read from the bytes themselves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    pub content_type: &'static str,
    pub data: Vec<u8>,
}

impl Photo {
    /// Largest photo kept.
    pub const MAX_BYTES: usize = 512 * 1024;

    /// Accepts JPEG, PNG, GIF and WebP images, recognised by their signature, up to
    /// [`Photo::MAX_BYTES`]; whatever a client claims the type is does not matter.
    pub fn new(data: Vec<u8>) -> Result<Self, String> {
        if data.len() > Self::MAX_BYTES {
            return Err(format!(
                "a photo may be at most {} KiB",
                Self::MAX_BYTES / 1024
            ));
        }
        let content_type = if data.starts_with(&[0xFF, 0xD8, 0xFF]) {
            "image/jpeg"
        } else if data.starts_with(b"\x89PNG\r\n\x1a\n") {
            "image/png"
        } else if data.starts_with(b"GIF87a") || data.starts_with(b"GIF89a") {
            "image/gif"
        } else if data.len() >= 12 && data.starts_with(b"RIFF") && &data[8..12] == b"WEBP" {
            "image/webp"
        } else {
            return Err("must be a JPEG, PNG, GIF or WebP image".into());
        };
        Ok(Self { content_type, data })
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

const CONTACT_COLUMNS: &str = "c.id, c.given_name, c.family_name, c.display_name, c.company, c.title, c.birthday, \
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

/// Marks the user's contact as having a photo since `now`, or none; false when the contact
/// is not theirs.
async fn set_photo_at(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    contact_id: i64,
    has_photo: bool,
    now: Timestamp,
) -> sqlx::Result<bool> {
    let found = sqlx::query(
        "UPDATE crm_contacts SET photo_at = CASE WHEN $1 = 1 THEN $2 END, updated_at = $2 WHERE id = $3 AND user_id = $4",
    )
    .bind(i64::from(has_photo))
    .bind(now.as_millis())
    .bind(contact_id)
    .bind(user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    Ok(found > 0)
}

/// Sets the photo of the user's contact; false when the contact is not theirs.
pub async fn put_photo(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    contact_id: i64,
    photo: &Photo,
    now: Timestamp,
) -> sqlx::Result<bool> {
    if !set_photo_at(tx, user_id, contact_id, true, now).await? {
        return Ok(false);
    }
    sqlx::query(
        "INSERT INTO crm_contact_photos (contact_id, user_id, content_type, data) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (contact_id) DO UPDATE SET content_type = excluded.content_type, data = excluded.data",
    )
    .bind(contact_id)
    .bind(user_id)
    .bind(photo.content_type)
    .bind(&photo.data)
    .execute(&mut *tx)
    .await?;
    Ok(true)
}

/// Removes the photo of the user's contact; false when the contact is not theirs.
pub async fn delete_photo(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    contact_id: i64,
    now: Timestamp,
) -> sqlx::Result<bool> {
    if !set_photo_at(tx, user_id, contact_id, false, now).await? {
        return Ok(false);
    }
    sqlx::query("DELETE FROM crm_contact_photos WHERE contact_id = $1 AND user_id = $2")
        .bind(contact_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    Ok(true)
}

/// The photos of those of `ids` that are the user's contacts and have one.
pub async fn photos<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    ids: &[i64],
) -> sqlx::Result<Vec<(i64, Photo)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT contact_id, data FROM crm_contact_photos WHERE user_id = $1 AND contact_id IN ({list})"
    )))
    .persistent(false)
    .bind(user_id)
    .fetch_all(db)
    .await?;
    // Stored bytes were checked on the way in; reading their type again is a few comparisons.
    Ok(rows
        .into_iter()
        .filter_map(|(id, data)| Photo::new(data).ok().map(|p| (id, p)))
        .collect())
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

// ---- interactions ----

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InteractionRow {
    pub id: i64,
    pub kind: String,
    pub occurred_at: i64,
    pub subject: String,
    pub summary: String,
    pub sentiment: Option<String>,
    pub source_ref: Option<String>,
    pub created_at: i64,
}

pub struct InteractionFields<'a> {
    pub kind: &'a str,
    pub occurred_at: Timestamp,
    pub subject: &'a str,
    pub summary: &'a str,
    pub sentiment: Option<&'a str>,
    pub source_ref: Option<&'a str>,
    pub contact_ids: &'a [i64],
}

pub async fn insert_interaction(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    f: &InteractionFields<'_>,
    now: Timestamp,
) -> sqlx::Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO crm_interactions (user_id, kind, occurred_at, subject, summary, sentiment, source_ref, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(user_id)
    .bind(f.kind)
    .bind(f.occurred_at.as_millis())
    .bind(f.subject)
    .bind(f.summary)
    .bind(f.sentiment)
    .bind(f.source_ref)
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

const INTERACTION_COLUMNS: &str =
    "i.id, i.kind, i.occurred_at, i.subject, i.summary, i.sentiment, i.source_ref, i.created_at";

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

// ---- tasks ----

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

// ---- duplicates and merging ----
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
