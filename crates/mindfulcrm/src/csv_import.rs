//! Contacts from a CSV file. Each column is mapped to a contact field (guessed from the header
//! names when no mapping is given), every row is checked with the same rules as the API, and
//! then every row is created in one transaction, or none. A dry run reports what would be
//! created. Our own CSV export reads back field for field with the guessed mapping.

use std::collections::HashMap;

use keel_platform::domain::FieldError;
use keel_platform::identity::Principal;
use keel_platform::{AppError, AppResult, Platform};
use serde::Serialize;
use utoipa::ToSchema;

use crate::contacts::{self, ContactInput};
use crate::store::{self, ContactFields, LabeledValue};

/// More rows than this are refused: split the file.
pub const MAX_ROWS: usize = 50_000;
/// Contacts shown by a dry run.
pub const PREVIEW_ROWS: usize = 20;
/// Problems listed in one answer; a file with more says how many were left out.
const MAX_PROBLEMS: usize = 500;
/// Sample values per column on the mapping page.
const SAMPLES: usize = 3;

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
    fn repeatable(self) -> bool {
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

/// A CSV file read: its header and its rows (each with the line it starts on).
pub struct Table {
    pub headers: Vec<String>,
    rows: Vec<Row>,
}

struct Row {
    line: usize,
    cells: Vec<String>,
}

impl Table {
    /// Rows below the header (rows with only empty cells are skipped).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// Reads a UTF-8 CSV file (an optional byte order mark, commas, RFC 4180 quotes, the first
/// row naming the columns). Problems with the file as a whole name the field `file`.
pub fn read_table(bytes: &[u8]) -> AppResult<Table> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = bytes[..e.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1;
        AppError::field(
            "file",
            format!("is not UTF-8 text (first bad byte on line {line}); save it as “CSV UTF-8”"),
        )
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let unreadable = |e: csv::Error| {
        let line = e.position().map_or(0, |p| p.line());
        AppError::field(
            "file",
            format!("cannot be read as CSV near line {line}: {e}"),
        )
    };
    let headers: Vec<String> = match records.next() {
        Some(header) => header
            .map_err(unreadable)?
            .iter()
            .map(|h| h.trim().to_string())
            .collect(),
        None => {
            return Err(AppError::field(
                "file",
                "is empty: the first row must name the columns",
            ));
        }
    };
    let mut rows = Vec::new();
    for record in records {
        let record = record.map_err(unreadable)?;
        if record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        if rows.len() == MAX_ROWS {
            return Err(AppError::field(
                "file",
                format!("has more than {MAX_ROWS} rows; split it into smaller files"),
            ));
        }
        rows.push(Row {
            line: record
                .position()
                .map_or(rows.len() + 2, |p| p.line() as usize),
            cells: record
                .iter()
                .map(|cell| keel_platform::spreadsheet::read_cell(cell).to_string())
                .collect(),
        });
    }
    Ok(Table { headers, rows })
}

/// One column of a file for the mapping page.
pub struct Column {
    pub header: String,
    /// Up to three non-empty values, shortened.
    pub samples: Vec<String>,
    pub guess: Field,
}

/// The columns of a file with sample values and the guessed mapping.
pub fn columns(table: &Table) -> Vec<Column> {
    let guesses = guess_all(&table.headers);
    table
        .headers
        .iter()
        .zip(guesses)
        .enumerate()
        .map(|(i, (header, guess))| Column {
            header: header.clone(),
            samples: table
                .rows
                .iter()
                .filter_map(|r| r.cells.get(i).map(|c| c.trim()))
                .filter(|c| !c.is_empty())
                .take(SAMPLES)
                .map(|c| shorten(c, 60))
                .collect(),
            guess,
        })
        .collect()
}

fn shorten(text: &str, max: usize) -> String {
    let one_line = text.replace(['\r', '\n'], " ");
    if one_line.chars().count() > max {
        let mut cut: String = one_line.chars().take(max - 1).collect();
        cut.push('…');
        cut
    } else {
        one_line
    }
}

/// A client's mapping checked against the header, or the guessed one: one field per
/// column, single fields at most once, and some column giving a name.
pub fn resolve_mapping(headers: &[String], mapping: Option<&[String]>) -> AppResult<Vec<Field>> {
    let guessed = mapping.is_none();
    let fields = match mapping {
        None => guess_all(headers),
        Some(entries) => {
            if entries.len() != headers.len() {
                return Err(AppError::field(
                    "mapping",
                    format!(
                        "has {} entries but the file has {} columns; give one field per column, in order (`ignore` skips one)",
                        entries.len(),
                        headers.len()
                    ),
                ));
            }
            let known = Field::ALL
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let mut problems = Vec::new();
            let mut fields: Vec<Field> = Vec::with_capacity(entries.len());
            for (i, raw) in entries.iter().enumerate() {
                let column = format!("column {} “{}”", i + 1, headers[i]);
                match Field::parse(raw) {
                    None => {
                        problems.push(FieldError::new(
                            format!("mapping[{i}]"),
                            format!(
                                "“{}” for {column} is not a field; use one of {known}",
                                shorten(raw.trim(), 40)
                            ),
                        ));
                        fields.push(Field::Ignore);
                    }
                    Some(field) => {
                        let earlier = fields.iter().position(|f| *f == field);
                        if let (false, Some(j)) = (field.repeatable(), earlier) {
                            problems.push(FieldError::new(
                                format!("mapping[{i}]"),
                                format!(
                                    "{} for {column} is already read from column {} “{}”; only emails, phones and tags may come from several columns",
                                    field.as_str(),
                                    j + 1,
                                    headers[j]
                                ),
                            ));
                        }
                        fields.push(field);
                    }
                }
            }
            if !problems.is_empty() {
                return Err(AppError::Validation(problems));
            }
            fields
        }
    };
    let named = fields
        .iter()
        .any(|f| matches!(f, Field::DisplayName | Field::GivenName | Field::FamilyName));
    if !named {
        let why = if guessed {
            "no column header looks like a name; pass a mapping with a display_name, given_name or family_name column"
        } else {
            "maps no column to display_name, given_name or family_name; every contact needs a name"
        };
        return Err(AppError::field("mapping", why));
    }
    Ok(fields)
}

/// Splits at `separator` outside parentheses, so a label may hold one.
fn split_outside_parens(cell: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in cell.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            c if c == separator && depth == 0 => {
                parts.push(&cell[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&cell[start..]);
    parts
}

fn labeled_values(cell: &str, phone: bool) -> impl Iterator<Item = LabeledValue> + '_ {
    split_outside_parens(cell, ';')
        .into_iter()
        .filter(|e| !e.trim().is_empty())
        .map(move |e| crate::contacts::split_label(e, phone))
}

/// Tags separated by `,` or `;` (and Google's ` ::: `, with its `*` marking system groups).
fn tag_values(cell: &str) -> impl Iterator<Item = String> + '_ {
    cell.split([',', ';'])
        .flat_map(|t| t.split(":::"))
        .map(|t| t.trim().trim_start_matches('*').trim())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

/// One row as a contact input, and the problems found before validation.
fn row_input(fields: &[Field], cells: &[String]) -> (ContactInput, Vec<String>) {
    let mut input = ContactInput::default();
    let mut problems = Vec::new();
    for (field, cell) in fields.iter().zip(cells) {
        let value = cell.trim();
        match field {
            Field::GivenName => input.given_name = value.into(),
            Field::FamilyName => input.family_name = value.into(),
            Field::DisplayName => input.display_name = value.into(),
            Field::Company => input.company = value.into(),
            Field::Title => input.title = value.into(),
            Field::Birthday => input.birthday = Some(value.into()),
            Field::Website => input.website = value.into(),
            Field::Notes => input.notes = value.into(),
            Field::Stage => input.stage = Some(value.to_lowercase()),
            Field::CadenceDays => match value {
                "" => {}
                n => match n.parse::<i64>() {
                    Ok(days) => input.cadence_days = Some(days),
                    Err(_) => problems.push(format!(
                        "cadence_days: must be a whole number of days (“{}”)",
                        shorten(n, 40)
                    )),
                },
            },
            Field::Emails => input.emails.extend(labeled_values(value, false)),
            Field::Phones => input.phones.extend(labeled_values(value, true)),
            Field::Addresses => input.addresses.extend(
                value
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(crate::contacts::parse_address_line),
            ),
            Field::Links => input.links.extend(
                value
                    .lines()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| crate::contacts::split_label(l, false)),
            ),
            Field::Tags => input.tags.extend(tag_values(value)),
            Field::Ignore => {}
        }
    }
    (input, problems)
}

/// A validation error of one row as `field: why`, quoting the offending value where there is
/// one (`emails[2]` becomes `emails` and the address).
fn describe(error: &FieldError, input: &ContactInput) -> String {
    let (field, index) = match error.field.split_once('[') {
        Some((field, rest)) => (field, rest.trim_end_matches(']').parse::<usize>().ok()),
        None => (error.field.as_str(), None),
    };
    let value = match (field, index) {
        ("emails", Some(i)) => input.emails.get(i).map(|v| v.value.clone()),
        ("phones", Some(i)) => input.phones.get(i).map(|v| v.value.clone()),
        ("links", Some(i)) => input.links.get(i).map(|v| v.value.clone()),
        ("tags", Some(i)) => input.tags.get(i).cloned(),
        ("birthday", None) => input.birthday.clone(),
        ("stage", None) => input.stage.clone(),
        _ => None,
    };
    match value {
        Some(v) => format!("{field}: {} (“{}”)", error.message, shorten(v.trim(), 60)),
        None => format!("{field}: {}", error.message),
    }
}

/// A checked file: what each column is read into and each row's contact.
pub struct Plan {
    pub mapping: Vec<MappedColumn>,
    /// (line, contact) in file order.
    pub contacts: Vec<(usize, ContactFields)>,
}

/// Reads and checks a whole file without touching the database. Any problem fails it: the
/// file (`file`), the mapping (`mapping`, `mapping[i]`) or rows (`row N`, one per problem).
pub fn plan(bytes: &[u8], mapping: Option<&[String]>) -> AppResult<Plan> {
    let table = read_table(bytes)?;
    let fields = resolve_mapping(&table.headers, mapping)?;
    let width = table.headers.len();
    let mut problems: Vec<(usize, String)> = Vec::new();
    let mut contacts = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        if row.cells.len() != width {
            problems.push((
                row.line,
                format!("has {} cells, the header has {width}", row.cells.len()),
            ));
            continue;
        }
        let (input, early) = row_input(&fields, &row.cells);
        problems.extend(early.into_iter().map(|p| (row.line, p)));
        match contacts::validate(&input) {
            Ok(f) => contacts.push((row.line, f)),
            Err(AppError::Validation(errors)) => {
                problems.extend(errors.iter().map(|e| (row.line, describe(e, &input))))
            }
            Err(other) => return Err(other),
        }
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.0);
        let left_out = problems.len().saturating_sub(MAX_PROBLEMS);
        let mut errors: Vec<FieldError> = problems
            .into_iter()
            .take(MAX_PROBLEMS)
            .map(|(line, message)| FieldError::new(format!("row {line}"), message))
            .collect();
        if left_out > 0 {
            errors.push(FieldError::new(
                "file",
                format!("has {left_out} more problems in later rows, not listed"),
            ));
        }
        return Err(AppError::Validation(errors));
    }
    Ok(Plan {
        mapping: table
            .headers
            .iter()
            .zip(&fields)
            .map(|(column, field)| MappedColumn {
                column: column.clone(),
                field: *field,
            })
            .collect(),
        contacts,
    })
}

/// One column and the field it was read into.
#[derive(Debug, Serialize, ToSchema)]
pub struct MappedColumn {
    /// The column's header.
    pub column: String,
    pub field: Field,
}

/// A contact as it would be stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct PreviewContact {
    /// The CSV line the row starts on (the header is row 1).
    pub row: usize,
    pub display_name: String,
    pub company: String,
    pub emails: Vec<LabeledValue>,
    pub phones: Vec<LabeledValue>,
    pub tags: Vec<String>,
}

/// What a CSV import did (or, in a dry run, would do).
#[derive(Debug, Serialize, ToSchema)]
pub struct CsvImportOutcome {
    pub dry_run: bool,
    /// Contacts created (or that would be).
    pub contacts: usize,
    /// Every column of the file, in order, with the field it is read into.
    pub mapping: Vec<MappedColumn>,
    /// Dry run only (empty otherwise): the first 20 contacts as they would be stored.
    pub preview: Vec<PreviewContact>,
}

/// Imports a CSV file in one transaction, or nothing (see [`plan`] for the checks). Contacts
/// get exactly what the file says: no cadence column (or an empty cell) means no cadence.
pub async fn import_csv(
    platform: &Platform,
    principal: &Principal,
    bytes: &[u8],
    mapping: Option<&[String]>,
    dry_run: bool,
) -> AppResult<CsvImportOutcome> {
    let plan = plan(bytes, mapping)?;
    if !dry_run {
        let now = platform.now();
        let mut tx = platform.db.begin().await?;
        for (_, f) in &plan.contacts {
            store::insert_contact(&mut tx, principal.user.id, f, now).await?;
        }
        tx.commit().await?;
    }
    let preview = if dry_run {
        plan.contacts
            .iter()
            .take(PREVIEW_ROWS)
            .map(|(row, f)| PreviewContact {
                row: *row,
                display_name: f.display_name.clone(),
                company: f.company.clone(),
                emails: f.emails.clone(),
                phones: f.phones.clone(),
                tags: f.tags.clone(),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(CsvImportOutcome {
        dry_run,
        contacts: plan.contacts.len(),
        mapping: plan.mapping,
        preview,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn problems(err: AppError) -> Vec<(String, String)> {
        match err {
            AppError::Validation(errors) => {
                errors.into_iter().map(|e| (e.field, e.message)).collect()
            }
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn headers_of_other_tools_are_guessed() {
        let headers = strings(&[
            "Title",
            "First Name",
            "Last Name",
            "E-mail 1 - Type",
            "E-mail 1 - Value",
            "E-mail Address",
            "Phone 1 - Value",
            "Mobile Phone",
            "Organization 1 - Name",
            "Job Title",
            "Web Page",
            "Labels",
            "Birthday",
            "Notes",
            "Middle Name",
            "cadence_days",
            "last_interaction_at",
        ]);
        let guessed: Vec<&str> = guess_all(&headers).iter().map(|f| f.as_str()).collect();
        assert_eq!(
            guessed,
            [
                "ignore",
                "given_name",
                "family_name",
                "ignore",
                "emails",
                "emails",
                "phones",
                "phones",
                "company",
                "title",
                "website",
                "tags",
                "birthday",
                "notes",
                "ignore",
                "cadence_days",
                "ignore"
            ]
        );
        assert_eq!(guess("Full Name"), Field::DisplayName);
        assert_eq!(guess("SURNAME"), Field::FamilyName);
        assert_eq!(guess("Work Email"), Field::Emails);
        assert_eq!(guess("Favourite colour"), Field::Ignore);
    }

    #[test]
    fn labeled_values_read_what_the_export_writes() {
        let phones: Vec<LabeledValue> =
            labeled_values("+1 (555) 010-2000 (mobile); 555 0100 (22);(030) 1234", true).collect();
        assert_eq!(
            phones
                .iter()
                .map(|p| (p.value.as_str(), p.label.as_str()))
                .collect::<Vec<_>>(),
            [
                ("+1 (555) 010-2000", "mobile"),
                ("555 0100 (22)", ""),
                ("(030) 1234", "")
            ]
        );
        let emails: Vec<LabeledValue> =
            labeled_values("a@example.com (work; old (2019)); b@example.com", false).collect();
        assert_eq!(emails[0].label, "work; old (2019)");
        assert_eq!(emails[1].value, "b@example.com");
        let tags: Vec<String> = tag_values("Friends, climbing;* myContacts ::: Work").collect();
        assert_eq!(tags, ["Friends", "climbing", "myContacts", "Work"]);
    }

    #[test]
    fn rows_are_checked_all_at_once() {
        let csv = "Name,Email,Cadence\nAda,ada@example.com,30\n,nobody@example.com,\nBob,bob@,x\nCy,c@example.com\n";
        let mapping = strings(&["display_name", "emails", "cadence_days"]);
        let found = problems(plan(csv.as_bytes(), Some(&mapping)).err().unwrap());
        let fields: Vec<&str> = found.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(fields, ["row 3", "row 4", "row 4", "row 5"]);
        assert!(
            found[1]
                .1
                .starts_with("cadence_days: must be a whole number")
        );
        assert_eq!(
            found[2].1,
            "emails: must be an e-mail address like name@example.com (“bob@”)"
        );
        assert_eq!(found[3].1, "has 2 cells, the header has 3");
    }

    #[test]
    fn mappings_are_checked() {
        let csv = "\u{feff}Name,Mail,Other\nAda,ada@example.com,x\n".as_bytes();
        let found = problems(
            plan(csv, Some(&strings(&["display_name", "emails"])))
                .err()
                .unwrap(),
        );
        assert_eq!(found[0].0, "mapping");
        let found = problems(
            plan(
                csv,
                Some(&strings(&["display_name", "emial", "display_name"])),
            )
            .err()
            .unwrap(),
        );
        let fields: Vec<&str> = found.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(fields, ["mapping[1]", "mapping[2]"]);
        let ok = plan(csv, Some(&strings(&["Display Name", "emails", ""]))).unwrap();
        assert_eq!(ok.contacts[0].1.emails[0].value, "ada@example.com");
        assert_eq!(
            ok.mapping[0].column, "Name",
            "the byte order mark is dropped"
        );
        let found = problems(plan(b"Colour\nred\n", None).err().unwrap());
        assert_eq!(found[0].0, "mapping");
    }

    #[test]
    fn bad_files_name_the_file() {
        for bytes in [&b""[..], b"Name\n\xff\xfe\n"] {
            let found = problems(plan(bytes, None).err().unwrap());
            assert_eq!(found[0].0, "file");
        }
        let mut big = String::from("Name\n");
        for i in 0..=MAX_ROWS {
            big.push_str(&format!("n{i}\n"));
        }
        let found = problems(plan(big.as_bytes(), None).err().unwrap());
        assert!(found[0].1.contains("more than 50000 rows"), "{found:?}");
    }
}
