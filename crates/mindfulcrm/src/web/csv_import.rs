//! The CSV import's mapping step. A `.csv` uploaded on the contacts page leads to a page with
//! each column, sample values and the field to read it into (pre-set to the guess); the file
//! travels along in the form. "Preview (dry run)" shows the contacts as they would be stored,
//! or every problem; "Import" creates them and returns to the contact list.

use askama::Template;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::response::Response;
use axum::{Form, http};
use keel_platform::domain::FieldError;
use keel_platform::http::Principal;
use keel_platform::web::{FormErrors, PageContext, WebError, WebUser, render, render_invalid};
use keel_platform::{AppError, AppResult, Platform};

use super::{ListParams, Upload, contacts_view, redirect};
use crate::csv_import::{self, CsvImportOutcome, Field};

/// One column on the mapping page.
pub struct ColumnView {
    pub header: String,
    pub samples: Vec<String>,
    pub field: Field,
    pub error: Option<String>,
}

impl ColumnView {
    pub fn selected(&self, value: &str) -> bool {
        self.field.as_str() == value
    }
}

#[derive(Template)]
#[template(path = "mindfulcrm/csv_import.html")]
struct CsvImportPage {
    page: PageContext,
    tab: &'static str,
    file_name: String,
    csv: String,
    /// `lf` when the file had no carriage returns: browsers send every line break in a form
    /// as CR LF, so those are turned back into LF (notes keep their own line breaks).
    line_endings: &'static str,
    rows: usize,
    columns: Vec<ColumnView>,
    fields: Vec<(&'static str, &'static str)>,
    problems: Vec<FieldError>,
    preview: Option<CsvImportOutcome>,
}

/// The mapping page for a file, with `chosen` fields (else the guesses) and any problems.
fn mapping_view(
    principal: &Principal,
    file_name: &str,
    bytes: &[u8],
    chosen: &[String],
    errors: Vec<FieldError>,
) -> AppResult<CsvImportPage> {
    let table = csv_import::read_table(bytes)?;
    let text =
        std::str::from_utf8(bytes).map_err(|_| AppError::field("file", "is not UTF-8 text"))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut problems = Vec::new();
    let mut column_errors: Vec<(usize, String)> = Vec::new();
    for e in errors {
        let column = e
            .field
            .strip_prefix("mapping[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|i| i.parse::<usize>().ok());
        match column {
            Some(i) => column_errors.push((i, e.message)),
            None => problems.push(e),
        }
    }
    let columns = csv_import::columns(&table)
        .into_iter()
        .enumerate()
        .map(|(i, c)| ColumnView {
            field: chosen
                .get(i)
                .and_then(|raw| Field::parse(raw))
                .unwrap_or(c.guess),
            header: c.header,
            samples: c.samples,
            error: column_errors
                .iter()
                .find(|(j, _)| *j == i)
                .map(|(_, m)| m.clone()),
        })
        .collect();
    Ok(CsvImportPage {
        page: PageContext::signed_in(principal, "crm"),
        tab: "contacts",
        file_name: file_name.to_string(),
        csv: text.to_string(),
        line_endings: if text.contains('\r') { "" } else { "lf" },
        rows: table.len(),
        columns,
        fields: Field::ALL.iter().map(|f| (f.as_str(), f.label())).collect(),
        problems,
        preview: None,
    })
}

/// The contacts page with a problem of the file shown at the upload form.
async fn refused(
    platform: &Platform,
    principal: &Principal,
    err: AppError,
) -> Result<Response, WebError> {
    let errors = FormErrors::from_app_error(err)?;
    render_invalid(&contacts_view(platform, principal, &ListParams::default(), errors).await?)
}

/// After a CSV upload: the mapping page, or the contacts page saying why the file is refused.
pub(super) async fn mapping_step(
    platform: &Platform,
    principal: &Principal,
    upload: &Upload,
) -> Result<Response, WebError> {
    if upload.bytes.is_empty() {
        let why = if upload.file_name.is_empty() {
            "choose a .vcf or .csv file to import"
        } else {
            "is empty"
        };
        return refused(platform, principal, AppError::field("file", why)).await;
    }
    match mapping_view(principal, &upload.file_name, &upload.bytes, &[], Vec::new()) {
        Ok(page) => render(&page),
        Err(err) => refused(platform, principal, err).await,
    }
}

/// The fields of the mapping form, sent as multipart (the page's own form: no URL encoding
/// to inflate the file) or URL-encoded.
async fn form_fields(
    request: Request,
    platform: &Platform,
) -> Result<Vec<(String, String)>, WebError> {
    let multipart = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let broken = |e: String| AppError::BadRequest(format!("the form is broken: {e}"));
    if !multipart {
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(request, platform)
            .await
            .map_err(|e| broken(e.body_text()))?;
        return Ok(pairs);
    }
    let mut form = Multipart::from_request(request, platform)
        .await
        .map_err(|e| broken(e.body_text()))?;
    let mut pairs = Vec::new();
    while let Some(field) = form.next_field().await.map_err(|e| broken(e.body_text()))? {
        let name = field.name().unwrap_or_default().to_string();
        let value = field.text().await.map_err(|e| broken(e.body_text()))?;
        pairs.push((name, value));
    }
    Ok(pairs)
}

/// The mapping form: `csv`, one `mapping` per column in order, and `action` (`preview`, or
/// `import` to write).
pub(super) async fn import_csv(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    request: Request,
) -> Result<Response, WebError> {
    let mut csv = String::new();
    let mut file_name = String::new();
    let mut lf_only = false;
    let mut mapping: Vec<String> = Vec::new();
    let mut import = false;
    for (name, value) in form_fields(request, &platform).await? {
        match name.as_str() {
            "csv" => csv = value,
            "file_name" => file_name = value,
            "line_endings" => lf_only = value == "lf",
            "mapping" => mapping.push(value),
            "action" => import = value == "import",
            _ => {}
        }
    }
    if lf_only {
        csv = csv.replace("\r\n", "\n");
    }
    let chosen = (!mapping.is_empty()).then_some(mapping.as_slice());
    let outcome =
        csv_import::import_csv(&platform, &principal, csv.as_bytes(), chosen, !import).await;
    match outcome {
        Ok(done) if !done.dry_run => Ok(redirect(&format!(
            "/crm/contacts?imported={}",
            done.contacts
        ))),
        Ok(done) => {
            match mapping_view(&principal, &file_name, csv.as_bytes(), &mapping, Vec::new()) {
                Ok(mut page) => {
                    page.page.notice = Some(format!(
                        "The file is fine: importing it would add {} contacts. Nothing was written.",
                        done.contacts
                    ));
                    page.preview = Some(done);
                    render(&page)
                }
                Err(err) => refused(&platform, &principal, err).await,
            }
        }
        Err(AppError::Validation(errors)) => {
            match mapping_view(&principal, &file_name, csv.as_bytes(), &mapping, errors) {
                Ok(page) => render_invalid(&page),
                Err(err) => refused(&platform, &principal, err).await,
            }
        }
        Err(other) => Err(other.into()),
    }
}
