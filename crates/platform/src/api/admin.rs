use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::AppResult;
use crate::http::problem::{ApiPath, ApiQuery};
use crate::http::{ClientMeta, Principal, Problem};
use crate::queue_admin as admin;
use crate::state::Platform;
use crate::store::jobs::{JobRecord, QueueStats};

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(list_jobs))
        .routes(routes!(retry_job))
        .routes(routes!(delete_job))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// `queued`, `running` or `dead`; all when absent.
    #[param(value_type = Option<JobStatus>, inline)]
    status: Option<String>,
}

/// A job's state in the queue (the `status` filter).
#[derive(ToSchema)]
#[allow(dead_code)] // documents the strings `jobs::admin::overview` accepts
#[schema(rename_all = "lowercase")]
enum JobStatus {
    Queued,
    Running,
    Dead,
}

#[derive(Serialize, ToSchema)]
pub struct JobsOverview {
    stats: QueueStats,
    /// Up to 200 jobs, most recently changed first.
    jobs: Vec<JobRecord>,
}

/// Job queue health and its jobs, including dead letters (admins only).
#[utoipa::path(get, path = "/api/v1/admin/jobs", tag = "admin", params(JobsQuery),
    responses((status = 200, body = JobsOverview), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn list_jobs(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(q): ApiQuery<JobsQuery>,
) -> AppResult<Json<JobsOverview>> {
    let (stats, jobs) = admin::overview(&platform, &principal, q.status.as_deref()).await?;
    Ok(Json(JobsOverview { stats, jobs }))
}

/// Put a dead job back in the queue with fresh attempts (admins only).
#[utoipa::path(post, path = "/api/v1/admin/jobs/{id}/retry", tag = "admin", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, description = "No dead job with this id", body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn retry_job(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    admin::retry(&platform, &principal, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Discard a dead job (admins only).
#[utoipa::path(delete, path = "/api/v1/admin/jobs/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, description = "No dead job with this id", body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn delete_job(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    admin::discard(&platform, &principal, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
