//! The endpoints monitoring tools post to. They accept real clients' bodies unchanged and
//! answer in the formats those clients expect.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use keel_platform::http::Problem;
use keel_platform::ratelimit::Limit;
use keel_platform::{AppError, Platform};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::catalog::KEY_PURPOSE;
use crate::domain::alertmanager::{self, Flavor};
use crate::domain::{self, Action, IntegrationKind, MAX_INGEST_BYTES, NormalizedEvent, Severity};
use crate::ingest::Ingestor;
use crate::store::services::{self, IngestTarget};

pub fn router(ingestor: Ingestor) -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(enqueue))
        .routes(routes!(alertmanager_webhook))
        .routes(routes!(grafana_webhook))
        .routes(routes!(generic_event))
        .routes(routes!(heartbeat_ping, heartbeat_get))
        .layer(DefaultBodyLimit::max(MAX_INGEST_BYTES))
        .layer(Extension(ingestor))
}

/// Why an integration key was not accepted.
enum KeyProblem {
    Unknown,
    WrongKind(IntegrationKind),
    Disabled,
}

async fn find_target(
    platform: &Platform,
    key: &str,
    kind: IntegrationKind,
) -> Result<Arc<IngestTarget>, Result<KeyProblem, AppError>> {
    let hash = platform.secret.hash_token(KEY_PURPOSE, key.trim());
    let target = crate::ingest::targets::lookup(platform, &hash)
        .await
        .map_err(|e| Err(AppError::from(e)))?;
    let Some(target) = target else {
        return Err(Ok(KeyProblem::Unknown));
    };
    let actual = IntegrationKind::parse(&target.kind).unwrap_or(IntegrationKind::Generic);
    if actual != kind {
        return Err(Ok(KeyProblem::WrongKind(actual)));
    }
    if target.disabled_at.is_some() {
        return Err(Ok(KeyProblem::Disabled));
    }
    Ok(target)
}

async fn check_rate(
    platform: &Platform,
    target: &IngestTarget,
) -> Result<(), keel_platform::ratelimit::RetryAfter> {
    let per_minute = target
        .rate_limit_per_minute
        .map(|r| r.clamp(1, u32::MAX as i64) as u32)
        .unwrap_or(platform.config.ingest_rate_limit_per_minute);
    platform
        .limiter
        .hit(
            &format!("ingest:{}", target.integration_id),
            Limit::per_minute(per_minute),
        )
        .await
}

fn events_v2_answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn invalid_event(errors: Vec<String>) -> Response {
    events_v2_answer(
        StatusCode::BAD_REQUEST,
        json!({"status": "invalid event", "message": "Event object is invalid", "errors": errors}),
    )
}

fn too_large() -> Response {
    Problem::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the body is larger than {} KB", MAX_INGEST_BYTES / 1024),
    )
    .into_response()
}

fn throttled(retry: keel_platform::ratelimit::RetryAfter, body: Response) -> Response {
    metrics::counter!("keel_rate_limited_total", "scope" => "ingest").increment(1);
    let mut response = body;
    *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry.seconds()));
    response
}

fn body_or_413(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Box<Response>> {
    body.map_err(|e| {
        Box::new(if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            AppError::BadRequest(e.body_text()).into_response()
        })
    })
}

/// PagerDuty Events API v2. Answers exactly as PagerDuty does.
#[utoipa::path(post, path = "/v2/enqueue", tag = "ingestion",
    request_body(content = Object, description = "A PagerDuty Events API v2 event: routing_key, event_action, dedup_key, payload {summary, source, severity, …}, links, images, client, client_url"),
    responses(
        (status = 202, description = "`{\"status\":\"success\",\"message\":\"Event processed\",\"dedup_key\":\"…\"}`, plus `warnings` when something was accepted but changed (a summary over 1,024 characters is cut)", body = Object),
        (status = 400, description = "`{\"status\":\"invalid event\",\"message\":\"Event object is invalid\",\"errors\":[…]}`", body = Object),
        (status = 413, description = "Body over 512 KB", body = Problem),
        (status = 429, description = "Over the integration's rate limit; see `Retry-After`", body = Object),
    ))]
async fn enqueue(
    State(platform): State<Platform>,
    Extension(ingestor): Extension<Ingestor>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body_or_413(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let parsed = match domain::events_v2::parse(&body) {
        Ok(p) => p,
        Err(errors) => return invalid_event(errors),
    };
    let target = match find_target(&platform, &parsed.routing_key, IntegrationKind::EventsV2).await
    {
        Ok(t) => t,
        Err(Ok(KeyProblem::Unknown)) => {
            return invalid_event(vec!["'routing_key' does not match any integration".into()]);
        }
        Err(Ok(KeyProblem::WrongKind(kind))) => {
            return invalid_event(vec![format!(
                "'routing_key' belongs to a {} integration; send to its own URL",
                kind.as_str()
            )]);
        }
        Err(Ok(KeyProblem::Disabled)) => {
            return invalid_event(vec![
                "the integration for this 'routing_key' is disabled".into(),
            ]);
        }
        Err(Err(e)) => return e.into_response(),
    };
    if let Err(retry) = check_rate(&platform, &target).await {
        return throttled(
            retry,
            events_v2_answer(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"status": "throttle event", "message": "Requests for this service are arriving too quickly. Please retry later."}),
            ),
        );
    }
    let dedup_key = parsed.event.dedup_key.clone();
    let mut answer =
        json!({"status": "success", "message": "Event processed", "dedup_key": dedup_key});
    if !parsed.warnings.is_empty() {
        answer["warnings"] = json!(parsed.warnings);
    }
    let kept = domain::events_v2::without_routing_key(&body, &parsed.routing_key);
    match ingestor.submit(target, vec![parsed.event], &kept).await {
        Ok(()) => events_v2_answer(StatusCode::ACCEPTED, answer),
        Err(e) => e.into_response(),
    }
}

/// Common path for the keyed endpoints: check the key and rate, parse, submit.
async fn keyed(
    platform: &Platform,
    ingestor: &Ingestor,
    key: &str,
    kind: IntegrationKind,
    body: Result<Bytes, BytesRejection>,
    parse: impl FnOnce(&[u8]) -> Result<Vec<NormalizedEvent>, Vec<String>>,
) -> Response {
    let body = match body_or_413(body) {
        Ok(b) => b,
        Err(r) => return *r,
    };
    let target = match find_target(platform, key, kind).await {
        Ok(t) => t,
        Err(Ok(KeyProblem::Disabled)) => {
            return Problem::new(
                StatusCode::FORBIDDEN,
                "this integration is disabled".to_string(),
            )
            .into_response();
        }
        Err(Ok(KeyProblem::Unknown | KeyProblem::WrongKind(_))) => {
            return Problem::new(
                StatusCode::NOT_FOUND,
                format!("no {} integration has this key", kind.as_str()),
            )
            .into_response();
        }
        Err(Err(e)) => return e.into_response(),
    };
    if let Err(retry) = check_rate(platform, &target).await {
        return throttled(retry, AppError::RateLimited(retry).into_response());
    }
    let events = match parse(&body) {
        Ok(events) => events,
        Err(errors) => {
            let mut problem = Problem::new(
                StatusCode::BAD_REQUEST,
                format!("the body is not a valid {} notification", kind.as_str()),
            );
            problem.errors = errors
                .into_iter()
                .map(|m| keel_platform::domain::FieldError::new("body", m))
                .collect();
            return problem.into_response();
        }
    };
    let count = events.len();
    match ingestor.submit(target, events, &body).await {
        Ok(()) => (
            StatusCode::ACCEPTED,
            Json(json!({"status": "accepted", "alerts": count})),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

/// Prometheus Alertmanager `webhook_configs` (version 4). One incident per `groupKey`.
#[utoipa::path(post, path = "/integrations/alertmanager/{key}", tag = "ingestion", params(("key" = String, Path, description = "The integration key")),
    request_body(content = Object, description = "Alertmanager webhook notification"),
    responses((status = 202, body = Object), (status = 400, body = Problem), (status = 403, description = "Integration disabled", body = Problem), (status = 404, description = "Unknown key", body = Problem), (status = 413, body = Problem), (status = 429, body = Problem)))]
async fn alertmanager_webhook(
    State(platform): State<Platform>,
    Extension(ingestor): Extension<Ingestor>,
    Path(key): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    keyed(
        &platform,
        &ingestor,
        &key,
        IntegrationKind::Alertmanager,
        body,
        |b| alertmanager::parse(b, Flavor::Alertmanager),
    )
    .await
}

/// Grafana alerting webhook contact point.
#[utoipa::path(post, path = "/integrations/grafana/{key}", tag = "ingestion", params(("key" = String, Path)),
    request_body(content = Object, description = "Grafana webhook notification"),
    responses((status = 202, body = Object), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem), (status = 429, body = Problem)))]
async fn grafana_webhook(
    State(platform): State<Platform>,
    Extension(ingestor): Extension<Ingestor>,
    Path(key): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    keyed(
        &platform,
        &ingestor,
        &key,
        IntegrationKind::Grafana,
        body,
        |b| alertmanager::parse(b, Flavor::Grafana),
    )
    .await
}

/// Simple JSON for scripts: `{"summary", "severity", "dedup_key", "action", "source", "details"}`.
#[utoipa::path(post, path = "/integrations/generic/{key}", tag = "ingestion", params(("key" = String, Path)),
    request_body(content = Object, description = "`{\"summary\":\"disk full\",\"severity\":\"critical\",\"dedup_key\":\"db-1/disk\",\"action\":\"trigger\"}`"),
    responses((status = 202, body = Object), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem), (status = 429, body = Problem)))]
async fn generic_event(
    State(platform): State<Platform>,
    Extension(ingestor): Extension<Ingestor>,
    Path(key): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    keyed(
        &platform,
        &ingestor,
        &key,
        IntegrationKind::Generic,
        body,
        |b| domain::generic::parse(b).map(|e| vec![e]),
    )
    .await
}

/// The dedup key of a heartbeat integration's incident.
pub fn heartbeat_dedup_key(integration_id: i64) -> String {
    format!("heartbeat:{integration_id}")
}

/// The event a missed heartbeat raises, or (`resolve`) the one a ping sends.
pub fn heartbeat_event(integration_id: i64, name: &str, resolve: bool) -> NormalizedEvent {
    NormalizedEvent {
        action: if resolve {
            Action::Resolve
        } else {
            Action::Trigger
        },
        dedup_key: heartbeat_dedup_key(integration_id),
        alert_key: heartbeat_dedup_key(integration_id),
        repeat_is_duplicate: true,
        summary: format!("Heartbeat missed: {name}"),
        source: "heartbeat".into(),
        severity: Severity::Critical,
        component: None,
        group: None,
        class: Some("heartbeat".into()),
        details: json!({"integration_id": integration_id}),
        links: json!([]),
        images: json!([]),
    }
}

async fn heartbeat(platform: &Platform, key: &str) -> Response {
    let target = match find_target(platform, key, IntegrationKind::Heartbeat).await {
        Ok(t) => t,
        Err(Ok(KeyProblem::Disabled)) => {
            return Problem::new(
                StatusCode::FORBIDDEN,
                "this integration is disabled".to_string(),
            )
            .into_response();
        }
        Err(Ok(_)) => {
            return Problem::new(
                StatusCode::NOT_FOUND,
                "no heartbeat integration has this key".to_string(),
            )
            .into_response();
        }
        Err(Err(e)) => return e.into_response(),
    };
    if let Err(retry) = check_rate(platform, &target).await {
        return throttled(retry, AppError::RateLimited(retry).into_response());
    }
    let now = platform.now();
    if let Err(e) = services::record_heartbeat(platform.db.pool(), target.integration_id, now).await
    {
        return AppError::from(e).into_response();
    }
    // The next ping after a missed beat resolves the incident it opened.
    if let Err(e) = crate::ingest::apply_now(
        platform,
        &target,
        &[heartbeat_event(target.integration_id, "", true)],
    )
    .await
    {
        return AppError::from(e).into_response();
    }
    (
        StatusCode::OK,
        Json(json!({"status": "ok", "received_at": now})),
    )
        .into_response()
}

/// Dead man's switch ping. Silence longer than the integration's interval opens an incident.
#[utoipa::path(post, path = "/integrations/heartbeat/{key}", tag = "ingestion", params(("key" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem)))]
async fn heartbeat_ping(State(platform): State<Platform>, Path(key): Path<String>) -> Response {
    heartbeat(&platform, &key).await
}

/// The same ping, for tools that can only send GET.
#[utoipa::path(get, path = "/integrations/heartbeat/{key}", tag = "ingestion", params(("key" = String, Path)),
    responses((status = 200, body = Object), (status = 403, body = Problem), (status = 404, body = Problem), (status = 429, body = Problem)))]
async fn heartbeat_get(State(platform): State<Platform>, Path(key): Path<String>) -> Response {
    heartbeat(&platform, &key).await
}
