use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_platform::http::problem::{ApiJson, ApiPath, ApiQuery};
use keel_platform::http::{ClientMeta, Principal, Problem};
use keel_platform::{AppError, AppResult, Platform};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::Urgency;
use crate::incidents::{self, BulkOutcome, IncidentDetail, ListQuery, Transition};
use crate::store::incidents::{Incident, LogEntry};

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(list_incidents, create_incident))
        .routes(routes!(get_incident))
        .routes(routes!(acknowledge))
        .routes(routes!(resolve))
        .routes(routes!(add_note))
        .routes(routes!(reassign))
        .routes(routes!(escalate))
        .routes(routes!(bulk))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentQuery {
    /// Comma-separated: `open` (triggered or acknowledged), `triggered`, `acknowledged`,
    /// `resolved`.
    #[param(schema_with = incident_statuses)]
    status: Option<String>,
    service_id: Option<i64>,
    team_id: Option<i64>,
    /// `high` or `low`.
    #[param(value_type = Option<Urgency>)]
    urgency: Option<String>,
    /// Created at or after (RFC 3339).
    #[param(format = DateTime)]
    since: Option<String>,
    /// Created before (RFC 3339).
    #[param(format = DateTime)]
    until: Option<String>,
    /// `newest` (default), `oldest` or `most_alerts`.
    #[param(schema_with = incident_sorts)]
    sort: Option<String>,
    /// `me`, `nobody` (unassigned) or a user id; empty for anyone.
    #[param(schema_with = owners)]
    owner: Option<String>,
    /// Keyset pagination: the previous page's `next_before` (with the same `sort`).
    before: Option<i64>,
    /// 1–500, default 50.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

fn incident_statuses() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use keel_platform::api::openapi::fields;
    fields::described(
        fields::list_of_trimmed(&["open", "triggered", "acknowledged", "resolved"]),
        "Comma-separated: `open` (triggered or acknowledged), `triggered`, `acknowledged`, \
         `resolved`.",
    )
}

fn owners() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    keel_platform::api::openapi::json_schema(serde_json::json!({
        "type": "string",
        "pattern": "^(me|nobody|[0-9]{1,18})?$",
    }))
}

fn incident_sorts() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use keel_platform::api::openapi::{fields, json_schema};
    json_schema(fields::one_of(&["newest", "oldest", "most_alerts"]))
}

#[derive(Serialize, ToSchema)]
pub struct IncidentPage {
    incidents: Vec<Incident>,
    next_before: Option<i64>,
}

/// Incidents of the caller's teams, newest first unless `sort` says otherwise.
#[utoipa::path(get, path = "/api/v1/incidents", tag = "incidents", params(IncidentQuery),
    responses((status = 200, body = IncidentPage), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn list_incidents(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(q): ApiQuery<IncidentQuery>,
) -> AppResult<Json<IncidentPage>> {
    let query = ListQuery {
        status: q.status.as_deref(),
        service_id: q.service_id,
        team_id: q.team_id,
        urgency: q.urgency.as_deref(),
        since: q.since.as_deref(),
        until: q.until.as_deref(),
        sort: q.sort.as_deref(),
        owner: q.owner.as_deref().filter(|o| !o.is_empty()),
        before: q.before,
        limit: q.limit,
    };
    let (incidents, next_before) = incidents::list(&platform, &principal, query).await?;
    Ok(Json(IncidentPage {
        incidents,
        next_before,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateIncident {
    service_id: i64,
    #[schema(schema_with = keel_platform::api::openapi::fields::trimmed::<1024>)]
    title: String,
    /// `high` or `low`; default from the service's urgency rule.
    #[schema(value_type = Option<Urgency>)]
    urgency: Option<String>,
    details: Option<String>,
}

/// Open an incident by hand.
#[utoipa::path(post, path = "/api/v1/incidents", tag = "incidents", request_body = CreateIncident,
    responses((status = 201, body = Incident), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_incident(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiJson(body): ApiJson<CreateIncident>,
) -> AppResult<(StatusCode, Json<Incident>)> {
    let incident = incidents::create(
        &platform,
        &principal,
        body.service_id,
        &body.title,
        body.urgency.as_deref(),
        body.details.as_deref(),
        &meta,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(incident)))
}

/// An incident with its alerts, assignees and timeline.
#[utoipa::path(get, path = "/api/v1/incidents/{id}", tag = "incidents", params(("id" = i64, Path)),
    responses((status = 200, body = IncidentDetail), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_incident(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<IncidentDetail>> {
    Ok(Json(incidents::detail(&platform, &principal, id).await?))
}

/// Acknowledge: someone is on it. Idempotent.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/acknowledge", tag = "incidents", params(("id" = i64, Path)),
    responses((status = 200, body = Incident), (status = 404, body = Problem), (status = 409, description = "Already resolved", body = Problem)), security(("token" = []), ("session" = [])))]
async fn acknowledge(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Incident>> {
    Ok(Json(
        incidents::transition(&platform, &principal, id, Transition::Acknowledge, &meta).await?,
    ))
}

/// Resolve the incident and all its alerts. Idempotent.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/resolve", tag = "incidents", params(("id" = i64, Path)),
    responses((status = 200, body = Incident), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn resolve(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Incident>> {
    Ok(Json(
        incidents::transition(&platform, &principal, id, Transition::Resolve, &meta).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    #[schema(schema_with = keel_platform::api::openapi::fields::trimmed::<10000>)]
    text: String,
}

/// Add a note to the timeline.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/notes", tag = "incidents", params(("id" = i64, Path)), request_body = NoteBody,
    responses((status = 201, body = LogEntry), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn add_note(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NoteBody>,
) -> AppResult<(StatusCode, Json<LogEntry>)> {
    Ok((
        StatusCode::CREATED,
        Json(incidents::add_note(&platform, &principal, id, &body.text, &meta).await?),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReassignBody {
    /// The new assignees (replaces the current ones; empty unassigns), active members of the
    /// service's team or admins.
    #[schema(max_items = 20)]
    user_ids: Vec<i64>,
}

/// Reassign the incident.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/reassign", tag = "incidents", params(("id" = i64, Path)), request_body = ReassignBody,
    responses((status = 200, body = IncidentDetail), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn reassign(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ReassignBody>,
) -> AppResult<Json<IncidentDetail>> {
    Ok(Json(
        incidents::reassign(&platform, &principal, id, &body.user_ids, &meta).await?,
    ))
}

/// Escalate now: notify the policy's next level without waiting for its delay.
#[utoipa::path(post, path = "/api/v1/incidents/{id}/escalate", tag = "incidents", params(("id" = i64, Path)),
    responses((status = 200, body = IncidentDetail), (status = 404, body = Problem), (status = 409, description = "Not triggered", body = Problem)), security(("token" = []), ("session" = [])))]
async fn escalate(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<IncidentDetail>> {
    Ok(Json(
        incidents::escalate(&platform, &principal, id, &meta).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    /// `acknowledge` or `resolve`.
    #[schema(value_type = BulkAction)]
    action: String,
    #[schema(min_items = 1, max_items = 500)]
    ids: Vec<i64>,
}

/// What a bulk request does to each incident.
#[derive(ToSchema)]
#[allow(dead_code)] // documents the strings `bulk` matches
#[schema(rename_all = "lowercase")]
enum BulkAction {
    Acknowledge,
    Resolve,
}

/// Acknowledge or resolve many incidents; reports the outcome for each.
#[utoipa::path(post, path = "/api/v1/incidents/bulk", tag = "incidents", request_body = BulkBody,
    responses((status = 200, body = Vec<BulkOutcome>), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn bulk(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiJson(body): ApiJson<BulkBody>,
) -> AppResult<Json<Vec<BulkOutcome>>> {
    let to = match body.action.as_str() {
        "acknowledge" => Transition::Acknowledge,
        "resolve" => Transition::Resolve,
        _ => {
            return Err(AppError::field(
                "action",
                "must be `acknowledge` or `resolve`",
            ));
        }
    };
    Ok(Json(
        incidents::bulk(&platform, &principal, &body.ids, to, &meta).await?,
    ))
}
