use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::authz;
use crate::domain::{Timestamp, Validator};
use crate::error::{AppError, AppResult};
use crate::http::problem::ApiQuery;
use crate::http::{Principal, Problem};
use crate::state::Platform;
use crate::store::audit::{self, AuditEvent, AuditFilter};

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new().routes(routes!(list_audit_events))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only actions by this user id.
    actor_user_id: Option<i64>,
    /// An action (`user.created`) or a prefix ending in a dot (`user.`).
    action: Option<String>,
    target_type: Option<String>,
    target_id: Option<String>,
    /// RFC 3339; inclusive.
    #[param(format = DateTime)]
    since: Option<String>,
    /// RFC 3339; exclusive.
    #[param(format = DateTime)]
    until: Option<String>,
    /// Keyset pagination: pass the previous page's `next_before`.
    before: Option<i64>,
    /// Page size, 1–1000 (default 100). Ignored for CSV, which exports everything matching.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
    /// `json` (default) or `csv`.
    #[param(value_type = Option<AuditFormat>, inline)]
    format: Option<String>,
}

/// The audit log's export formats (the `format` parameter).
#[derive(ToSchema)]
#[allow(dead_code)] // documents the strings `list_audit_events` matches
#[schema(rename_all = "lowercase")]
enum AuditFormat {
    Json,
    Csv,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    events: Vec<AuditEvent>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    next_before: Option<i64>,
}

/// The audit log, newest first, filtered; `format=csv` exports it.
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "JSON page, or CSV with `format=csv`", content((AuditPage = "application/json"), (String = "text/csv"))), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn list_audit_events(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> AppResult<Response> {
    authz::require_admin(&principal)?;
    let mut v = Validator::new();
    let since = q
        .since
        .as_deref()
        .and_then(|s| v.check("since", Timestamp::parse_rfc3339(s)));
    let until = q
        .until
        .as_deref()
        .and_then(|s| v.check("until", Timestamp::parse_rfc3339(s)));
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            v.add("format", "must be `json` or `csv`");
            false
        }
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        v.add("limit", "must be between 1 and 1000");
    }
    v.finish().map_err(AppError::Validation)?;
    let mut filter = AuditFilter {
        actor_user_id: q.actor_user_id,
        action: q.action,
        target_type: q.target_type,
        target_id: q.target_id,
        since,
        until,
        before_id: q.before,
        limit,
    };
    if !csv {
        let events = audit::list(platform.db.pool(), &filter).await?;
        let next_before = (events.len() as i64 == limit)
            .then(|| events.last().map(|e| e.id))
            .flatten();
        return Ok(Json(AuditPage {
            events,
            next_before,
        })
        .into_response());
    }
    filter.limit = 5000;
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record([
            "id",
            "at",
            "actor_user_id",
            "actor",
            "action",
            "target_type",
            "target_id",
            "ip",
            "details",
        ])
        .map_err(|e| AppError::Internal(e.into()))?;
    loop {
        let events = audit::list(platform.db.pool(), &filter).await?;
        for e in &events {
            writer
                .write_record(
                    [
                        e.id.to_string(),
                        e.at.to_string(),
                        e.actor_user_id.map(|id| id.to_string()).unwrap_or_default(),
                        e.actor.clone(),
                        e.action.clone(),
                        e.target_type.clone(),
                        e.target_id.clone(),
                        e.ip.clone(),
                        e.details.to_string(),
                    ]
                    .iter()
                    .map(|cell| crate::spreadsheet::safe_cell(cell).into_owned()),
                )
                .map_err(|e| AppError::Internal(e.into()))?;
        }
        match events.last() {
            Some(last) if events.len() as i64 == filter.limit => filter.before_id = Some(last.id),
            _ => break,
        }
    }
    let body = writer
        .into_inner()
        .map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"keel-audit.csv\"",
            ),
        ],
        body,
    )
        .into_response())
}
