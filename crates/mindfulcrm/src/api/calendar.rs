//! Calendar events, goals, settings and the whole-account export under `/api/v1/crm/`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_platform::domain::Timestamp;
use keel_platform::http::problem::{ApiJson, ApiPath, ApiQuery};
use keel_platform::http::{Principal, Problem};
use keel_platform::{AppError, AppResult, Platform};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::calendar::{self, Event, EventInput, IcsImportOutcome};
use crate::goals::{self, Goal, GoalInput};
use crate::settings::{self, Settings, SettingsInput};

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(list_events, create_event))
        .routes(routes!(get_event, update_event, delete_event))
        .routes(routes!(export_ics))
        .routes(routes!(list_goals, create_goal))
        .routes(routes!(get_goal, update_goal, delete_goal))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(export_account))
}

/// Everything you entered in MindfulCRM as one zip: JSON for every record, contacts also as
/// CSV and vCard, events also as iCalendar.
#[utoipa::path(get, path = "/api/v1/crm/export/account.zip", tag = "crm",
    responses((status = 200, content_type = "application/zip", body = Vec<u8>)), security(("token" = []), ("session" = [])))]
async fn export_account(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<axum::response::Response> {
    Ok(super::download(
        axum::body::Body::from_stream(crate::portability::account_zip(platform, principal)),
        "application/zip",
        "mindfulcrm-export.zip",
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventRange {
    /// RFC 3339; default now.
    #[param(schema_with = range_start)]
    from: Option<String>,
    /// RFC 3339; default 31 days after `from`. After `from`, at most 400 days later.
    #[param(schema_with = range_end)]
    to: Option<String>,
    /// Only events with this contact among the attendees.
    contact_id: Option<i64>,
}

fn range_start() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use keel_platform::api::openapi::fields;
    fields::described(
        fields::timestamp_or_empty(),
        "RFC 3339 such as `2026-01-31T09:00:00Z`; empty or absent for now.",
    )
}

fn range_end() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use keel_platform::api::openapi::fields;
    fields::described(
        fields::timestamp_or_empty(),
        "RFC 3339; empty or absent for 31 days after `from`. After `from`, at most 400 days \
         later.",
    )
}

fn instant(field: &str, raw: Option<&str>, default: Timestamp) -> AppResult<Timestamp> {
    match raw {
        None | Some("") => Ok(default),
        Some(raw) => Timestamp::parse_rfc3339(raw).map_err(|m| AppError::field(field, m)),
    }
}

/// Events overlapping a time range, by start (at most 500).
#[utoipa::path(get, path = "/api/v1/crm/events", tag = "crm", params(EventRange),
    responses((status = 200, body = Vec<Event>), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn list_events(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(q): ApiQuery<EventRange>,
) -> AppResult<Json<Vec<Event>>> {
    let from = instant("from", q.from.as_deref(), platform.now())?;
    let to = instant(
        "to",
        q.to.as_deref(),
        from.plus(std::time::Duration::from_secs(31 * 86_400)),
    )?;
    if to < from || to.since(from) > std::time::Duration::from_secs(400 * 86_400) {
        return Err(AppError::field(
            "to",
            "must be after from, at most 400 days later",
        ));
    }
    Ok(Json(
        calendar::list(&platform, &principal, from, to, q.contact_id).await?,
    ))
}

/// Add an event; attendees are matched to your contacts by email.
#[utoipa::path(post, path = "/api/v1/crm/events", tag = "crm", request_body = EventInput,
    responses((status = 201, body = Event), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_event(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<EventInput>,
) -> AppResult<(StatusCode, Json<Event>)> {
    Ok((
        StatusCode::CREATED,
        Json(calendar::create(&platform, &principal, &body).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/crm/events/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 200, body = Event), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_event(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Event>> {
    Ok(Json(calendar::get(&platform, &principal, id).await?))
}

/// Events mirrored from a feed or CalDAV calendar are changed there: 409 here.
#[utoipa::path(put, path = "/api/v1/crm/events/{id}", tag = "crm", params(("id" = i64, Path)), request_body = EventInput,
    responses((status = 200, body = Event), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn update_event(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<EventInput>,
) -> AppResult<Json<Event>> {
    Ok(Json(
        calendar::update(&platform, &principal, id, &body).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/crm/events/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_event(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    calendar::delete(&platform, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// All your events as one iCalendar file.
#[utoipa::path(get, path = "/api/v1/crm/export/events.ics", tag = "crm",
    responses((status = 200, content_type = "text/calendar", body = String)), security(("token" = []), ("session" = [])))]
async fn export_ics(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<axum::response::Response> {
    let text = calendar::export_ics(&platform, &principal).await?;
    Ok(super::download(
        text.into(),
        "text/calendar; charset=utf-8",
        "events.ics",
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IcsImportQuery {
    /// Check the file and report what would change, writing nothing.
    #[serde(default)]
    dry_run: bool,
}

/// Import an iCalendar file: events with a known UID are updated, the others added. All or
/// nothing: problems are reported per line (`line 12`) and then nothing is written.
#[utoipa::path(post, path = "/api/v1/crm/import/ics", tag = "crm", params(IcsImportQuery),
    request_body(content = String, content_type = "text/calendar"),
    responses((status = 200, body = IcsImportOutcome), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
pub(super) async fn import_ics(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(query): ApiQuery<IcsImportQuery>,
    body: String,
) -> AppResult<Json<IcsImportOutcome>> {
    Ok(Json(
        calendar::import_ics(&platform, &principal, &body, query.dry_run).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GoalQuery {
    /// Earlier periods to include, 0-12 (default 7; more count as 12).
    #[param(minimum = 0, maximum = 18_446_744_073_709_551_615_u64)]
    history: Option<usize>,
}

/// Your goals with the current period's progress and earlier periods.
#[utoipa::path(get, path = "/api/v1/crm/goals", tag = "crm", params(GoalQuery),
    responses((status = 200, body = Vec<Goal>)), security(("token" = []), ("session" = [])))]
async fn list_goals(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(q): ApiQuery<GoalQuery>,
) -> AppResult<Json<Vec<Goal>>> {
    let history = q.history.unwrap_or(7).min(12);
    Ok(Json(goals::list(&platform, &principal, history).await?))
}

#[utoipa::path(post, path = "/api/v1/crm/goals", tag = "crm", request_body = GoalInput,
    responses((status = 201, body = Goal), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_goal(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<GoalInput>,
) -> AppResult<(StatusCode, Json<Goal>)> {
    Ok((
        StatusCode::CREATED,
        Json(goals::save(&platform, &principal, None, &body).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/crm/goals/{id}", tag = "crm", params(("id" = i64, Path), GoalQuery),
    responses((status = 200, body = Goal), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_goal(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<GoalQuery>,
) -> AppResult<Json<Goal>> {
    let history = q.history.unwrap_or(7).min(12);
    Ok(Json(goals::get(&platform, &principal, id, history).await?))
}

#[utoipa::path(put, path = "/api/v1/crm/goals/{id}", tag = "crm", params(("id" = i64, Path)), request_body = GoalInput,
    responses((status = 200, body = Goal), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn update_goal(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<GoalInput>,
) -> AppResult<Json<Goal>> {
    Ok(Json(
        goals::save(&platform, &principal, Some(id), &body).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/crm/goals/{id}", tag = "crm", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_goal(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    goals::delete(&platform, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/v1/crm/settings", tag = "crm",
    responses((status = 200, body = Settings)), security(("token" = []), ("session" = [])))]
async fn get_settings(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Settings>> {
    Ok(Json(
        settings::get(platform.db.pool(), principal.user.id).await?,
    ))
}

/// Time zone, default cadence for new contacts, and the daily digest mail.
#[utoipa::path(put, path = "/api/v1/crm/settings", tag = "crm", request_body = SettingsInput,
    responses((status = 200, body = Settings), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn put_settings(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<SettingsInput>,
) -> AppResult<Json<Settings>> {
    Ok(Json(settings::save(&platform, &principal, &body).await?))
}
