use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::accounts::{self, MemberRef};
use crate::domain::TeamRole;
use crate::error::{AppError, AppResult};
use crate::http::problem::{ApiJson, ApiPath};
use crate::http::{ClientMeta, Principal, Problem};
use crate::state::Platform;
use crate::store::teams::{Team, TeamMember};

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(list_teams, create_team))
        .routes(routes!(get_team, update_team, delete_team))
        .routes(routes!(list_members, add_member))
        .routes(routes!(set_member, remove_member))
}

/// Teams the caller belongs to (admins: all teams).
#[utoipa::path(get, path = "/api/v1/teams", tag = "teams",
    responses((status = 200, body = Vec<Team>)), security(("token" = []), ("session" = [])))]
async fn list_teams(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<Team>>> {
    Ok(Json(accounts::list_teams(&platform, &principal).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTeam {
    #[schema(schema_with = crate::api::openapi::fields::one_line::<80>)]
    name: String,
    #[serde(default)]
    #[schema(schema_with = crate::api::openapi::fields::at_most::<2000>)]
    description: String,
}

/// Create a team (admins only).
#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = CreateTeam,
    responses((status = 201, body = Team), (status = 403, body = Problem), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn create_team(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiJson(body): ApiJson<CreateTeam>,
) -> AppResult<(StatusCode, Json<Team>)> {
    let team =
        accounts::create_team(&platform, &principal, &body.name, &body.description, &meta).await?;
    Ok((StatusCode::CREATED, Json(team)))
}

/// One team. Another team's id answers 404.
#[utoipa::path(get, path = "/api/v1/teams/{id}", tag = "teams", params(("id" = i64, Path)),
    responses((status = 200, body = Team), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_team(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Team>> {
    Ok(Json(accounts::get_team(&platform, &principal, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchTeam {
    #[schema(schema_with = crate::api::openapi::fields::one_line_or_null::<80>)]
    name: Option<String>,
    #[schema(schema_with = crate::api::openapi::fields::at_most_or_null::<2000>)]
    description: Option<String>,
}

/// Rename or describe a team (its managers and admins).
#[utoipa::path(patch, path = "/api/v1/teams/{id}", tag = "teams", params(("id" = i64, Path)), request_body = PatchTeam,
    responses((status = 200, body = Team), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn update_team(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PatchTeam>,
) -> AppResult<Json<Team>> {
    Ok(Json(
        accounts::update_team(
            &platform,
            &principal,
            id,
            body.name.as_deref(),
            body.description.as_deref(),
            &meta,
        )
        .await?,
    ))
}

/// Delete a team (admins only).
#[utoipa::path(delete, path = "/api/v1/teams/{id}", tag = "teams", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn delete_team(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    accounts::delete_team(&platform, &principal, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The team's members.
#[utoipa::path(get, path = "/api/v1/teams/{id}/members", tag = "teams", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<TeamMember>), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn list_members(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Vec<TeamMember>>> {
    Ok(Json(
        accounts::list_members(&platform, &principal, id).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// The user's id, or give `email` instead.
    user_id: Option<i64>,
    email: Option<String>,
    /// `manager` or `member` (default).
    #[serde(default = "member")]
    role: String,
}

impl utoipa::PartialSchema for AddMember {
    /// Exactly one of `user_id` and `email` (the other absent or null).
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let email = crate::api::openapi::fields::email_or_null();
        crate::api::openapi::json_schema(serde_json::json!({"allOf": [{
            "type": "object",
            "description": "The user, by `user_id` or by `email` (exactly one), and their role.",
            "properties": {
                "user_id": {"type": ["integer", "null"], "format": "int64"},
                "email": email,
                "role": {
                    "type": "string",
                    "enum": [TeamRole::Manager.as_str(), TeamRole::Member.as_str()],
                    "default": TeamRole::Member.as_str(),
                },
            },
            "additionalProperties": false,
        }, {
            "oneOf": [
                {"type": "object", "required": ["user_id"], "properties": {"user_id": {"type": "integer"}, "email": {"type": "null"}}},
                {"type": "object", "required": ["email"], "properties": {"email": {"type": "string"}, "user_id": {"type": "null"}}},
            ],
        }]}))
    }
}

impl ToSchema for AddMember {}

fn member() -> String {
    "member".into()
}

/// Add a member, or change their role (managers and admins).
#[utoipa::path(post, path = "/api/v1/teams/{id}/members", tag = "teams", params(("id" = i64, Path)), request_body = AddMember,
    responses((status = 201, body = TeamMember), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn add_member(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AddMember>,
) -> AppResult<(StatusCode, Json<TeamMember>)> {
    let user = match (body.user_id, body.email.as_deref()) {
        (Some(user_id), None) => MemberRef::Id(user_id),
        (None, Some(email)) => MemberRef::Email(email),
        _ => {
            return Err(AppError::field(
                "user_id",
                "give exactly one of `user_id` or `email`",
            ));
        }
    };
    let member = accounts::put_member(&platform, &principal, id, user, &body.role, &meta).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRole {
    #[schema(value_type = TeamRole)]
    role: String,
}

/// Change a member's role.
#[utoipa::path(put, path = "/api/v1/teams/{id}/members/{user_id}", tag = "teams", params(("id" = i64, Path), ("user_id" = i64, Path)), request_body = SetRole,
    responses((status = 200, body = TeamMember), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn set_member(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath((id, user_id)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<SetRole>,
) -> AppResult<Json<TeamMember>> {
    accounts::get_team(&platform, &principal, id).await?;
    Ok(Json(
        accounts::put_member(
            &platform,
            &principal,
            id,
            MemberRef::Id(user_id),
            &body.role,
            &meta,
        )
        .await?,
    ))
}

/// Remove a member from the team.
#[utoipa::path(delete, path = "/api/v1/teams/{id}/members/{user_id}", tag = "teams", params(("id" = i64, Path), ("user_id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("token" = []), ("session" = [])))]
async fn remove_member(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath((id, user_id)): ApiPath<(i64, i64)>,
) -> AppResult<StatusCode> {
    accounts::remove_member(&platform, &principal, id, user_id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
