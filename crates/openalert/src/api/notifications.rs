//! The caller's contact methods and notification rules; teams' outgoing webhooks.

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

use crate::domain::Urgency;
use crate::notify;
use crate::store::notify::{ContactMethod, NotificationRule, Webhook};

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(list_methods, create_method))
        .routes(routes!(delete_method))
        .routes(routes!(send_code))
        .routes(routes!(verify))
        .routes(routes!(send_test))
        .routes(routes!(list_rules, create_rule))
        .routes(routes!(delete_rule))
        .routes(routes!(list_webhooks, create_webhook))
        .routes(routes!(delete_webhook))
}

#[utoipa::path(get, path = "/api/v1/me/contact-methods", tag = "notifications", responses((status = 200, body = Vec<ContactMethod>)), security(("token" = []), ("session" = [])))]
async fn list_methods(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<ContactMethod>>> {
    Ok(Json(notify::my_methods(&platform, &principal).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MethodBody {
    /// `email`, `sms`, `voice`, `webhook`, `slack`, `teams`, `mattermost` or `discord` (SMS and
    /// voice only where the server is configured for them).
    #[schema(schema_with = method_kind)]
    kind: String,
    #[serde(default)]
    #[schema(schema_with = keel_platform::api::openapi::fields::trimmed_optional::<100>)]
    label: String,
    /// Address, E.164 phone number or incoming-webhook URL.
    address: String,
}

fn method_kind() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use keel_platform::api::openapi::{fields, json_schema};
    fields::described(
        json_schema(fields::one_of(notify::KINDS)),
        "How to reach you. `sms` and `voice` only where the server has an SMS provider.",
    )
}

/// Add a contact method; a verification code is sent through it at once.
#[utoipa::path(post, path = "/api/v1/me/contact-methods", tag = "notifications", request_body = MethodBody,
    responses((status = 201, body = ContactMethod), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_method(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiJson(body): ApiJson<MethodBody>,
) -> AppResult<(StatusCode, Json<ContactMethod>)> {
    let method = notify::create_method(
        &platform,
        &principal,
        &body.kind,
        &body.label,
        &body.address,
        &meta,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(method)))
}

#[utoipa::path(delete, path = "/api/v1/me/contact-methods/{id}", tag = "notifications", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_method(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    notify::delete_method(&platform, &principal, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a new verification code (the old one stops working).
#[utoipa::path(post, path = "/api/v1/me/contact-methods/{id}/send-code", tag = "notifications", params(("id" = i64, Path)),
    responses((status = 202), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn send_code(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    notify::send_code(&platform, &principal, id).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyBody {
    code: String,
}

#[utoipa::path(post, path = "/api/v1/me/contact-methods/{id}/verify", tag = "notifications", params(("id" = i64, Path)), request_body = VerifyBody,
    responses((status = 200, body = ContactMethod), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn verify(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<VerifyBody>,
) -> AppResult<Json<ContactMethod>> {
    Ok(Json(
        notify::verify(&platform, &principal, id, &body.code).await?,
    ))
}

/// Send a test notification through a verified method.
#[utoipa::path(post, path = "/api/v1/me/contact-methods/{id}/test", tag = "notifications", params(("id" = i64, Path)),
    responses((status = 202), (status = 404, body = Problem), (status = 409, body = Problem)), security(("token" = []), ("session" = [])))]
async fn send_test(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    notify::send_test(&platform, &principal, id).await?;
    Ok(StatusCode::ACCEPTED)
}

/// The caller's rules. Without a rule for an urgency, the account email is used at once.
#[utoipa::path(get, path = "/api/v1/me/notification-rules", tag = "notifications", responses((status = 200, body = Vec<NotificationRule>)), security(("token" = []), ("session" = [])))]
async fn list_rules(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<NotificationRule>>> {
    Ok(Json(notify::my_rules(&platform, &principal).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleBody {
    /// One of your contact methods.
    contact_method_id: i64,
    /// `high` or `low`.
    #[schema(value_type = Urgency)]
    urgency: String,
    /// Minutes after the escalation level reaches you (0 = at once).
    #[schema(minimum = 0, maximum = 1440)]
    delay_minutes: i64,
}

#[utoipa::path(post, path = "/api/v1/me/notification-rules", tag = "notifications", request_body = RuleBody,
    responses((status = 201, body = NotificationRule), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_rule(
    State(platform): State<Platform>,
    principal: Principal,
    ApiJson(body): ApiJson<RuleBody>,
) -> AppResult<(StatusCode, Json<NotificationRule>)> {
    let rule = notify::create_rule(
        &platform,
        &principal,
        body.contact_method_id,
        &body.urgency,
        body.delay_minutes,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

#[utoipa::path(delete, path = "/api/v1/me/notification-rules/{id}", tag = "notifications", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_rule(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    notify::delete_rule(&platform, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Outgoing webhooks of the caller's teams (URL paths hidden).
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "notifications", responses((status = 200, body = Vec<Webhook>)), security(("token" = []), ("session" = [])))]
async fn list_webhooks(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<Webhook>>> {
    Ok(Json(notify::list_webhooks(&platform, &principal).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookBody {
    team_id: i64,
    /// Only this service's incidents (default: every service of the team).
    service_id: Option<i64>,
    url: String,
    /// Default: triggered, acknowledged, resolved, escalated, note.
    #[schema(schema_with = webhook_events)]
    events: Option<Vec<String>>,
}

fn webhook_events() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    keel_platform::api::openapi::json_schema(serde_json::json!({
        "type": ["array", "null"],
        "items": keel_platform::api::openapi::fields::one_of(notify::WEBHOOK_EVENTS),
        "minItems": 1,
        "description": format!("Default: {}.", notify::DEFAULT_WEBHOOK_EVENTS.join(", ")),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    webhook: Webhook,
    /// Signing secret, shown this once. Each delivery carries `X-Keel-Timestamp` and
    /// `X-Keel-Signature: v1=hex(HMAC-SHA256(secret, "{timestamp}.{body}"))`.
    secret: String,
}

/// Add an outgoing webhook (team managers and admins).
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "notifications", request_body = WebhookBody,
    responses((status = 201, body = CreatedWebhook), (status = 403, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_webhook(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiJson(body): ApiJson<WebhookBody>,
) -> AppResult<(StatusCode, Json<CreatedWebhook>)> {
    let (webhook, secret) = notify::create_webhook(
        &platform,
        &principal,
        body.team_id,
        body.service_id,
        &body.url,
        body.events.as_deref(),
        &meta,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedWebhook { webhook, secret }),
    ))
}

#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "notifications", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_webhook(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    notify::delete_webhook(&platform, &principal, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
