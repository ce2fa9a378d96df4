//! Contact photos, kept apart from the contact so listing contacts never reads image bytes,
//! and the photo finder's candidates.

use keel_platform::domain::Timestamp;
use keel_platform::store::Executor;

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

/// Replaces the photo finder's candidates for a contact.
pub async fn save_photo_candidates(
    tx: &mut sqlx::AnyConnection,
    user_id: i64,
    contact_id: i64,
    candidates: &[(String, Photo)],
    now: Timestamp,
) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM crm_photo_candidates WHERE contact_id = $1 AND user_id = $2")
        .bind(contact_id)
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    for (source, photo) in candidates {
        sqlx::query(
            "INSERT INTO crm_photo_candidates (contact_id, user_id, source, content_type, data, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(contact_id)
        .bind(user_id)
        .bind(source)
        .bind(photo.content_type)
        .bind(&photo.data)
        .bind(now.as_millis())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}

/// The candidates' ids and sources, oldest first.
pub async fn photo_candidates<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    contact_id: i64,
) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as(
        "SELECT id, source FROM crm_photo_candidates WHERE contact_id = $1 AND user_id = $2 ORDER BY id",
    )
    .bind(contact_id)
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// One candidate's picture.
pub async fn photo_candidate<'c>(
    db: impl Executor<'c>,
    user_id: i64,
    contact_id: i64,
    id: i64,
) -> sqlx::Result<Option<Vec<u8>>> {
    sqlx::query_scalar(
        "SELECT data FROM crm_photo_candidates WHERE id = $1 AND contact_id = $2 AND user_id = $3",
    )
    .bind(id)
    .bind(contact_id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}
