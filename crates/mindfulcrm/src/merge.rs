//! Duplicate contacts: pairs that look like the same person (same email, same phone digits,
//! same name) and merging one contact into another in a single transaction.

use keel_platform::identity::Principal;
use keel_platform::{AppError, AppResult, Platform};
use serde::Serialize;
use utoipa::ToSchema;

use crate::contacts::{self, Contact};
use crate::domain::Stage;
use crate::store::{self, Address, ContactFields, ContactRow, DuplicateKey, LabeledValue};

/// One side of a suggestion: enough to tell the two apart.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DuplicateContact {
    pub id: i64,
    pub display_name: String,
    pub company: String,
    pub title: String,
    pub stage: Stage,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    /// How many interactions it is linked to.
    pub interactions: i64,
    /// How many tasks it is linked to.
    pub tasks: i64,
    pub last_interaction_at: Option<keel_platform::domain::Timestamp>,
}

/// Two contacts that look like the same person.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DuplicateSuggestion {
    /// Why, e.g. `same email ada@example.com`; strongest suggestions (most reasons) first.
    pub reasons: Vec<String>,
    /// The two contacts, lower id first. Merge either into the other.
    pub contacts: Vec<DuplicateContact>,
}

impl DuplicateKey {
    fn word(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Name => "name",
        }
    }
}

/// Up to `limit` (1-200) suggestions among the caller's contacts, archived ones included.
pub async fn suggestions(
    platform: &Platform,
    principal: &Principal,
    limit: i64,
) -> AppResult<Vec<DuplicateSuggestion>> {
    let limit = limit.clamp(1, 200);
    let user_id = principal.user.id;
    let mut conn = platform.db.pool().acquire().await?;
    let mut pairs: Vec<((i64, i64), Vec<String>)> = Vec::new();
    for key in [DuplicateKey::Email, DuplicateKey::Phone, DuplicateKey::Name] {
        // A group of n contacts gives n - 1 pairs, so 2 × limit rows give at least `limit`.
        let rows = store::duplicate_groups(&mut conn, user_id, key, limit, 2 * limit).await?;
        for group in rows.chunk_by(|a, b| a.0 == b.0) {
            // The first (lowest id) contact of a group pairs with each other one: merging
            // them all into it takes n - 1 merges.
            let (_, shown, first) = &group[0];
            for (_, _, other) in &group[1..] {
                let reason = format!("same {} {shown}", key.word());
                let full = pairs.len() >= limit as usize;
                match pairs.iter_mut().find(|p| p.0 == (*first, *other)) {
                    Some(pair) => pair.1.push(reason),
                    None if !full => pairs.push(((*first, *other), vec![reason])),
                    None => {}
                }
            }
        }
    }
    pairs.sort_by_key(|p| std::cmp::Reverse(p.1.len()));
    let mut ids: Vec<i64> = pairs.iter().flat_map(|p| [p.0.0, p.0.1]).collect();
    ids.sort_unstable();
    ids.dedup();
    let candidates = store::duplicate_candidates(&mut conn, user_id, &ids).await?;
    let shown = |id: i64| {
        candidates
            .iter()
            .find(|c| c.row.id == id)
            .map(|c| DuplicateContact {
                id,
                display_name: c.row.display_name.clone(),
                company: c.row.company.clone(),
                title: c.row.title.clone(),
                stage: Stage::parse(&c.row.stage).unwrap_or(Stage::Active),
                emails: c.emails.clone(),
                phones: c.phones.clone(),
                interactions: c.interactions,
                tasks: c.tasks,
                last_interaction_at: c
                    .row
                    .last_interaction_at
                    .map(keel_platform::domain::Timestamp::from_millis),
            })
    };
    Ok(pairs
        .into_iter()
        .filter_map(|((a, b), reasons)| {
            Some(DuplicateSuggestion {
                reasons,
                contacts: vec![shown(a)?, shown(b)?],
            })
        })
        .collect())
}

/// Merges `duplicate` into `keep` (both the caller's, else 404 and nothing changes): `keep`
/// gains what it lacks and every interaction, task and event link; `duplicate` is deleted.
pub async fn merge(
    platform: &Platform,
    principal: &Principal,
    keep: i64,
    duplicate: i64,
) -> AppResult<Contact> {
    if keep == duplicate {
        return Err(AppError::field(
            "duplicate_id",
            "is the contact being kept: pick another contact to merge into it",
        ));
    }
    let user_id = principal.user.id;
    let mut tx = platform.db.begin().await?;
    let found =
        store::lock_contacts(&mut tx, platform.db.dialect(), user_id, &[keep, duplicate]).await?;
    if found.len() != 2 {
        return Err(AppError::NotFound("contact"));
    }
    let (Some(a), Some(b)) = (
        store::contact_row(&mut tx, user_id, keep).await?,
        store::contact_row(&mut tx, user_id, duplicate).await?,
    ) else {
        return Err(AppError::NotFound("contact"));
    };
    let a_details = store::contact_details(&mut tx, keep).await?;
    let b_details = store::contact_details(&mut tx, duplicate).await?;
    // The kept contact's photo stays; without one it takes the duplicate's.
    let take_photo = a.photo_at.is_none() && b.photo_at.is_some();
    let fields = merged_fields(a, a_details, b, b_details);
    store::update_contact(&mut tx, user_id, keep, &fields, platform.now()).await?;
    if take_photo
        && let Some((_, photo)) = store::photos(&mut *tx, user_id, &[duplicate]).await?.pop()
    {
        store::put_photo(&mut tx, user_id, keep, &photo, platform.now()).await?;
    }
    store::move_contact_links(&mut tx, user_id, duplicate, keep).await?;
    store::delete_contact(&mut *tx, user_id, duplicate).await?;
    store::refresh_last_interaction(&mut tx, &[keep]).await?;
    tx.commit().await?;
    contacts::get(platform, principal, keep).await
}

type Details = (Vec<LabeledValue>, Vec<LabeledValue>, Vec<String>);

/// What the kept contact `a` becomes with `b` merged in: its own non-empty fields and stage,
/// `b`'s where `a` has none, both notes, the shorter cadence, every email, phone, tag, address
/// and link once.
fn merged_fields(
    a: ContactRow,
    a_details: Details,
    b: ContactRow,
    b_details: Details,
) -> ContactFields {
    let or = |mine: String, theirs: String| {
        if mine.trim().is_empty() { theirs } else { mine }
    };
    let notes = match (a.notes.trim().is_empty(), b.notes.trim().is_empty()) {
        (false, false) => format!("{}\n\n{}", a.notes, b.notes),
        (true, _) => b.notes,
        (false, true) => a.notes,
    };
    let cadence_days = match (a.cadence_days, b.cadence_days) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    };
    let (mut emails, mut phones, mut tags) = a_details;
    let (b_emails, b_phones, b_tags) = b_details;
    for email in b_emails {
        if !emails
            .iter()
            .any(|e| e.value.eq_ignore_ascii_case(&email.value))
        {
            emails.push(email);
        }
    }
    // Phones are the same number when their digits are (as the suggestions compare them).
    for phone in b_phones {
        if !phones
            .iter()
            .any(|p| phone_digits(&p.value) == phone_digits(&phone.value))
        {
            phones.push(phone);
        }
    }
    for tag in b_tags {
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    fn read<T: serde::de::DeserializeOwned>(json: &str) -> Vec<T> {
        serde_json::from_str(json).unwrap_or_default()
    }
    let mut addresses: Vec<Address> = read(&a.addresses);
    for address in read(&b.addresses) {
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    let mut links: Vec<LabeledValue> = read(&a.links);
    for link in read::<LabeledValue>(&b.links) {
        if !links.iter().any(|l| l.value == link.value) {
            links.push(link);
        }
    }
    // Within what a contact may hold, so the merged contact can be saved again as it is.
    addresses.truncate(10);
    links.truncate(20);
    ContactFields {
        given_name: or(a.given_name, b.given_name),
        family_name: or(a.family_name, b.family_name),
        display_name: a.display_name,
        company: or(a.company, b.company),
        title: or(a.title, b.title),
        birthday: a.birthday.or(b.birthday),
        website: or(a.website, b.website),
        notes,
        stage: Stage::parse(&a.stage).unwrap_or(Stage::Active),
        cadence_days,
        addresses,
        links,
        emails,
        phones,
        tags,
    }
}

/// The digits of a phone number: `+44 (20) 7946-0000` is `442079460000`.
pub fn phone_digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: i64, name: &str) -> ContactRow {
        ContactRow {
            id,
            given_name: String::new(),
            family_name: String::new(),
            display_name: name.into(),
            company: String::new(),
            title: String::new(),
            birthday: None,
            website: String::new(),
            notes: String::new(),
            stage: "active".into(),
            cadence_days: None,
            last_interaction_at: None,
            created_at: 0,
            updated_at: 0,
            addresses: "[]".into(),
            links: "[]".into(),
            photo_at: None,
        }
    }

    fn values(list: &[&str]) -> Vec<LabeledValue> {
        list.iter()
            .map(|v| LabeledValue {
                value: v.to_string(),
                label: String::new(),
            })
            .collect()
    }

    #[test]
    fn the_kept_contact_wins_and_gains_what_it_lacks() {
        let a = ContactRow {
            company: "Analytical Engines".into(),
            notes: "Met at the Royal Society.".into(),
            cadence_days: Some(30),
            stage: "close".into(),
            ..row(1, "Ada Lovelace")
        };
        let b = ContactRow {
            given_name: "Ada".into(),
            company: "Babbage & Co".into(),
            title: "Countess".into(),
            birthday: Some("1815-12-10".into()),
            notes: "Likes poetry.".into(),
            cadence_days: Some(7),
            stage: "new".into(),
            ..row(2, "Ada L.")
        };
        let merged = merged_fields(
            a,
            (
                values(&["ada@example.com"]),
                values(&["+44 20 7946 0000"]),
                vec!["math".into()],
            ),
            b,
            (
                values(&["ada@example.com", "countess@example.com"]),
                values(&["44-20-7946-0000", "555 0100"]),
                vec!["friends".into(), "math".into()],
            ),
        );
        assert_eq!(merged.display_name, "Ada Lovelace");
        assert_eq!(merged.given_name, "Ada");
        assert_eq!(merged.company, "Analytical Engines");
        assert_eq!(merged.title, "Countess");
        assert_eq!(merged.birthday.as_deref(), Some("1815-12-10"));
        assert_eq!(merged.notes, "Met at the Royal Society.\n\nLikes poetry.");
        assert_eq!(merged.cadence_days, Some(7));
        assert_eq!(merged.stage, Stage::Close);
        assert_eq!(
            merged.emails,
            values(&["ada@example.com", "countess@example.com"])
        );
        assert_eq!(merged.phones, values(&["+44 20 7946 0000", "555 0100"]));
        assert_eq!(merged.tags, ["math", "friends"]);
    }

    #[test]
    fn one_sided_notes_and_cadence_are_kept_as_they_are() {
        let a = row(1, "A");
        let b = ContactRow {
            notes: "Only here.".into(),
            cadence_days: Some(14),
            ..row(2, "B")
        };
        let empty = || (Vec::new(), Vec::new(), Vec::new());
        let merged = merged_fields(a, empty(), b, empty());
        assert_eq!(merged.notes, "Only here.");
        assert_eq!(merged.cadence_days, Some(14));
    }

    #[test]
    fn phone_digits_ignore_formatting() {
        assert_eq!(phone_digits("+1 (555) 010-0100"), "15550100100");
        assert_eq!(phone_digits("1.555.010.0100"), "15550100100");
    }
}
