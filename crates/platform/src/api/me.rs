use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts;
use crate::error::AppResult;
use crate::http::extract::session_cookie;
use crate::http::problem::{ApiJson, ApiPath};
use crate::http::{ClientMeta, Principal, Problem};
use crate::state::Platform;
use crate::store::accounts::{ApiToken, Session, User};
use crate::store::teams::Team;

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(me, update_me, delete_me))
        .routes(routes!(change_password))
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(revoke_all_sessions))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
}

#[derive(Serialize, ToSchema)]
pub struct Me {
    user: User,
    teams: Vec<Team>,
    /// The session this request came with, if it used a cookie.
    session_id: Option<i64>,
}

/// The signed-in user and their teams.
#[utoipa::path(get, path = "/api/v1/me", tag = "me",
    responses((status = 200, body = Me), (status = 401, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn me(State(platform): State<Platform>, principal: Principal) -> AppResult<Json<Me>> {
    let teams =
        crate::store::teams::list_teams_of_user(platform.db.pool(), principal.user.id).await?;
    let session_id = principal.session_id();
    Ok(Json(Me {
        user: principal.user,
        teams,
        session_id,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    #[schema(schema_with = crate::api::openapi::fields::one_line::<100>)]
    name: String,
    /// IANA time-zone name (such as `Europe/Berlin`); empty to unset; absent to keep.
    #[schema(schema_with = crate::api::openapi::fields::time_zone_empty_or_null)]
    time_zone: Option<String>,
}

/// Change one's display name and time zone.
#[utoipa::path(patch, path = "/api/v1/me", tag = "me", request_body = UpdateMe,
    responses((status = 200, body = User), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn update_me(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiJson(body): ApiJson<UpdateMe>,
) -> AppResult<Json<User>> {
    Ok(Json(
        accounts::update_profile(
            &platform,
            &principal,
            &body.name,
            body.time_zone.as_deref(),
            &meta,
        )
        .await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteMe {
    /// The account's password, asked again.
    password: String,
}

/// Delete one's own account and everything that belongs to it, in every product. Sessions
/// and tokens end with it. The only active admin cannot leave (409).
#[utoipa::path(delete, path = "/api/v1/me", tag = "me", request_body = DeleteMe,
    responses((status = 204), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn delete_me(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiJson(body): ApiJson<DeleteMe>,
) -> AppResult<StatusCode> {
    accounts::delete_own_account(&platform, &principal, &body.password, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    current_password: String,
    #[schema(schema_with = crate::api::openapi::fields::new_password)]
    new_password: String,
}

/// Change one's password. Every other session is ended.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", request_body = ChangePassword,
    responses((status = 204), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn change_password(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiJson(body): ApiJson<ChangePassword>,
) -> AppResult<StatusCode> {
    accounts::change_password(
        &platform,
        &principal,
        &body.current_password,
        &body.new_password,
        &meta,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// One's live sessions, most recently used first.
#[utoipa::path(get, path = "/api/v1/me/sessions", tag = "me",
    responses((status = 200, body = Vec<Session>)), security(("token" = []), ("session" = [])))]
async fn list_sessions(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<Session>>> {
    Ok(Json(accounts::list_sessions(&platform, &principal).await?))
}

/// End one of one's sessions.
#[utoipa::path(delete, path = "/api/v1/me/sessions/{id}", tag = "me", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn revoke_session(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    accounts::revoke_session(&platform, &principal, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sign out everywhere: ends every session, this one included.
#[utoipa::path(post, path = "/api/v1/me/sessions/revoke-all", tag = "me",
    responses((status = 204)), security(("token" = []), ("session" = [])))]
async fn revoke_all_sessions(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
) -> AppResult<Response> {
    accounts::revoke_all_sessions(&platform, &principal, &meta).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session_cookie(&platform, None))],
    )
        .into_response())
}

/// One's personal API tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "me",
    responses((status = 200, body = Vec<ApiToken>)), security(("token" = []), ("session" = [])))]
async fn list_tokens(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<ApiToken>>> {
    Ok(Json(accounts::list_tokens(&platform, &principal).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    #[schema(schema_with = crate::api::openapi::fields::trimmed::<100>)]
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    token: ApiToken,
    /// The secret. Shown this once; store it now.
    secret: String,
}

/// Create a personal API token; use it as `Authorization: Bearer <secret>`.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "me", request_body = CreateToken,
    responses((status = 201, body = CreatedToken), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn create_token(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiJson(body): ApiJson<CreateToken>,
) -> AppResult<(StatusCode, Json<CreatedToken>)> {
    let (token, secret) = accounts::create_token(&platform, &principal, &body.name, &meta).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, secret })))
}

/// Revoke a token; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "me", params(("id" = i64, Path)),
    responses((status = 204), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn revoke_token(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    accounts::revoke_token(&platform, &principal, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
