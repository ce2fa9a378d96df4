use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::{self, NewAccount};
use crate::domain::Timestamp;
use crate::error::{AppError, AppResult};
use crate::http::extract::session_cookie;
use crate::http::problem::ApiJson;
use crate::http::{ClientMeta, Principal, Problem};
use crate::state::Platform;
use crate::store::accounts::User;

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(setup_status, setup))
        .routes(routes!(request_reset))
        .routes(routes!(confirm_reset))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    #[schema(schema_with = crate::api::openapi::fields::email)]
    email: String,
    #[schema(schema_with = crate::api::openapi::fields::non_empty)]
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct LoginResponse {
    user: User,
    session_id: i64,
    expires_at: Timestamp,
}

/// Sign in with e-mail and password; sets the session cookie.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; `Set-Cookie: keel_session=…`", body = LoginResponse),
        (status = 401, description = "Wrong e-mail or password", body = Problem),
        (status = 422, description = "Invalid fields", body = Problem),
        (status = 429, description = "Too many attempts; see `Retry-After`", body = Problem),
    ))]
async fn login(
    State(platform): State<Platform>,
    meta: ClientMeta,
    ApiJson(body): ApiJson<LoginRequest>,
) -> AppResult<Response> {
    let signed_in = accounts::login(&platform, &body.email, &body.password, &meta).await?;
    let cookie = session_cookie(&platform, Some(&signed_in.cookie_value));
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(LoginResponse {
            user: signed_in.user,
            session_id: signed_in.session.id,
            expires_at: signed_in.session.expires_at,
        }),
    )
        .into_response())
}

/// Sign out: ends this session and clears the cookie.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Signed out"), (status = 401, description = "No browser session (API tokens are revoked with `DELETE /api/v1/tokens/{id}`)", body = Problem)),
    security(("session" = [])))]
async fn logout(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
) -> AppResult<Response> {
    if principal.session_id().is_none() {
        // An API token is ended with `DELETE /api/v1/tokens/{id}`, not here.
        return Err(AppError::Unauthenticated);
    }
    accounts::logout(&platform, &principal, &meta).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session_cookie(&platform, None))],
    )
        .into_response())
}

#[derive(Serialize, ToSchema)]
pub struct SetupStatus {
    /// True until the first user exists.
    needs_setup: bool,
}

/// Whether first-run setup is still open.
#[utoipa::path(get, path = "/api/v1/setup", tag = "auth", responses((status = 200, body = SetupStatus)))]
async fn setup_status(State(platform): State<Platform>) -> AppResult<Json<SetupStatus>> {
    Ok(Json(SetupStatus {
        needs_setup: accounts::needs_setup(&platform).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    /// The token printed in the server log at start-up.
    setup_token: String,
    #[schema(schema_with = crate::api::openapi::fields::email)]
    email: String,
    #[schema(schema_with = crate::api::openapi::fields::one_line::<100>)]
    name: String,
    #[schema(schema_with = crate::api::openapi::fields::new_password)]
    password: String,
}

/// Create the first admin (only while no user exists).
#[utoipa::path(post, path = "/api/v1/setup", tag = "auth", request_body = SetupRequest,
    responses(
        (status = 201, description = "Admin created", body = User),
        (status = 409, description = "Setup already done", body = Problem),
        (status = 422, description = "Invalid fields or wrong setup token", body = Problem),
    ))]
async fn setup(
    State(platform): State<Platform>,
    meta: ClientMeta,
    ApiJson(body): ApiJson<SetupRequest>,
) -> AppResult<(StatusCode, Json<User>)> {
    let user = accounts::setup_first_admin(
        &platform,
        &body.setup_token,
        NewAccount {
            email: &body.email,
            name: &body.name,
            password: &body.password,
        },
        &meta,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    #[schema(schema_with = crate::api::openapi::fields::email)]
    email: String,
}

/// Mail a password-reset link. Always 202, whether or not the address has an account.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = ResetRequest,
    responses((status = 202, description = "If the account exists, a link is on its way"), (status = 422, body = Problem), (status = 429, body = Problem)))]
async fn request_reset(
    State(platform): State<Platform>,
    meta: ClientMeta,
    ApiJson(body): ApiJson<ResetRequest>,
) -> AppResult<StatusCode> {
    accounts::request_password_reset(&platform, &body.email, &meta).await?;
    Ok(StatusCode::ACCEPTED)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    /// The token from the mailed link.
    token: String,
    #[schema(schema_with = crate::api::openapi::fields::new_password)]
    password: String,
}

/// Choose a new password with a reset link's token. Ends every session of the account.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = ResetConfirm,
    responses((status = 204, description = "Password changed"), (status = 422, description = "Weak password or bad/used/expired token", body = Problem)))]
async fn confirm_reset(
    State(platform): State<Platform>,
    meta: ClientMeta,
    ApiJson(body): ApiJson<ResetConfirm>,
) -> AppResult<StatusCode> {
    accounts::confirm_password_reset(&platform, &body.token, &body.password, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
