//! Duplicate suggestions and merging, under `/api/v1/crm/`.

use axum::Json;
use axum::extract::State;
use keel_platform::http::problem::{ApiJson, ApiPath, ApiQuery};
use keel_platform::http::{Principal, Problem};
use keel_platform::{AppResult, Platform};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::contacts::Contact;
use crate::merge::{self, DuplicateSuggestion};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DuplicateQuery {
    /// How many suggestions, 1-200 (default 50).
    limit: Option<i64>,
}

/// Pairs of your contacts (archived ones included) that look like the same person: same
/// email, same phone number (digits compared, formatting ignored) or same name (case
/// ignored). Each says why.
#[utoipa::path(get, path = "/api/v1/crm/duplicates", tag = "crm", params(DuplicateQuery),
    responses((status = 200, body = Vec<DuplicateSuggestion>), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
pub(super) async fn list_duplicates(
    State(platform): State<Platform>,
    principal: Principal,
    ApiQuery(query): ApiQuery<DuplicateQuery>,
) -> AppResult<Json<Vec<DuplicateSuggestion>>> {
    Ok(Json(
        merge::suggestions(&platform, &principal, query.limit.unwrap_or(50)).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeInput {
    /// The contact to merge into this one; it is deleted afterwards.
    pub duplicate_id: i64,
}

/// Merge another contact into this one, in one transaction. This contact keeps its own
/// non-empty fields and stage and takes the other's where it has none; notes are joined;
/// the shorter keep-in-touch cadence wins; emails, phones and tags are united; every
/// interaction, task and calendar event of the other moves here. The other contact is
/// deleted. Returns the merged contact.
#[utoipa::path(post, path = "/api/v1/crm/contacts/{id}/merge", tag = "crm", params(("id" = i64, Path, description = "The contact kept")),
    request_body = MergeInput,
    responses((status = 200, body = Contact), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
pub(super) async fn merge_contact(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MergeInput>,
) -> AppResult<Json<Contact>> {
    Ok(Json(
        merge::merge(&platform, &principal, id, body.duplicate_id).await?,
    ))
}
