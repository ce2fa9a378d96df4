//! The photo finder under `/api/v1/crm/contacts/{id}/photo-candidates`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use keel_platform::http::problem::ApiPath;
use keel_platform::http::{Principal, Problem};
use keel_platform::{AppResult, Platform};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::photo_finder::{self, PhotoCandidate};

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(list_candidates, find_candidates))
        .routes(routes!(get_candidate))
        .routes(routes!(use_candidate))
}

/// The pictures found last for the contact.
#[utoipa::path(get, path = "/api/v1/crm/contacts/{id}/photo-candidates", tag = "crm", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<PhotoCandidate>), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn list_candidates(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Vec<PhotoCandidate>>> {
    crate::contacts::get(&platform, &principal, id).await?;
    Ok(Json(
        photo_finder::candidates(&platform, &principal, id).await?,
    ))
}

/// Look for pictures of the contact now: their email addresses at the avatar services and
/// their website's image and icons. Only JPEG, PNG, GIF and WebP up to 512 KiB are kept.
#[utoipa::path(post, path = "/api/v1/crm/contacts/{id}/photo-candidates", tag = "crm", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<PhotoCandidate>), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn find_candidates(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Vec<PhotoCandidate>>> {
    Ok(Json(photo_finder::find(&platform, &principal, id).await?))
}

/// One candidate picture.
#[utoipa::path(get, path = "/api/v1/crm/contacts/{id}/photo-candidates/{candidate}", tag = "crm",
    params(("id" = i64, Path), ("candidate" = i64, Path)),
    responses((status = 200, content_type = "image/*", body = Vec<u8>), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_candidate(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath((id, candidate)): ApiPath<(i64, i64)>,
) -> AppResult<axum::response::Response> {
    let photo = photo_finder::candidate(&platform, &principal, id, candidate).await?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, photo.content_type),
            (axum::http::header::CACHE_CONTROL, "private, no-store"),
        ],
        photo.data,
    )
        .into_response())
}

/// Make a candidate the contact's photo; the other candidates are discarded.
#[utoipa::path(post, path = "/api/v1/crm/contacts/{id}/photo-candidates/{candidate}/use", tag = "crm",
    params(("id" = i64, Path), ("candidate" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn use_candidate(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath((id, candidate)): ApiPath<(i64, i64)>,
) -> AppResult<StatusCode> {
    photo_finder::choose(&platform, &principal, id, candidate).await?;
    Ok(StatusCode::NO_CONTENT)
}
