//! Contacts: validation, the signed-in user's scope, derived fields (last interaction,
//! relationship health).

use keel_platform::domain::{Email, Timestamp, Validator};
use keel_platform::identity::Principal;
use keel_platform::{AppError, AppResult, Platform};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::{Health, Stage, parse_birthday};
use crate::store::{self, Address, ContactFields, ContactQuery, ContactRow, LabeledValue, Photo};

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Contact {
    pub id: i64,
    pub given_name: String,
    pub family_name: String,
    pub display_name: String,
    pub company: String,
    pub title: String,
    /// `YYYY-MM-DD`, or `--MM-DD` without a year.
    pub birthday: Option<String>,
    pub website: String,
    pub notes: String,
    pub stage: Stage,
    /// Keep in touch every this many days.
    pub cadence_days: Option<i64>,
    pub addresses: Vec<Address>,
    /// Profiles on social networks and other sites: URL in `value`, network in `label`.
    pub links: Vec<LabeledValue>,
    /// Where the photo is (`GET`, with the caller's credentials); absent without one.
    pub photo_url: Option<String>,
    /// Time of the latest interaction (derived).
    pub last_interaction_at: Option<Timestamp>,
    /// Derived from the cadence and the last interaction.
    pub health: Health,
    pub emails: Vec<LabeledValue>,
    pub phones: Vec<LabeledValue>,
    pub tags: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Contact {
    pub(crate) fn from_row(
        r: ContactRow,
        emails: Vec<LabeledValue>,
        phones: Vec<LabeledValue>,
        tags: Vec<String>,
        now: Timestamp,
    ) -> Self {
        Self {
            health: Health::of(r.cadence_days, r.last_interaction_at, now.as_millis()),
            id: r.id,
            given_name: r.given_name,
            family_name: r.family_name,
            display_name: r.display_name,
            company: r.company,
            title: r.title,
            birthday: r.birthday,
            website: r.website,
            notes: r.notes,
            stage: Stage::parse(&r.stage).unwrap_or(Stage::Active),
            cadence_days: r.cadence_days,
            // Written by `store` from validated values; unreadable text cannot arise.
            addresses: serde_json::from_str(&r.addresses).unwrap_or_default(),
            links: serde_json::from_str(&r.links).unwrap_or_default(),
            // The version in the query makes a changed photo a new URL for caches.
            photo_url: r
                .photo_at
                .map(|at| format!("/api/v1/crm/contacts/{}/photo?v={at}", r.id)),
            last_interaction_at: r.last_interaction_at.map(Timestamp::from_millis),
            emails,
            phones,
            tags,
            created_at: Timestamp::from_millis(r.created_at),
            updated_at: Timestamp::from_millis(r.updated_at),
        }
    }
}

/// A contact as sent by clients; every field but a name is optional.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ContactInput {
    pub given_name: String,
    pub family_name: String,
    /// Default: given and family name.
    pub display_name: String,
    pub company: String,
    pub title: String,
    pub birthday: Option<String>,
    pub website: String,
    pub notes: String,
    /// Default `new`.
    pub stage: Option<String>,
    /// Keep in touch every N days; when absent on create, your default cadence (settings).
    pub cadence_days: Option<i64>,
    /// At most 10.
    pub addresses: Vec<Address>,
    /// `http(s)` URLs of profiles, with the network as label; at most 20.
    pub links: Vec<LabeledValue>,
    pub emails: Vec<LabeledValue>,
    pub phones: Vec<LabeledValue>,
    pub tags: Vec<String>,
}

fn text(v: &mut Validator, field: &str, value: &str, max: usize) -> String {
    let value = value.trim();
    if value.chars().count() > max {
        v.add(field, format!("must be at most {max} characters"));
    }
    value.to_string()
}

/// [`text`] for what must stay on one line (labels, address parts): line breaks become `, `
/// and other control characters are dropped, so a value can never break a vCard or CSV line.
fn line_text(v: &mut Validator, field: &str, value: &str, max: usize) -> String {
    let joined = value
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    let clean: String = joined.chars().filter(|c| !c.is_control()).collect();
    text(v, field, &clean, max)
}

/// An `http(s)` URL with a host and no control characters: the URL parser forgives stray line
/// breaks, a stored link must not hold any.
pub fn is_web_address(value: &str) -> bool {
    !value.chars().any(char::is_control)
        && url::Url::parse(value)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
}

/// `value (label)` entries joined by `separator`: how labeled values read in forms and CSV.
pub fn labeled_text(values: &[LabeledValue], separator: &str) -> String {
    values
        .iter()
        .map(|v| {
            if v.label.is_empty() {
                v.value.clone()
            } else {
                format!("{} ({})", v.value, v.label)
            }
        })
        .collect::<Vec<_>>()
        .join(separator)
}

/// `value (label)` as our export writes it. A phone number's own trailing group of digits,
/// as in `555 0100 (22)`, stays part of the number.
pub fn split_label(entry: &str, phone: bool) -> LabeledValue {
    let entry = entry.trim();
    let plain = || LabeledValue {
        value: entry.to_string(),
        label: String::new(),
    };
    let Some(inner_end) = entry.strip_suffix(')').map(str::len) else {
        return plain();
    };
    let mut depth = 0usize;
    let mut open = None;
    for (i, c) in entry[..inner_end].char_indices().rev() {
        match c {
            ')' => depth += 1,
            '(' if depth == 0 => {
                open = Some(i);
                break;
            }
            '(' => depth -= 1,
            _ => {}
        }
    }
    let Some(open) = open else {
        return plain();
    };
    let value = &entry[..open];
    let label = entry[open + 1..inner_end].trim();
    let spaced = value.ends_with(char::is_whitespace);
    let digits_only = label
        .chars()
        .all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !spaced || value.trim().is_empty() || label.is_empty() || (phone && digits_only) {
        return plain();
    }
    LabeledValue {
        value: value.trim().to_string(),
        label: label.to_string(),
    }
}

/// An address as one line of text, `street; locality; region; postal code; country (label)`:
/// how it reads in the contact form and in a CSV cell.
pub fn address_line(a: &Address) -> String {
    let mut line = a.parts().join("; ");
    if !a.label.is_empty() {
        line.push_str(&format!(" ({})", a.label));
    }
    line
}

/// Reads what [`address_line`] writes. Parts beyond five belong to the street.
pub fn parse_address_line(line: &str) -> Address {
    let LabeledValue { value, label } = split_label(line, false);
    let mut parts: Vec<String> = value.split(';').map(|p| p.trim().to_string()).collect();
    let extra = parts.len().saturating_sub(5);
    if extra > 0 {
        let street = parts.drain(..=extra).collect::<Vec<_>>().join(", ");
        parts.insert(0, street);
    }
    parts.resize(5, String::new());
    let [street, locality, region, postal_code, country]: [String; 5] =
        parts.try_into().expect("five parts");
    Address {
        label,
        street,
        locality,
        region,
        postal_code,
        country,
    }
}

pub fn validate(input: &ContactInput) -> AppResult<ContactFields> {
    let mut v = Validator::new();
    let given_name = text(&mut v, "given_name", &input.given_name, 200);
    let family_name = text(&mut v, "family_name", &input.family_name, 200);
    let mut display_name = text(&mut v, "display_name", &input.display_name, 300);
    if display_name.is_empty() {
        display_name = format!("{given_name} {family_name}").trim().to_string();
    }
    if display_name.is_empty() {
        v.add(
            "display_name",
            "a contact needs a name: a given name, a family name or a name to show",
        );
    }
    let birthday = match input.birthday.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(raw) => v.check("birthday", parse_birthday(raw)),
    };
    let stage = match input.stage.as_deref() {
        None | Some("") => Some(Stage::New),
        Some(raw) => v.check("stage", Stage::parse(raw)),
    };
    if let Some(days) = input.cadence_days
        && !(1..=3650).contains(&days)
    {
        v.add("cadence_days", "must be between 1 and 3650 days");
    }
    let mut emails = Vec::new();
    for (i, e) in input.emails.iter().enumerate().take(20) {
        if let Some(email) = v.check(&format!("emails[{i}]"), Email::parse(&e.value)) {
            emails.push(LabeledValue {
                value: email.as_str().to_string(),
                label: e.label.trim().chars().take(50).collect(),
            });
        }
    }
    let mut phones = Vec::new();
    for (i, p) in input.phones.iter().enumerate().take(20) {
        let value = p.value.trim();
        let digits = value.chars().filter(char::is_ascii_digit).count();
        if !(3..=20).contains(&digits)
            || !value
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        {
            v.add(
                &format!("phones[{i}]"),
                "must be a phone number (digits, spaces, + - ( ) .)",
            );
        } else {
            phones.push(LabeledValue {
                value: value.to_string(),
                label: p.label.trim().chars().take(50).collect(),
            });
        }
    }
    if input.emails.len() > 20 || input.phones.len() > 20 {
        v.add("emails", "at most 20 emails and 20 phone numbers");
    }
    let mut tags: Vec<String> = Vec::new();
    for (i, tag) in input.tags.iter().enumerate() {
        let tag = tag.trim().to_lowercase();
        if tag.is_empty() || tag.chars().count() > 50 {
            v.add(&format!("tags[{i}]"), "must be 1 to 50 characters");
        } else if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    if tags.len() > 50 {
        v.add("tags", "at most 50 tags");
    }
    let mut addresses = Vec::new();
    for (i, a) in input.addresses.iter().enumerate().take(10) {
        let field = |part: &str| format!("addresses[{i}].{part}");
        let address = Address {
            label: line_text(&mut v, &field("label"), &a.label, 50),
            street: line_text(&mut v, &field("street"), &a.street, 300),
            locality: line_text(&mut v, &field("locality"), &a.locality, 200),
            region: line_text(&mut v, &field("region"), &a.region, 200),
            postal_code: line_text(&mut v, &field("postal_code"), &a.postal_code, 50),
            country: line_text(&mut v, &field("country"), &a.country, 100),
        };
        if address.is_blank() {
            v.add(
                &format!("addresses[{i}]"),
                "an address needs at least one part",
            );
        } else {
            addresses.push(address);
        }
    }
    if input.addresses.len() > 10 {
        v.add("addresses", "at most 10 addresses");
    }
    let mut links = Vec::new();
    for (i, l) in input.links.iter().enumerate().take(20) {
        let value = l.value.trim();
        if !is_web_address(value) || value.chars().count() > 500 {
            v.add(
                &format!("links[{i}]"),
                "must be a web address starting with http:// or https:// (at most 500 characters)",
            );
        } else {
            links.push(LabeledValue {
                value: value.to_string(),
                label: line_text(&mut v, &format!("links[{i}].label"), &l.label, 50),
            });
        }
    }
    if input.links.len() > 20 {
        v.add("links", "at most 20 links");
    }
    let website = text(&mut v, "website", &input.website, 500);
    let notes = text(&mut v, "notes", &input.notes, 20_000);
    let company = text(&mut v, "company", &input.company, 200);
    let title = text(&mut v, "title", &input.title, 200);
    v.finish().map_err(AppError::Validation)?;
    Ok(ContactFields {
        given_name,
        family_name,
        display_name,
        company,
        title,
        birthday,
        website,
        notes,
        stage: stage.expect("validated"),
        cadence_days: input.cadence_days,
        addresses,
        links,
        emails,
        phones,
        tags,
    })
}

pub async fn create(
    platform: &Platform,
    principal: &Principal,
    input: &ContactInput,
) -> AppResult<Contact> {
    let mut fields = validate(input)?;
    if fields.cadence_days.is_none() {
        fields.cadence_days = crate::settings::get(platform.db.pool(), principal.user.id)
            .await?
            .default_cadence_days;
    }
    let mut tx = platform.db.begin().await?;
    let id = store::insert_contact(&mut tx, principal.user.id, &fields, platform.now()).await?;
    tx.commit().await?;
    get(platform, principal, id).await
}

pub async fn update(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    input: &ContactInput,
) -> AppResult<Contact> {
    let fields = validate(input)?;
    let mut tx = platform.db.begin().await?;
    if !store::update_contact(&mut tx, principal.user.id, id, &fields, platform.now()).await? {
        return Err(AppError::NotFound("contact"));
    }
    tx.commit().await?;
    get(platform, principal, id).await
}

/// The caller's contact (another user's id is reported as missing).
pub async fn get(platform: &Platform, principal: &Principal, id: i64) -> AppResult<Contact> {
    of_user(platform, principal.user.id, id).await
}

/// One contact of `user_id`, for background work that acts for that user.
pub(crate) async fn of_user(platform: &Platform, user_id: i64, id: i64) -> AppResult<Contact> {
    let mut conn = platform.db.pool().acquire().await?;
    let row = store::contact_row(&mut conn, user_id, id)
        .await?
        .ok_or(AppError::NotFound("contact"))?;
    let (emails, phones, tags) = store::contact_details(&mut conn, id).await?;
    Ok(Contact::from_row(row, emails, phones, tags, platform.now()))
}

/// Replaces the contact's photo with `bytes` (JPEG, PNG, GIF or WebP).
pub async fn set_photo(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    bytes: Vec<u8>,
) -> AppResult<()> {
    let photo = Photo::new(bytes).map_err(|e| AppError::field("photo", e))?;
    let mut tx = platform.db.begin().await?;
    if !store::put_photo(&mut tx, principal.user.id, id, &photo, platform.now()).await? {
        return Err(AppError::NotFound("contact"));
    }
    tx.commit().await?;
    Ok(())
}

pub async fn remove_photo(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    let mut tx = platform.db.begin().await?;
    if !store::delete_photo(&mut tx, principal.user.id, id, platform.now()).await? {
        return Err(AppError::NotFound("contact"));
    }
    tx.commit().await?;
    Ok(())
}

pub async fn photo(platform: &Platform, principal: &Principal, id: i64) -> AppResult<Photo> {
    store::photos(platform.db.pool(), principal.user.id, &[id])
        .await?
        .pop()
        .map(|(_, photo)| photo)
        .ok_or(AppError::NotFound("photo"))
}

pub async fn delete(platform: &Platform, principal: &Principal, id: i64) -> AppResult<()> {
    if store::delete_contact(platform.db.pool(), principal.user.id, id).await? {
        Ok(())
    } else {
        Err(AppError::NotFound("contact"))
    }
}

/// How many contacts the caller keeps outside the archive.
pub async fn count_active(platform: &Platform, principal: &Principal) -> AppResult<i64> {
    Ok(store::count_active(platform.db.pool(), principal.user.id).await?)
}

/// The caller's tags, by name, each with how many contacts carry it.
pub async fn tags(platform: &Platform, principal: &Principal) -> AppResult<Vec<(String, i64)>> {
    Ok(store::tags(platform.db.pool(), principal.user.id)
        .await?
        .into_iter()
        .map(|(_, name, contacts)| (name, contacts))
        .collect())
}

/// A page of contacts and the cursor of the next one.
pub async fn list(
    platform: &Platform,
    principal: &Principal,
    mut query: ContactQuery,
) -> AppResult<(Vec<Contact>, Option<String>)> {
    query.limit = query.limit.clamp(1, 200);
    let limit = query.limit as usize;
    let now = platform.now();
    let listed = store::list_contacts(
        platform.db.pool(),
        platform.db.dialect(),
        principal.user.id,
        &query,
    )
    .await?;
    let next = (listed.len() == limit && !query.least_recent_first)
        .then(|| listed.last().map(|c| cursor(&c.row.display_name, c.row.id)))
        .flatten();
    let contacts = listed
        .into_iter()
        .map(|c| {
            let emails = c
                .email
                .map(|value| {
                    vec![LabeledValue {
                        value,
                        label: String::new(),
                    }]
                })
                .unwrap_or_default();
            Contact::from_row(c.row, emails, Vec::new(), c.tags, now)
        })
        .collect();
    Ok((contacts, next))
}

/// An opaque position in the name order: hex of the name, a dot, the id.
pub fn cursor(name: &str, id: i64) -> String {
    format!("{}.{id}", hex::encode(name.as_bytes()))
}

pub fn parse_cursor(raw: &str) -> AppResult<(String, i64)> {
    let bad = || AppError::field("after", "is not a cursor from a previous page");
    let (name, id) = raw.rsplit_once('.').ok_or_else(bad)?;
    let bytes = hex::decode(name).map_err(|_| bad())?;
    Ok((
        String::from_utf8(bytes).map_err(|_| bad())?,
        id.parse().map_err(|_| bad())?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let c = cursor("Zoë Ångström", 42);
        assert_eq!(parse_cursor(&c).unwrap(), ("Zoë Ångström".to_string(), 42));
        assert!(parse_cursor("zz.1").is_err());
    }

    #[test]
    fn address_lines_round_trip() {
        let a = Address {
            label: "work (main)".into(),
            street: "Bahnhofstrasse 1".into(),
            locality: "Zürich".into(),
            region: String::new(),
            postal_code: "8001".into(),
            country: "CH".into(),
        };
        let line = address_line(&a);
        assert_eq!(line, "Bahnhofstrasse 1; Zürich; ; 8001; CH (work (main))");
        assert_eq!(parse_address_line(&line), a);
        let short = parse_address_line("Paris");
        assert_eq!((short.street.as_str(), short.is_blank()), ("Paris", false));
        let long = parse_address_line("Flat 2; 1 Main St; Springfield; IL; 62701; USA");
        assert_eq!(
            (long.street.as_str(), long.country.as_str()),
            ("Flat 2, 1 Main St", "USA")
        );
    }

    #[test]
    fn a_name_is_required_and_fields_are_checked() {
        let err = validate(&ContactInput {
            birthday: Some("1990-13-01".into()),
            cadence_days: Some(0),
            ..Default::default()
        });
        let AppError::Validation(errors) = err.err().unwrap() else {
            panic!()
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["display_name", "birthday", "cadence_days"]);
        let ok = validate(&ContactInput {
            given_name: "Ada".into(),
            family_name: "Lovelace".into(),
            tags: vec!["Math".into(), "math".into()],
            ..Default::default()
        })
        .unwrap();
        assert_eq!(ok.display_name, "Ada Lovelace");
        assert_eq!(ok.tags, ["math"]);
    }
}
