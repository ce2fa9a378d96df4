//! Incident analytics and on-call health as JSON and CSV.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use keel_platform::http::problem::{ApiJson, ApiPath, ApiQuery};
use keel_platform::http::{ClientMeta, Principal, Problem};
use keel_platform::{AppResult, Platform};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::analytics::{self, Report, ReportQuery};
use crate::weekly_summary::{self, SummarySetting};

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(report))
        .routes(routes!(incidents_csv))
        .routes(routes!(weekly_summary, set_weekly_summary))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnalyticsQuery {
    /// One team (default: every team the caller sees).
    team_id: Option<i64>,
    /// Length of the period in days, 1–366 (default 30).
    #[param(minimum = 1, maximum = 366)]
    days: Option<i64>,
    /// End of the period (RFC 3339; empty or absent: now).
    #[param(schema_with = keel_platform::api::openapi::fields::timestamp_or_empty)]
    until: Option<String>,
    /// IANA zone of the weekly trend's weeks (empty or absent: UTC).
    #[param(schema_with = keel_platform::api::openapi::fields::time_zone_or_empty)]
    time_zone: Option<String>,
}

impl AnalyticsQuery {
    fn as_query(&self) -> ReportQuery<'_> {
        ReportQuery {
            team_id: self.team_id,
            days: self.days,
            until: self.until.as_deref(),
            time_zone: self.time_zone.as_deref(),
        }
    }
}

/// Time to acknowledge and resolve (mean, median, p90) overall and per service, team, policy
/// and urgency, compared with the previous period; on-call load per person by time of day in
/// their own zone; the noisiest alert keys.
#[utoipa::path(get, path = "/api/v1/analytics", tag = "incidents", params(AnalyticsQuery),
    responses((status = 200, body = Report), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn report(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> AppResult<Json<Report>> {
    Ok(Json(
        analytics::report(&platform, &principal, &q.as_query()).await?,
    ))
}

/// The period's incidents with their computed durations, as CSV.
#[utoipa::path(get, path = "/api/v1/analytics/incidents.csv", tag = "incidents", params(AnalyticsQuery),
    responses((status = 200, content_type = "text/csv", body = String), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn incidents_csv(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(q): ApiQuery<AnalyticsQuery>,
) -> AppResult<impl IntoResponse> {
    let csv = analytics::export_csv(&platform, &principal, &q.as_query()).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"incidents.csv\"",
            ),
        ],
        csv,
    ))
}

/// Whether the team's members get the weekly summary mail (Monday from 09:00 UTC: the past
/// week's headline figures and noisiest alerts).
#[utoipa::path(get, path = "/api/v1/analytics/weekly-summary/{team_id}", tag = "incidents", params(("team_id" = i64, Path)),
    responses((status = 200, body = SummarySetting), (status = 404, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn weekly_summary(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(team_id): ApiPath<i64>,
) -> AppResult<Json<SummarySetting>> {
    Ok(Json(
        weekly_summary::setting(&platform, &principal, team_id).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SummaryBody {
    enabled: bool,
}

/// Turns the team's weekly summary mail on or off (the team's managers and admins).
#[utoipa::path(put, path = "/api/v1/analytics/weekly-summary/{team_id}", tag = "incidents", params(("team_id" = i64, Path)),
    request_body = SummaryBody,
    responses((status = 200, body = SummarySetting), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn set_weekly_summary(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(team_id): ApiPath<i64>,
    ApiJson(body): ApiJson<SummaryBody>,
) -> AppResult<Json<SummarySetting>> {
    Ok(Json(
        weekly_summary::set_enabled(&platform, &principal, &meta, team_id, body.enabled).await?,
    ))
}
