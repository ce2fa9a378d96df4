use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_platform::http::problem::{ApiJson, ApiPath};
use keel_platform::http::{ClientMeta, Principal, Problem};
use keel_platform::{AppResult, Platform};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::catalog::{self, IntegrationInput, IntegrationUpdate, ServiceInput};
use crate::domain::{IntegrationKind, UrgencyRule};
use crate::store::services::{Integration, MaintenanceWindow, Service};

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(list_services, create_service))
        .routes(routes!(get_service, update_service, delete_service))
        .routes(routes!(list_windows, create_window))
        .routes(routes!(delete_window))
        .routes(routes!(list_integrations, create_integration))
        .routes(routes!(update_integration, delete_integration))
        .routes(routes!(rotate_integration))
}

/// Services of the caller's teams (admins: all).
#[utoipa::path(get, path = "/api/v1/services", tag = "services", responses((status = 200, body = Vec<Service>)), security(("token" = []), ("session" = [])))]
async fn list_services(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<Service>>> {
    Ok(Json(catalog::list_services(&platform, &principal).await?))
}

/// A double option: absent (keep), `null` (clear) or a value.
fn double<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceBody {
    /// Owning team (required on create).
    team_id: Option<i64>,
    /// Required on create.
    #[schema(schema_with = service_name)]
    name: Option<String>,
    #[schema(schema_with = keel_platform::api::openapi::fields::trimmed_optional_or_null::<2000>)]
    description: Option<String>,
    /// A policy of the service's own team; null for none.
    #[serde(default, deserialize_with = "double")]
    escalation_policy_id: Option<Option<i64>>,
    /// `high`, `low` or `severity` (critical/error → high, warning/info → low). Default `high`.
    #[schema(value_type = Option<UrgencyRule>)]
    urgency_rule: Option<String>,
    /// Minutes without alerts before an open incident resolves itself; null for never.
    #[serde(default, deserialize_with = "double")]
    #[schema(minimum = 1, maximum = 10080)]
    auto_resolve_minutes: Option<Option<i64>>,
    /// Minutes after which an acknowledged, still open incident triggers again; null for never.
    #[serde(default, deserialize_with = "double")]
    #[schema(minimum = 1, maximum = 10080)]
    ack_timeout_minutes: Option<Option<i64>>,
}

fn service_name() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use keel_platform::api::openapi::fields;
    fields::described(
        fields::one_line_or_null::<100>(),
        "Required on create: 1 to 100 characters after trimming, no control characters. Unique \
         in the team.",
    )
}

impl ServiceBody {
    fn input(&self) -> ServiceInput<'_> {
        ServiceInput {
            team_id: self.team_id,
            name: self.name.as_deref(),
            description: self.description.as_deref(),
            escalation_policy_id: self.escalation_policy_id,
            urgency_rule: self.urgency_rule.as_deref(),
            auto_resolve_minutes: self.auto_resolve_minutes,
            ack_timeout_minutes: self.ack_timeout_minutes,
        }
    }
}

/// Create a service (managers of the team and admins).
#[utoipa::path(post, path = "/api/v1/services", tag = "services", request_body = ServiceBody,
    responses((status = 201, body = Service), (status = 403, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_service(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiJson(body): ApiJson<ServiceBody>,
) -> AppResult<(StatusCode, Json<Service>)> {
    Ok((
        StatusCode::CREATED,
        Json(catalog::create_service(&platform, &principal, body.input(), &meta).await?),
    ))
}

/// One service.
#[utoipa::path(get, path = "/api/v1/services/{id}", tag = "services", params(("id" = i64, Path)),
    responses((status = 200, body = Service), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_service(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Service>> {
    Ok(Json(
        catalog::visible_service(&platform, &principal, id).await?,
    ))
}

/// Change a service; absent fields are kept, `null` clears optional ones.
#[utoipa::path(patch, path = "/api/v1/services/{id}", tag = "services", params(("id" = i64, Path)), request_body = ServiceBody,
    responses((status = 200, body = Service), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn update_service(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ServiceBody>,
) -> AppResult<Json<Service>> {
    Ok(Json(
        catalog::update_service(&platform, &principal, id, body.input(), &meta).await?,
    ))
}

/// Delete a service with its integrations, incidents and alerts.
#[utoipa::path(delete, path = "/api/v1/services/{id}", tag = "services", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_service(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    catalog::delete_service(&platform, &principal, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Current and future maintenance windows of a service.
#[utoipa::path(get, path = "/api/v1/services/{id}/maintenance-windows", tag = "services", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<MaintenanceWindow>), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn list_windows(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Vec<MaintenanceWindow>>> {
    Ok(Json(
        catalog::list_windows(&platform, &principal, id).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WindowBody {
    /// RFC 3339.
    #[schema(format = DateTime)]
    starts_at: String,
    /// RFC 3339, after `starts_at`.
    #[schema(format = DateTime)]
    ends_at: String,
    #[serde(default)]
    #[schema(schema_with = keel_platform::api::openapi::fields::at_most::<500>)]
    description: String,
}

/// Schedule maintenance: alerts during the window are recorded but page nobody.
#[utoipa::path(post, path = "/api/v1/services/{id}/maintenance-windows", tag = "services", params(("id" = i64, Path)), request_body = WindowBody,
    responses((status = 201, body = MaintenanceWindow), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_window(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<WindowBody>,
) -> AppResult<(StatusCode, Json<MaintenanceWindow>)> {
    let window = catalog::create_window(
        &platform,
        &principal,
        id,
        &body.starts_at,
        &body.ends_at,
        &body.description,
        &meta,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(window)))
}

/// Cancel a maintenance window.
#[utoipa::path(delete, path = "/api/v1/services/{id}/maintenance-windows/{window_id}", tag = "services", params(("id" = i64, Path), ("window_id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_window(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath((id, window_id)): ApiPath<(i64, i64)>,
) -> AppResult<StatusCode> {
    catalog::delete_window(&platform, &principal, id, window_id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A service's integrations (never their keys).
#[utoipa::path(get, path = "/api/v1/services/{id}/integrations", tag = "services", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Integration>), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn list_integrations(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Vec<Integration>>> {
    Ok(Json(
        catalog::list_integrations(&platform, &principal, id).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationBody {
    /// `events_v2`, `alertmanager`, `grafana`, `generic` or `heartbeat`.
    #[serde(rename = "type")]
    kind: String,
    name: String,
    /// Heartbeat integrations: longest silence in seconds (30–604800).
    heartbeat_seconds: Option<i64>,
    /// Override of the default per-integration limit.
    rate_limit_per_minute: Option<i64>,
}

impl utoipa::PartialSchema for IntegrationBody {
    /// `heartbeat_seconds` is required for heartbeat integrations and refused for the others.
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let kinds = [
            IntegrationKind::EventsV2,
            IntegrationKind::Alertmanager,
            IntegrationKind::Grafana,
            IntegrationKind::Generic,
        ]
        .map(IntegrationKind::as_str);
        keel_platform::api::openapi::json_schema(serde_json::json!({"allOf": [{
            "type": "object",
            "required": ["type", "name"],
            "properties": {
                "type": {
                    "type": "string",
                    "enum": [kinds[0], kinds[1], kinds[2], kinds[3], IntegrationKind::Heartbeat.as_str()],
                    "description": "What sends to it; decides the ingest URL and the body format.",
                },
                "name": keel_platform::api::openapi::fields::one_line::<100>(),
                "heartbeat_seconds": {
                    "type": ["integer", "null"],
                    "format": "int64",
                    "minimum": 30,
                    "maximum": 604_800,
                    "description": "Heartbeat integrations (required there, refused elsewhere): longest silence in seconds.",
                },
                "rate_limit_per_minute": {
                    "type": ["integer", "null"],
                    "format": "int64",
                    "minimum": 1,
                    "maximum": 1_000_000,
                    "description": "Override of the default per-integration limit.",
                },
            },
            "additionalProperties": false,
        }, {
            "oneOf": [
                {
                    "type": "object",
                    "properties": {"type": {"type": "string", "enum": [IntegrationKind::Heartbeat.as_str()]}, "heartbeat_seconds": {"type": "integer"}},
                    "required": ["heartbeat_seconds"],
                },
                {
                    "type": "object",
                    "properties": {"type": {"type": "string", "enum": kinds}, "heartbeat_seconds": {"type": "null"}},
                },
            ],
        }]}))
    }
}

impl ToSchema for IntegrationBody {}

#[derive(Serialize, ToSchema)]
pub struct IssuedIntegration {
    #[serde(flatten)]
    integration: Integration,
    /// The key. Shown this once; store it now.
    key: String,
    /// Where the monitoring tool sends to (for `events_v2`, the key is the `routing_key`).
    ingest_url: String,
}

impl From<catalog::IssuedKey> for IssuedIntegration {
    fn from(k: catalog::IssuedKey) -> Self {
        Self {
            integration: k.integration,
            key: k.key,
            ingest_url: k.ingest_url,
        }
    }
}

/// Add an integration; its key and ingest URL are returned once.
#[utoipa::path(post, path = "/api/v1/services/{id}/integrations", tag = "services", params(("id" = i64, Path)), request_body = IntegrationBody,
    responses((status = 201, body = IssuedIntegration), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_integration(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<IntegrationBody>,
) -> AppResult<(StatusCode, Json<IssuedIntegration>)> {
    let input = IntegrationInput {
        kind: &body.kind,
        name: &body.name,
        heartbeat_seconds: body.heartbeat_seconds,
        rate_limit_per_minute: body.rate_limit_per_minute,
    };
    let issued = catalog::create_integration(&platform, &principal, id, input, &meta).await?;
    Ok((StatusCode::CREATED, Json(issued.into())))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntegrationPatch {
    #[schema(schema_with = keel_platform::api::openapi::fields::one_line_or_null::<100>)]
    name: Option<String>,
    /// False disables the key: senders get 403 (or 400 on `/v2/enqueue`).
    enabled: Option<bool>,
    /// null for the default limit.
    #[serde(default, deserialize_with = "double")]
    #[schema(minimum = 1, maximum = 1_000_000)]
    rate_limit_per_minute: Option<Option<i64>>,
    /// Heartbeat integrations only.
    #[schema(minimum = 30, maximum = 604_800)]
    heartbeat_seconds: Option<i64>,
}

/// Rename, enable/disable or re-limit an integration.
#[utoipa::path(patch, path = "/api/v1/integrations/{id}", tag = "services", params(("id" = i64, Path)), request_body = IntegrationPatch,
    responses((status = 200, body = Integration), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn update_integration(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<IntegrationPatch>,
) -> AppResult<Json<Integration>> {
    let update = IntegrationUpdate {
        name: body.name.as_deref(),
        enabled: body.enabled,
        rate_limit_per_minute: body.rate_limit_per_minute,
        heartbeat_seconds: body.heartbeat_seconds,
    };
    Ok(Json(
        catalog::update_integration(&platform, &principal, id, update, &meta).await?,
    ))
}

/// Remove an integration.
#[utoipa::path(delete, path = "/api/v1/integrations/{id}", tag = "services", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_integration(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    catalog::delete_integration(&platform, &principal, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace an integration's key; the old key stops working at once.
#[utoipa::path(post, path = "/api/v1/integrations/{id}/rotate", tag = "services", params(("id" = i64, Path)),
    responses((status = 200, body = IssuedIntegration), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn rotate_integration(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<IssuedIntegration>> {
    Ok(Json(
        catalog::rotate_key(&platform, &principal, id, &meta)
            .await?
            .into(),
    ))
}
