//! Incident analytics and on-call health as JSON and CSV.

use axum::Json;
use axum::extract::State;
use axum::response::IntoResponse;
use keel_platform::http::problem::ApiQuery;
use keel_platform::http::{Principal, Problem};
use keel_platform::{AppResult, Platform};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::analytics::{self, Report, ReportQuery};

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(report))
        .routes(routes!(incidents_csv))
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
