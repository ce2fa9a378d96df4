//! Reading, checking and importing rows.

use keel_platform::domain::FieldError;
use keel_platform::identity::Principal;
use keel_platform::{AppError, AppResult, Platform};
use serde::Serialize;
use utoipa::ToSchema;

use crate::contacts::{self, ContactInput};
use crate::store::{self, ContactFields, LabeledValue};

use super::*;

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

pub(super) fn labeled_values(cell: &str, phone: bool) -> impl Iterator<Item = LabeledValue> + '_ {
    split_outside_parens(cell, ';')
        .into_iter()
        .filter(|e| !e.trim().is_empty())
        .map(move |e| crate::contacts::split_label(e, phone))
}

/// Tags separated by `,` or `;` (and Google's ` ::: `, with its `*` marking system groups).
pub(super) fn tag_values(cell: &str) -> impl Iterator<Item = String> + '_ {
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
