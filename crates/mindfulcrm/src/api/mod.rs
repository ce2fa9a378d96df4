//! MindfulCRM's JSON API under `/api/v1/crm/`. Every route acts on the caller's own data.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_platform::http::problem::{ApiJson, ApiPath, ApiQuery};
use keel_platform::http::{Principal, Problem};
use keel_platform::{AppError, AppResult, Platform};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod accounts;
mod ai;
mod calendar;
mod csv_import;

use crate::activity::{self, Interaction, InteractionInput, Task, TaskInput};
use crate::contacts::{self, Contact, ContactInput};
use crate::domain::{Health, Stage, TaskStatus};
use crate::store::ContactQuery;

mod merge;
mod photo_finder;

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(list_contacts, create_contact))
        .routes(routes!(get_contact, update_contact, delete_contact))
        .routes(routes!(get_photo, put_photo, delete_photo))
        .routes(routes!(list_tags))
        .routes(routes!(list_interactions, create_interaction))
        .routes(routes!(get_interaction, delete_interaction))
        .routes(routes!(list_tasks, create_task))
        .routes(routes!(get_task, update_task, delete_task))
        .routes(routes!(complete_task))
        .routes(routes!(reopen_task))
        .routes(routes!(export_csv))
        .routes(routes!(export_vcard))
        .routes(routes!(merge::list_duplicates))
        .routes(routes!(merge::merge_contact))
        .merge(calendar::router())
        .merge(accounts::router())
        .merge(ai::router())
        .merge(photo_finder::router())
        .merge(
            OpenApiRouter::new()
                .routes(routes!(import_vcard))
                .routes(routes!(csv_import::import_csv))
                .routes(routes!(calendar::import_ics))
                .layer(axum::extract::DefaultBodyLimit::max(IMPORT_MAX_BYTES)),
        )
}

/// Imported files may be larger than other request bodies (a whole address book or calendar).
pub const IMPORT_MAX_BYTES: usize = 32 * 1024 * 1024;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactListQuery {
    /// Words in names, company, notes or emails.
    q: Option<String>,
    /// Only contacts with this tag.
    tag: Option<String>,
    /// Only this stage (archived contacts are listed only when asked for).
    #[param(schema_with = stage_filter)]
    stage: Option<String>,
    /// `due`: only contacts whose keep-in-touch cadence has passed.
    #[param(schema_with = health_filter)]
    health: Option<String>,
    /// Cursor from the previous page's `next`.
    #[param(schema_with = contact_cursor)]
    after: Option<String>,
    /// Page size, 1-200 (default 50).
    limit: Option<i64>,
}

fn stage_filter() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use keel_platform::api::openapi::fields;
    fields::described(
        fields::one_of_trimmed_or_blank(Stage::ALL),
        &format!(
            "Only this stage: {} (archived contacts are listed only when asked for).",
            Stage::ALL.join(", ")
        ),
    )
}

fn health_filter() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use keel_platform::api::openapi::fields;
    fields::described(
        fields::one_of_trimmed_or_blank(&[Health::Due.as_str()]),
        "`due`: only contacts whose keep-in-touch cadence has passed.",
    )
}

/// A page's `next`: the hex of the last name, a dot and the last id (see
/// `contacts::parse_cursor`); blank for the first page.
fn contact_cursor() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let space = keel_platform::api::openapi::fields::WHITESPACE_CLASS;
    keel_platform::api::openapi::json_schema(serde_json::json!({
        "type": "string",
        "pattern": format!(r"^[{space}]*(?:(?:[0-7][0-9A-Fa-f])*\.[+-]?[0-9]{{1,18}}[{space}]*)?$"),
        "description": "The previous page's `next`; blank for the first page.",
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ContactPage {
    /// In name order; each with its first email and its tags.
    contacts: Vec<Contact>,
    /// Pass as `after` for the next page; null on the last page.
    next: Option<String>,
}

/// Parses list filters shared by the API and the pages.
pub fn contact_query(
    platform: &Platform,
    q: Option<&str>,
    tag: Option<&str>,
    stage: Option<&str>,
    health: Option<&str>,
    after: Option<&str>,
    limit: Option<i64>,
) -> AppResult<ContactQuery> {
    let nonempty = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    Ok(ContactQuery {
        search: nonempty(q),
        tag: nonempty(tag).map(|t| t.to_lowercase()),
        stage: match nonempty(stage) {
            Some(s) => Some(Stage::parse(&s).map_err(|e| AppError::field("stage", e))?),
            None => None,
        },
        due_at: match nonempty(health).as_deref() {
            None => None,
            Some("due") => Some(platform.now().as_millis()),
            Some(_) => return Err(AppError::field("health", "the only health filter is `due`")),
        },
        include_archived: false,
        after: nonempty(after)
            .map(|a| contacts::parse_cursor(&a))
            .transpose()?,
        least_recent_first: false,
        limit: limit.unwrap_or(50),
    })
}

/// Your contacts, a page at a time, with search and filters.
#[utoipa::path(get, path = "/api/v1/crm/contacts", tag = "crm", params(ContactListQuery),
    responses((status = 200, body = ContactPage), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn list_contacts(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ContactListQuery>,
) -> AppResult<Json<ContactPage>> {
    let filter = contact_query(
        &platform,
        query.q.as_deref(),
        query.tag.as_deref(),
        query.stage.as_deref(),
        query.health.as_deref(),
        query.after.as_deref(),
        query.limit,
    )?;
    let (contacts, next) = contacts::list(&platform, &principal, filter).await?;
    Ok(Json(ContactPage { contacts, next }))
}

#[utoipa::path(post, path = "/api/v1/crm/contacts", tag = "crm", request_body = ContactInput,
    responses((status = 201, body = Contact), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_contact(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<ContactInput>,
) -> AppResult<(StatusCode, Json<Contact>)> {
    Ok((
        StatusCode::CREATED,
        Json(contacts::create(&platform, &principal, &body).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/crm/contacts/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 200, body = Contact), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_contact(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Contact>> {
    Ok(Json(contacts::get(&platform, &principal, id).await?))
}

/// Replace a contact (emails, phones and tags included).
#[utoipa::path(put, path = "/api/v1/crm/contacts/{id}", tag = "crm", params(("id" = i64, Path)), request_body = ContactInput,
    responses((status = 200, body = Contact), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn update_contact(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ContactInput>,
) -> AppResult<Json<Contact>> {
    Ok(Json(
        contacts::update(&platform, &principal, id, &body).await?,
    ))
}

/// Delete a contact; interactions and tasks stay, without it.
#[utoipa::path(delete, path = "/api/v1/crm/contacts/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_contact(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    contacts::delete(&platform, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The contact's photo, with its image type.
#[utoipa::path(get, path = "/api/v1/crm/contacts/{id}/photo", tag = "crm", params(("id" = i64, Path)),
    responses((status = 200, content_type = "image/*", body = Vec<u8>), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_photo(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let photo = contacts::photo(&platform, &principal, id).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, photo.content_type),
            // Versioned URLs (`?v=`) change with the photo; only the signed-in browser keeps it.
            (axum::http::header::CACHE_CONTROL, "private, max-age=86400"),
        ],
        photo.data,
    )
        .into_response())
}

/// Sets the contact's photo: the request body is the image (JPEG, PNG, GIF or WebP, at most
/// 512 KiB); its type is read from the bytes.
#[utoipa::path(put, path = "/api/v1/crm/contacts/{id}/photo", tag = "crm", params(("id" = i64, Path)),
    request_body(content = Vec<u8>, content_type = "image/*"),
    responses((status = 204), (status = 404, body = Problem), (status = 413, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn put_photo(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    body: axum::body::Bytes,
) -> AppResult<StatusCode> {
    contacts::set_photo(&platform, &principal, id, body.to_vec()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/api/v1/crm/contacts/{id}/photo", tag = "crm", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_photo(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    contacts::remove_photo(&platform, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct TagCount {
    name: String,
    contacts: i64,
}

#[utoipa::path(get, path = "/api/v1/crm/tags", tag = "crm", responses((status = 200, body = Vec<TagCount>)), security(("token" = []), ("session" = [])))]
async fn list_tags(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<TagCount>>> {
    let tags = crate::contacts::tags(&platform, &principal).await?;
    Ok(Json(
        tags.into_iter()
            .map(|(name, contacts)| TagCount { name, contacts })
            .collect(),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InteractionListQuery {
    /// Only interactions with this contact.
    contact_id: Option<i64>,
    /// Keyset: the interactions listed after this one (pass the last id of a page).
    before_id: Option<i64>,
    limit: Option<i64>,
}

/// Your interactions, newest first.
#[utoipa::path(get, path = "/api/v1/crm/interactions", tag = "crm", params(InteractionListQuery),
    responses((status = 200, body = Vec<Interaction>)), security(("token" = []), ("session" = [])))]
async fn list_interactions(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(q): ApiQuery<InteractionListQuery>,
) -> AppResult<Json<Vec<Interaction>>> {
    Ok(Json(
        activity::list_interactions(
            &platform,
            &principal,
            q.contact_id,
            q.before_id,
            q.limit.unwrap_or(50),
        )
        .await?,
    ))
}

/// Record an interaction with one or more contacts; their last-interaction times follow.
#[utoipa::path(post, path = "/api/v1/crm/interactions", tag = "crm", request_body = InteractionInput,
    responses((status = 201, body = Interaction), (status = 409, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_interaction(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<InteractionInput>,
) -> AppResult<(StatusCode, Json<Interaction>)> {
    Ok((
        StatusCode::CREATED,
        Json(activity::create_interaction(&platform, &principal, &body).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/crm/interactions/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 200, body = Interaction), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_interaction(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Interaction>> {
    Ok(Json(
        activity::get_interaction(&platform, &principal, id).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/crm/interactions/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_interaction(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    activity::delete_interaction(&platform, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TaskListQuery {
    /// `open` or `done` (default: both).
    #[param(schema_with = task_status_filter)]
    status: Option<String>,
    contact_id: Option<i64>,
}

fn task_status_filter() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use keel_platform::api::openapi::fields;
    fields::described(
        fields::one_of_trimmed_or_empty(TaskStatus::ALL),
        "`open` or `done`; empty or absent for both.",
    )
}

/// Your tasks, soonest due first.
#[utoipa::path(get, path = "/api/v1/crm/tasks", tag = "crm", params(TaskListQuery),
    responses((status = 200, body = Vec<Task>), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn list_tasks(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(q): ApiQuery<TaskListQuery>,
) -> AppResult<Json<Vec<Task>>> {
    let status = q
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| TaskStatus::parse(s).map_err(|e| AppError::field("status", e)))
        .transpose()?;
    Ok(Json(
        activity::list_tasks(&platform, &principal, status, q.contact_id).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/crm/tasks", tag = "crm", request_body = TaskInput,
    responses((status = 201, body = Task), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_task(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<TaskInput>,
) -> AppResult<(StatusCode, Json<Task>)> {
    Ok((
        StatusCode::CREATED,
        Json(activity::save_task(&platform, &principal, None, &body).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/crm/tasks/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 200, body = Task), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_task(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Task>> {
    Ok(Json(activity::get_task(&platform, &principal, id).await?))
}

#[utoipa::path(put, path = "/api/v1/crm/tasks/{id}", tag = "crm", params(("id" = i64, Path)), request_body = TaskInput,
    responses((status = 200, body = Task), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn update_task(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<TaskInput>,
) -> AppResult<Json<Task>> {
    Ok(Json(
        activity::save_task(&platform, &principal, Some(id), &body).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/crm/tasks/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_task(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    activity::delete_task(&platform, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/crm/tasks/{id}/complete", tag = "crm", params(("id" = i64, Path)),
    responses((status = 200, body = Task), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn complete_task(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Task>> {
    Ok(Json(
        activity::set_done(&platform, &principal, id, true).await?,
    ))
}

#[utoipa::path(post, path = "/api/v1/crm/tasks/{id}/reopen", tag = "crm", params(("id" = i64, Path)),
    responses((status = 200, body = Task), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn reopen_task(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Task>> {
    Ok(Json(
        activity::set_done(&platform, &principal, id, false).await?,
    ))
}

fn download(body: axum::body::Body, content_type: &str, name: &str) -> axum::response::Response {
    axum::response::Response::builder()
        .header(axum::http::header::CONTENT_TYPE, content_type)
        .header(
            axum::http::header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )
        .body(body)
        .expect("valid headers")
}

/// All your contacts as CSV (streamed; emails and phones `value (label)` joined by `; `).
#[utoipa::path(get, path = "/api/v1/crm/export/contacts.csv", tag = "crm",
    responses((status = 200, content_type = "text/csv", body = String)), security(("token" = []), ("session" = [])))]
async fn export_csv(
    State(platform): State<Platform>,
    principal: Principal,
) -> axum::response::Response {
    download(
        crate::transfer::export(platform, principal, crate::transfer::Format::Csv),
        "text/csv; charset=utf-8",
        "contacts.csv",
    )
}

/// All your contacts as vCard 4.0 (streamed).
#[utoipa::path(get, path = "/api/v1/crm/export/contacts.vcf", tag = "crm",
    responses((status = 200, content_type = "text/vcard", body = String)), security(("token" = []), ("session" = [])))]
async fn export_vcard(
    State(platform): State<Platform>,
    principal: Principal,
) -> axum::response::Response {
    download(
        crate::transfer::export(platform, principal, crate::transfer::Format::Vcard),
        "text/vcard; charset=utf-8",
        "contacts.vcf",
    )
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// Check the file and report what would be created, writing nothing.
    #[serde(default)]
    dry_run: bool,
}

/// Import a vCard 3.0 or 4.0 file (many cards). All or nothing: problems are reported per
/// line (`line 12`) and then nothing is written.
#[utoipa::path(post, path = "/api/v1/crm/import/vcard", tag = "crm", params(ImportQuery),
    request_body(content = String, content_type = "text/vcard"),
    responses((status = 200, body = crate::transfer::ImportOutcome), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn import_vcard(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(query): ApiQuery<ImportQuery>,
    body: String,
) -> AppResult<Json<crate::transfer::ImportOutcome>> {
    Ok(Json(
        crate::transfer::import_vcard(&platform, &principal, &body, query.dry_run).await?,
    ))
}
