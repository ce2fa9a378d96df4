use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::{self, InviteUser, UserUpdate};
use crate::domain::OrgRole;
use crate::error::AppResult;
use crate::http::problem::{ApiJson, ApiPath};
use crate::http::{ClientMeta, Principal, Problem};
use crate::state::Platform;
use crate::store::accounts::User;

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(list_users, create_user))
        .routes(routes!(update_user))
}

/// All users (admins only).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<User>), (status = 403, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn list_users(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<User>>> {
    Ok(Json(accounts::list_users(&platform, &principal).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    #[schema(schema_with = crate::api::openapi::fields::email)]
    email: String,
    #[schema(schema_with = crate::api::openapi::fields::one_line::<100>)]
    name: String,
    /// `admin` or `member` (default).
    #[serde(default = "member")]
    #[schema(value_type = OrgRole, default = "member")]
    role: String,
    /// Leave out to e-mail the user a link to choose their own.
    #[schema(schema_with = initial_password)]
    password: Option<String>,
}

fn initial_password() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use crate::api::openapi::fields;
    fields::described(
        fields::new_password_or_null(),
        "10 to 256 characters, not only whitespace. Leave out to e-mail the user a link to \
         choose their own.",
    )
}

fn member() -> String {
    "member".into()
}

/// Create a user (admins only). Without a password, the user is invited by e-mail.
#[utoipa::path(post, path = "/api/v1/users", tag = "users", request_body = CreateUser,
    responses((status = 201, body = User), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn create_user(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiJson(body): ApiJson<CreateUser>,
) -> AppResult<(StatusCode, Json<User>)> {
    let user = accounts::admin_create_user(
        &platform,
        &principal,
        InviteUser {
            email: &body.email,
            name: &body.name,
            role: &body.role,
            password: body.password.as_deref(),
        },
        &meta,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(user)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchUser {
    #[schema(schema_with = crate::api::openapi::fields::one_line_or_null::<100>)]
    name: Option<String>,
    #[schema(value_type = Option<OrgRole>)]
    role: Option<String>,
    /// Disabling ends the user's sessions and refuses their tokens.
    disabled: Option<bool>,
}

/// Change a user's name, role or disabled state (admins only).
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "users", params(("id" = i64, Path)), request_body = PatchUser,
    responses((status = 200, body = User), (status = 404, body = Problem), (status = 409, description = "Would leave no active admin", body = Problem), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn update_user(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PatchUser>,
) -> AppResult<Json<User>> {
    let user = accounts::admin_update_user(
        &platform,
        &principal,
        id,
        UserUpdate {
            name: body.name.as_deref(),
            role: body.role.as_deref(),
            disabled: body.disabled,
        },
        &meta,
    )
    .await?;
    Ok(Json(user))
}
