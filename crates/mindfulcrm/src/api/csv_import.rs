//! CSV contact import under `/api/v1/crm/import/csv`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use keel_platform::http::problem::ApiQuery;
use keel_platform::http::{Principal, Problem};
use keel_platform::{AppError, AppResult, Platform};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::csv_import::{self, CsvImportOutcome};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CsvImportQuery {
    /// Check the file and report what would be created (with a preview), writing nothing.
    /// Read here rather than by serde so a bad value is reported as `dry_run`.
    #[param(value_type = Option<bool>)]
    dry_run: Option<String>,
    /// One field per CSV column, in order, separated by commas, e.g.
    /// `display_name,emails,ignore,tags`. Fields: given_name, family_name, display_name,
    /// company, title, birthday, website, notes, stage, cadence_days, emails, phones, tags,
    /// ignore. Only emails, phones and tags may be given to several columns (their values
    /// are added up). Absent: guessed from the header names.
    mapping: Option<String>,
}

/// Import contacts from a CSV file (UTF-8, comma-separated, the first row naming the
/// columns), such as our own `contacts.csv` export or another tool's. Emails and phones cells
/// hold `value (label)` entries separated by `;`, tags cells tags separated by `,` or `;`.
/// All or nothing: every problem is reported by CSV line (`row 7`, the header is row 1), the
/// mapping by entry (`mapping[2]`), the file as a whole as `file`; then nothing is written.
/// At most 50,000 rows. A contact's keep-in-touch cadence is what the file says (none when
/// the column is absent or empty), not your default.
#[utoipa::path(post, path = "/api/v1/crm/import/csv", tag = "crm", params(CsvImportQuery),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = CsvImportOutcome), (status = 413, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
pub(super) async fn import_csv(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(query): ApiQuery<CsvImportQuery>,
    body: Result<Bytes, BytesRejection>,
) -> AppResult<Json<CsvImportOutcome>> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            AppError::TooLarge(format!(
                "the file is larger than the limit of {} bytes; split it",
                keel_platform::server::MAX_BODY_BYTES
            ))
        } else {
            AppError::BadRequest("the request body could not be read".into())
        }
    })?;
    let dry_run = match query.dry_run.as_deref().map(str::trim) {
        None | Some("" | "false" | "0") => false,
        Some("true" | "1") => true,
        Some(_) => return Err(AppError::field("dry_run", "must be true or false")),
    };
    let mapping: Option<Vec<String>> = query
        .mapping
        .as_deref()
        .filter(|m| !m.trim().is_empty())
        .map(|m| m.split(',').map(str::to_string).collect());
    Ok(Json(
        csv_import::import_csv(&platform, &principal, &body, mapping.as_deref(), dry_run).await?,
    ))
}
