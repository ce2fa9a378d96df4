//! Getting data in and out: contacts exported as CSV or vCard 4.0, streamed a page at a
//! time so any number of contacts fits; vCard files imported all-or-nothing, with a dry run.

use std::collections::HashMap;

use axum::body::Body;
use futures_util::{StreamExt, stream};
use keel_platform::domain::{FieldError, Timestamp};
use keel_platform::identity::Principal;
use keel_platform::{AppError, AppResult, Platform};

use crate::contacts::{self, Contact};
use crate::store;

/// Contacts per page of an export. vCard pages carry photos (up to 512 KiB each), so they are
/// smaller: a page in memory stays within a few tens of megabytes.
pub(crate) fn page_size(format: Option<Format>) -> i64 {
    match format {
        Some(Format::Vcard) => 50,
        _ => 500,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Csv,
    Vcard,
}

const CSV_HEADER: &[&str] = &[
    "id",
    "display_name",
    "given_name",
    "family_name",
    "company",
    "title",
    "birthday",
    "website",
    "links",
    "stage",
    "cadence_days",
    "emails",
    "phones",
    "addresses",
    "tags",
    "notes",
    "last_interaction_at",
    "created_at",
];

/// One page of whole contacts in name order, with their photos when the format carries them.
pub(crate) struct Page {
    pub contacts: Vec<Contact>,
    pub photos: HashMap<i64, store::Photo>,
}

pub(crate) async fn load_page(
    conn: &mut sqlx::AnyConnection,
    user_id: i64,
    after: Option<&(String, i64)>,
    now: Timestamp,
    format: Option<Format>,
) -> sqlx::Result<Page> {
    let rows = store::contacts_full_page(&mut *conn, user_id, after, page_size(format)).await?;
    let contacts: Vec<Contact> = rows
        .into_iter()
        .map(|(row, emails, phones, tags)| Contact::from_row(row, emails, phones, tags, now))
        .collect();
    let photos = if format == Some(Format::Vcard) {
        let ids: Vec<i64> = contacts
            .iter()
            .filter(|c| c.photo_url.is_some())
            .map(|c| c.id)
            .collect();
        store::photos(&mut *conn, user_id, &ids)
            .await?
            .into_iter()
            .collect()
    } else {
        HashMap::new()
    };
    Ok(Page { contacts, photos })
}

pub(crate) fn render_page(format: Format, page: &Page, first: bool) -> Result<String, String> {
    let contacts = &page.contacts;
    match format {
        Format::Vcard => {
            let mut out = String::new();
            for c in contacts {
                crate::vcard::write(c, page.photos.get(&c.id), &mut out);
            }
            Ok(out)
        }
        Format::Csv => {
            let mut writer = csv::Writer::from_writer(Vec::new());
            let joined = |values: &[store::LabeledValue]| contacts::labeled_text(values, "; ");
            let lines = |values: &[store::LabeledValue]| contacts::labeled_text(values, "\n");
            if first {
                writer.write_record(CSV_HEADER).map_err(|e| e.to_string())?;
            }
            for c in contacts {
                writer
                    .write_record(
                        [
                            c.id.to_string(),
                            c.display_name.clone(),
                            c.given_name.clone(),
                            c.family_name.clone(),
                            c.company.clone(),
                            c.title.clone(),
                            c.birthday.clone().unwrap_or_default(),
                            c.website.clone(),
                            // One per line: URLs may hold `;`.
                            lines(&c.links),
                            c.stage.as_str().to_string(),
                            c.cadence_days.map(|d| d.to_string()).unwrap_or_default(),
                            joined(&c.emails),
                            joined(&c.phones),
                            c.addresses
                                .iter()
                                .map(contacts::address_line)
                                .collect::<Vec<_>>()
                                .join("\n"),
                            c.tags.join(", "),
                            c.notes.clone(),
                            c.last_interaction_at
                                .map(|t| t.to_string())
                                .unwrap_or_default(),
                            c.created_at.to_string(),
                        ]
                        .iter()
                        .map(|cell| keel_platform::spreadsheet::safe_cell(cell).into_owned()),
                    )
                    .map_err(|e| e.to_string())?;
            }
            String::from_utf8(writer.into_inner().map_err(|e| e.to_string())?)
                .map_err(|e| e.to_string())
        }
    }
}

/// Every contact of the caller as a streamed body: one page is read and written at a time.
pub fn export(platform: Platform, principal: Principal, format: Format) -> Body {
    struct State {
        platform: Platform,
        user_id: i64,
        after: Option<(String, i64)>,
        first: bool,
        done: bool,
    }
    let start = State {
        platform,
        user_id: principal.user.id,
        after: None,
        first: true,
        done: false,
    };
    let pages = stream::unfold(start, move |mut state| async move {
        if state.done {
            return None;
        }
        let page = async {
            let mut conn = state
                .platform
                .db
                .pool()
                .acquire()
                .await
                .map_err(|e| e.to_string())?;
            let now = state.platform.now();
            load_page(
                &mut conn,
                state.user_id,
                state.after.as_ref(),
                now,
                Some(format),
            )
            .await
            .map_err(|e| e.to_string())
        }
        .await;
        let chunk = page.and_then(|page| {
            let contacts = &page.contacts;
            state.done = (contacts.len() as i64) < page_size(Some(format));
            state.after = contacts.last().map(|c| (c.display_name.clone(), c.id));
            let text = render_page(format, &page, state.first);
            state.first = false;
            text
        });
        match chunk {
            Ok(text) => Some((Ok::<_, std::io::Error>(text), state)),
            Err(err) => {
                // The status line is gone by now: end the body early so the client sees a
                // truncated download rather than a silently short file.
                tracing::warn!(error = %err, "export failed mid-stream");
                state.done = true;
                Some((Err(std::io::Error::other(err)), state))
            }
        }
    });
    // Fused: a compression layer polls once more after the end, which `unfold` forbids.
    Body::from_stream(pages.fuse())
}

/// What an import did (or, in a dry run, would do).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ImportOutcome {
    pub dry_run: bool,
    /// Contacts created (or that would be).
    pub contacts: usize,
    /// What was left out of otherwise good cards (`line N: …`), such as photos we do not take.
    pub skipped: Vec<String>,
}

/// Imports every card of a vCard file in one transaction, or nothing: any unreadable line or
/// invalid card fails the whole file, each problem named by its line (`line 12: …`).
pub async fn import_vcard(
    platform: &Platform,
    principal: &Principal,
    text: &str,
    dry_run: bool,
) -> AppResult<ImportOutcome> {
    let (cards, unreadable) = crate::vcard::read(text);
    let mut problems: Vec<(usize, String)> = unreadable;
    let mut fields = Vec::with_capacity(cards.len());
    for card in &cards {
        match contacts::validate(&card.contact) {
            Ok(f) => fields.push(f),
            Err(AppError::Validation(errors)) => problems.extend(
                errors
                    .into_iter()
                    .map(|e| (card.line, format!("{}: {}", e.field, e.message))),
            ),
            Err(other) => return Err(other),
        }
    }
    problems.sort_by_key(|p| p.0);
    let problems: Vec<FieldError> = problems
        .into_iter()
        .map(|(line, message)| FieldError::new(format!("line {line}"), message))
        .collect();
    if !problems.is_empty() {
        return Err(AppError::Validation(problems));
    }
    if !dry_run {
        let now: Timestamp = platform.now();
        let mut tx = platform.db.begin().await?;
        for (f, card) in fields.iter().zip(&cards) {
            let id = store::insert_contact(&mut tx, principal.user.id, f, now).await?;
            if let Some(photo) = &card.photo {
                store::put_photo(&mut tx, principal.user.id, id, photo, now).await?;
            }
        }
        tx.commit().await?;
    }
    Ok(ImportOutcome {
        dry_run,
        contacts: fields.len(),
        skipped: cards.into_iter().flat_map(|c| c.skipped).collect(),
    })
}
