//! Columns and the fields they map to.

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

/// The contact field a CSV column is read into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    GivenName,
    FamilyName,
    DisplayName,
    Company,
    Title,
    Birthday,
    Website,
    Notes,
    Stage,
    CadenceDays,
    /// `value (label)` entries separated by `;`.
    Emails,
    /// `value (label)` entries separated by `;`.
    Phones,
    /// One per line, `street; locality; region; postal code; country (label)`.
    Addresses,
    /// `url (label)` entries, one per line.
    Links,
    /// Separated by `,` or `;`.
    Tags,
    Ignore,
}

impl Field {
    pub const ALL: &'static [Field] = &[
        Field::GivenName,
        Field::FamilyName,
        Field::DisplayName,
        Field::Company,
        Field::Title,
        Field::Birthday,
        Field::Website,
        Field::Notes,
        Field::Stage,
        Field::CadenceDays,
        Field::Emails,
        Field::Phones,
        Field::Addresses,
        Field::Links,
        Field::Tags,
        Field::Ignore,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::GivenName => "given_name",
            Field::FamilyName => "family_name",
            Field::DisplayName => "display_name",
            Field::Company => "company",
            Field::Title => "title",
            Field::Birthday => "birthday",
            Field::Website => "website",
            Field::Notes => "notes",
            Field::Stage => "stage",
            Field::CadenceDays => "cadence_days",
            Field::Emails => "emails",
            Field::Phones => "phones",
            Field::Addresses => "addresses",
            Field::Links => "links",
            Field::Tags => "tags",
            Field::Ignore => "ignore",
        }
    }

    /// How the field reads on the mapping page.
    pub fn label(self) -> &'static str {
        match self {
            Field::GivenName => "Given name",
            Field::FamilyName => "Family name",
            Field::DisplayName => "Display name",
            Field::Company => "Company",
            Field::Title => "Job title",
            Field::Birthday => "Birthday",
            Field::Website => "Website",
            Field::Notes => "Notes",
            Field::Stage => "Stage",
            Field::CadenceDays => "Keep in touch every … days",
            Field::Emails => "Emails (add)",
            Field::Phones => "Phones (add)",
            Field::Addresses => "Addresses (add)",
            Field::Links => "Profile links (add)",
            Field::Tags => "Tags (add)",
            Field::Ignore => "Ignore this column",
        }
    }

    /// A field name as a client writes it: case, spaces and dashes do not matter; an empty
    /// entry skips the column like `ignore`.
    pub fn parse(raw: &str) -> Option<Field> {
        let name: String = raw
            .trim()
            .chars()
            .map(|c| match c {
                ' ' | '-' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        if name.is_empty() {
            return Some(Field::Ignore);
        }
        Field::ALL.iter().copied().find(|f| f.as_str() == name)
    }

    /// Emails, phones and tags may come from several columns (their values are appended).
    pub(super) fn repeatable(self) -> bool {
        matches!(
            self,
            Field::Emails
                | Field::Phones
                | Field::Addresses
                | Field::Links
                | Field::Tags
                | Field::Ignore
        )
    }
}

/// Header names of other tools (and ours), squeezed as [`squeeze`] does, with how specific
/// each is: when two columns look like the same single field, the more specific one wins.
const KNOWN_HEADERS: &[(&str, Field, u8)] = &[
    ("givenname", Field::GivenName, 2),
    ("firstname", Field::GivenName, 2),
    ("forename", Field::GivenName, 2),
    ("first", Field::GivenName, 1),
    ("familyname", Field::FamilyName, 2),
    ("lastname", Field::FamilyName, 2),
    ("surname", Field::FamilyName, 2),
    ("last", Field::FamilyName, 1),
    ("displayname", Field::DisplayName, 2),
    ("fullname", Field::DisplayName, 2),
    ("name", Field::DisplayName, 1),
    ("company", Field::Company, 2),
    ("companyname", Field::Company, 2),
    ("organization", Field::Company, 2),
    ("organisation", Field::Company, 2),
    ("organizationname", Field::Company, 2),
    ("organisationname", Field::Company, 2),
    ("org", Field::Company, 1),
    ("jobtitle", Field::Title, 2),
    ("organizationtitle", Field::Title, 2),
    ("organisationtitle", Field::Title, 2),
    ("title", Field::Title, 1),
    ("position", Field::Title, 1),
    ("birthday", Field::Birthday, 2),
    ("birthdate", Field::Birthday, 2),
    ("dateofbirth", Field::Birthday, 2),
    ("bday", Field::Birthday, 1),
    ("website", Field::Website, 2),
    ("webpage", Field::Website, 2),
    ("homepage", Field::Website, 1),
    ("url", Field::Website, 1),
    ("web", Field::Website, 1),
    ("addresses", Field::Addresses, 2),
    ("address", Field::Addresses, 1),
    ("links", Field::Links, 2),
    ("profiles", Field::Links, 2),
    ("socialprofiles", Field::Links, 2),
    ("social", Field::Links, 1),
    ("notes", Field::Notes, 2),
    ("note", Field::Notes, 2),
    ("stage", Field::Stage, 2),
    ("cadencedays", Field::CadenceDays, 2),
    ("cadence", Field::CadenceDays, 1),
    ("tags", Field::Tags, 2),
    ("tag", Field::Tags, 1),
    ("labels", Field::Tags, 2),
    ("groups", Field::Tags, 2),
    ("groupmembership", Field::Tags, 1),
    ("categories", Field::Tags, 1),
];

/// Kinds of address that prefix email and phone headers ("Home Phone", "Work Email").
const KIND_PREFIXES: &[&str] = &[
    "home", "work", "business", "other", "personal", "primary", "private",
];
const EMAIL_HEADERS: &[&str] = &["email", "emails", "emailaddress", "emailaddresses", "mail"];
const PHONE_HEADERS: &[&str] = &[
    "phone",
    "phones",
    "phonenumber",
    "phonenumbers",
    "telephone",
    "tel",
    "mobile",
    "mobilephone",
    "mobilenumber",
    "cell",
    "cellphone",
];

/// A header reduced to what tells columns apart: lower case without spaces, underscores,
/// dashes, dots and digits, and without a trailing "value" ("E-mail 1 - Value" → "email").
fn squeeze(header: &str) -> String {
    let squeezed: String = header
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.') && !c.is_ascii_digit())
        .flat_map(char::to_lowercase)
        .collect();
    match squeezed.strip_suffix("value") {
        Some(rest) if !rest.is_empty() => rest.to_string(),
        _ => squeezed,
    }
}

fn guess_ranked(header: &str) -> (Field, u8) {
    let key = squeeze(header);
    if let Some((_, field, rank)) = KNOWN_HEADERS.iter().find(|(k, _, _)| *k == key) {
        return (*field, *rank);
    }
    let bare = KIND_PREFIXES
        .iter()
        .find_map(|p| key.strip_prefix(p).filter(|rest| !rest.is_empty()))
        .unwrap_or(&key);
    if EMAIL_HEADERS.contains(&bare) {
        (Field::Emails, 1)
    } else if PHONE_HEADERS.contains(&bare) {
        (Field::Phones, 1)
    } else {
        (Field::Ignore, 0)
    }
}

/// The field a column header suggests, on its own.
pub fn guess(header: &str) -> Field {
    guess_ranked(header).0
}

/// The guessed mapping of a whole header row: a single field goes to the most specific
/// column that suggests it (the first of equals); the others are ignored.
pub fn guess_all(headers: &[String]) -> Vec<Field> {
    let ranked: Vec<(Field, u8)> = headers.iter().map(|h| guess_ranked(h)).collect();
    let mut best: HashMap<&'static str, (usize, u8)> = HashMap::new();
    for (i, (field, rank)) in ranked.iter().enumerate() {
        if field.repeatable() {
            continue;
        }
        let entry = best.entry(field.as_str()).or_insert((i, *rank));
        if *rank > entry.1 {
            *entry = (i, *rank);
        }
    }
    ranked
        .iter()
        .enumerate()
        .map(|(i, (field, _))| {
            if field.repeatable() || best.get(field.as_str()).map(|b| b.0) == Some(i) {
                *field
            } else {
                Field::Ignore
            }
        })
        .collect()
}
