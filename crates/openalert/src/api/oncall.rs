//! Schedules, overrides, on-call lookups, iCalendar feeds and escalation policies.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use keel_platform::domain::Timestamp;
use keel_platform::http::problem::{ApiJson, ApiPath, ApiQuery};
use keel_platform::http::{ClientMeta, Principal, Problem};
use keel_platform::{AppError, AppResult, Platform};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::oncall::{self, FeedKind, OverrideInput, PolicyInput, ScheduleInput};
use crate::store::escalation::Policy;
use crate::store::schedules::{Schedule, ScheduleOverride};

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(list_schedules, create_schedule))
        .routes(routes!(get_schedule, update_schedule, delete_schedule))
        .routes(routes!(on_call))
        .routes(routes!(shifts))
        .routes(routes!(list_overrides, create_override))
        .routes(routes!(delete_override))
        .routes(routes!(rotate_feed, revoke_feed))
        .routes(routes!(rotate_my_feed, revoke_my_feed))
        .routes(routes!(list_policies, create_policy))
        .routes(routes!(get_policy, update_policy, delete_policy))
}

/// Routes outside the session/token API: calendar apps fetch feeds with the secret URL.
pub fn feeds_router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .route(
            "/oncall/feeds/schedules/{file}",
            axum::routing::get(schedule_feed),
        )
        .route("/oncall/feeds/users/{file}", axum::routing::get(user_feed))
}

/// Schedules of the caller's teams (admins: all), without layers.
#[utoipa::path(get, path = "/api/v1/schedules", tag = "on-call", responses((status = 200, body = Vec<Schedule>)), security(("token" = []), ("session" = [])))]
async fn list_schedules(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<Schedule>>> {
    Ok(Json(oncall::list_schedules(&platform, &principal).await?))
}

/// Create a schedule with its layers (managers of the team and admins).
#[utoipa::path(post, path = "/api/v1/schedules", tag = "on-call", request_body = ScheduleInput,
    responses((status = 201, body = Schedule), (status = 403, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_schedule(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiJson(body): ApiJson<ScheduleInput>,
) -> AppResult<(StatusCode, Json<Schedule>)> {
    Ok((
        StatusCode::CREATED,
        Json(oncall::create_schedule(&platform, &principal, &body, &meta).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/schedules/{id}", tag = "on-call", params(("id" = i64, Path)),
    responses((status = 200, body = Schedule), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_schedule(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Schedule>> {
    Ok(Json(
        oncall::visible_schedule(&platform, &principal, id).await?,
    ))
}

/// Replace a schedule's fields and layers.
#[utoipa::path(put, path = "/api/v1/schedules/{id}", tag = "on-call", params(("id" = i64, Path)), request_body = ScheduleInput,
    responses((status = 200, body = Schedule), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn update_schedule(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ScheduleInput>,
) -> AppResult<Json<Schedule>> {
    Ok(Json(
        oncall::update_schedule(&platform, &principal, id, &body, &meta).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/schedules/{id}", tag = "on-call", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_schedule(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    oncall::delete_schedule(&platform, &principal, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AtQuery {
    /// RFC 3339 instant; default now.
    #[param(schema_with = instant_default_now)]
    at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct OnCallNow {
    #[schema(value_type = String)]
    at: Timestamp,
    /// Users on call at that instant (several when an override adds someone).
    user_ids: Vec<i64>,
}

fn instant(field: &str, raw: Option<&str>, default: Timestamp) -> AppResult<Timestamp> {
    match raw {
        None | Some("") => Ok(default),
        Some(text) => Timestamp::parse_rfc3339(text).map_err(|e| AppError::field(field, e)),
    }
}

/// Who is on call at an instant.
#[utoipa::path(get, path = "/api/v1/schedules/{id}/on-call", tag = "on-call", params(("id" = i64, Path), AtQuery),
    responses((status = 200, body = OnCallNow), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn on_call(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<AtQuery>,
) -> AppResult<Json<OnCallNow>> {
    oncall::visible_schedule(&platform, &principal, id).await?;
    let at = instant("at", query.at.as_deref(), platform.now())?;
    Ok(Json(OnCallNow {
        at,
        user_ids: oncall::on_call_at(&platform, id, at).await?,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RangeQuery {
    /// RFC 3339; default now.
    #[param(schema_with = instant_default_now)]
    from: Option<String>,
    /// RFC 3339; default two weeks after `from`. After `from`, at most 93 days later.
    #[param(schema_with = range_end)]
    to: Option<String>,
}

fn instant_default_now() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use keel_platform::api::openapi::fields;
    fields::described(
        fields::timestamp_or_empty(),
        "RFC 3339 instant such as `2026-01-31T09:00:00Z`; empty or absent for now.",
    )
}

fn range_end() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use keel_platform::api::openapi::fields;
    fields::described(
        fields::timestamp_or_empty(),
        "RFC 3339; empty or absent for two weeks after `from`. After `from`, at most 93 days \
         later.",
    )
}

#[derive(Serialize, ToSchema)]
pub struct ShiftOut {
    user_id: i64,
    #[schema(value_type = String)]
    starts_at: Timestamp,
    #[schema(value_type = String)]
    ends_at: Timestamp,
}

fn range(platform: &Platform, query: &RangeQuery) -> AppResult<(Timestamp, Timestamp)> {
    let from = instant("from", query.from.as_deref(), platform.now())?;
    let to = instant(
        "to",
        query.to.as_deref(),
        from.plus(std::time::Duration::from_secs(14 * 86_400)),
    )?;
    oncall::check_range(from, to)?;
    Ok((from, to))
}

/// Each person's shifts in the final timeline (layers and overrides applied) over a range.
#[utoipa::path(get, path = "/api/v1/schedules/{id}/shifts", tag = "on-call", params(("id" = i64, Path), RangeQuery),
    responses((status = 200, body = Vec<ShiftOut>), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn shifts(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> AppResult<Json<Vec<ShiftOut>>> {
    let schedule = oncall::visible_schedule(&platform, &principal, id).await?;
    let (from, to) = range(&platform, &query)?;
    let spans = oncall::timeline(&platform, &schedule, from, to).await?;
    Ok(Json(
        crate::domain::schedule::per_person(&spans)
            .into_iter()
            .map(|s| ShiftOut {
                user_id: s.user_id,
                starts_at: Timestamp::from_millis(s.starts_at),
                ends_at: Timestamp::from_millis(s.ends_at),
            })
            .collect(),
    ))
}

/// Overrides overlapping a range.
#[utoipa::path(get, path = "/api/v1/schedules/{id}/overrides", tag = "on-call", params(("id" = i64, Path), RangeQuery),
    responses((status = 200, body = Vec<ScheduleOverride>), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn list_overrides(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<RangeQuery>,
) -> AppResult<Json<Vec<ScheduleOverride>>> {
    let (from, to) = range(&platform, &query)?;
    Ok(Json(
        oncall::list_overrides(&platform, &principal, id, from, to).await?,
    ))
}

/// Put someone on call for a time range (any member of the schedule's team).
#[utoipa::path(post, path = "/api/v1/schedules/{id}/overrides", tag = "on-call", params(("id" = i64, Path)), request_body = OverrideInput,
    responses((status = 201, body = ScheduleOverride), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_override(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<OverrideInput>,
) -> AppResult<(StatusCode, Json<ScheduleOverride>)> {
    Ok((
        StatusCode::CREATED,
        Json(oncall::create_override(&platform, &principal, id, &body, &meta).await?),
    ))
}

#[utoipa::path(delete, path = "/api/v1/schedules/{id}/overrides/{override_id}", tag = "on-call", params(("id" = i64, Path), ("override_id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_override(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath((id, override_id)): ApiPath<(i64, i64)>,
) -> AppResult<StatusCode> {
    oncall::delete_override(&platform, &principal, id, override_id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct FeedUrl {
    /// Secret iCalendar URL; shown this once.
    url: String,
}

/// Issue a new secret iCalendar URL for the schedule (the previous one stops working).
#[utoipa::path(post, path = "/api/v1/schedules/{id}/feed", tag = "on-call", params(("id" = i64, Path)),
    responses((status = 201, body = FeedUrl), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn rotate_feed(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<(StatusCode, Json<FeedUrl>)> {
    let url = oncall::rotate_schedule_feed(&platform, &principal, id, &meta).await?;
    Ok((StatusCode::CREATED, Json(FeedUrl { url })))
}

#[utoipa::path(delete, path = "/api/v1/schedules/{id}/feed", tag = "on-call", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn revoke_feed(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    oncall::revoke_schedule_feed(&platform, &principal, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issue a secret iCalendar URL of the caller's own shifts across every schedule.
#[utoipa::path(post, path = "/api/v1/me/oncall-feed", tag = "on-call",
    responses((status = 201, body = FeedUrl)), security(("token" = []), ("session" = [])))]
async fn rotate_my_feed(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<(StatusCode, Json<FeedUrl>)> {
    let url = oncall::set_personal_feed(&platform, &principal, true)
        .await?
        .unwrap_or_default();
    Ok((StatusCode::CREATED, Json(FeedUrl { url })))
}

#[utoipa::path(delete, path = "/api/v1/me/oncall-feed", tag = "on-call", responses((status = 204)), security(("token" = []), ("session" = [])))]
async fn revoke_my_feed(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<StatusCode> {
    oncall::set_personal_feed(&platform, &principal, false).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn serve_feed(platform: &Platform, kind: FeedKind, file: &str) -> Response {
    let token = file.strip_suffix(".ics").unwrap_or(file);
    match oncall::feed(platform, kind, token).await {
        Ok(Some(body)) => (
            [
                (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
                (header::CACHE_CONTROL, "private, max-age=300"),
            ],
            body,
        )
            .into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            "no such calendar feed (revoked or never issued)\n",
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

async fn schedule_feed(
    State(platform): State<Platform>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    serve_feed(&platform, FeedKind::Schedule, &file).await
}

async fn user_feed(
    State(platform): State<Platform>,
    axum::extract::Path(file): axum::extract::Path<String>,
) -> Response {
    serve_feed(&platform, FeedKind::User, &file).await
}

// ---- escalation policies ----

/// Escalation policies of the caller's teams, with levels.
#[utoipa::path(get, path = "/api/v1/escalation-policies", tag = "on-call", responses((status = 200, body = Vec<Policy>)), security(("token" = []), ("session" = [])))]
async fn list_policies(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<Policy>>> {
    Ok(Json(oncall::list_policies(&platform, &principal).await?))
}

/// Create an escalation policy: ordered levels of targets (`{"type":"user","id":1}`,
/// `schedule` or `team`) and the minutes to wait before the next level.
#[utoipa::path(post, path = "/api/v1/escalation-policies", tag = "on-call", request_body = PolicyInput,
    responses((status = 201, body = Policy), (status = 403, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_policy(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiJson(body): ApiJson<PolicyInput>,
) -> AppResult<(StatusCode, Json<Policy>)> {
    Ok((
        StatusCode::CREATED,
        Json(oncall::create_policy(&platform, &principal, &body, &meta).await?),
    ))
}

#[utoipa::path(get, path = "/api/v1/escalation-policies/{id}", tag = "on-call", params(("id" = i64, Path)),
    responses((status = 200, body = Policy), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_policy(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Policy>> {
    Ok(Json(
        oncall::visible_policy(&platform, &principal, id).await?,
    ))
}

#[utoipa::path(put, path = "/api/v1/escalation-policies/{id}", tag = "on-call", params(("id" = i64, Path)), request_body = PolicyInput,
    responses((status = 200, body = Policy), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn update_policy(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PolicyInput>,
) -> AppResult<Json<Policy>> {
    Ok(Json(
        oncall::update_policy(&platform, &principal, id, &body, &meta).await?,
    ))
}

/// Delete a policy no service uses (409 otherwise).
#[utoipa::path(delete, path = "/api/v1/escalation-policies/{id}", tag = "on-call", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_policy(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    oncall::delete_policy(&platform, &principal, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
