use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

use super::page::{
    Done, FormErrors, PageContext, WebError, WebUser, form_response, notice, render, render_invalid,
};
use crate::accounts::{self, InviteUser, MemberRef, UserUpdate};
use crate::authz;
use crate::domain::Validator;
use crate::error::AppError;
use crate::http::{ClientMeta, Principal};
use crate::state::Platform;
use crate::store::accounts::User;
use crate::store::audit::{self, AuditEvent, AuditFilter};
use crate::store::jobs::{JobRecord, QueueStats};
use crate::store::teams::{Team, TeamMember};

pub async fn index(WebUser(principal): WebUser) -> Result<Response, WebError> {
    authz::require_admin(&principal)?;
    Ok(Redirect::to("/admin/users").into_response())
}

#[derive(Deserialize, Default)]
pub struct UserForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

#[derive(Template)]
#[template(path = "admin/users.html")]
struct UsersPage {
    page: PageContext,
    tab: &'static str,
    users: Vec<User>,
    form: UserForm,
    errors: FormErrors,
    /// Why a change to a user was refused (e.g. disabling the only admin).
    refused: Option<String>,
}

async fn users_page(
    platform: &Platform,
    principal: &Principal,
    notice: Option<String>,
    form: UserForm,
    errors: FormErrors,
) -> Result<UsersPage, WebError> {
    Ok(UsersPage {
        page: PageContext::signed_in(principal, "admin").with_notice(notice),
        tab: "users",
        users: accounts::list_users(platform, principal).await?,
        form,
        errors,
        refused: None,
    })
}

pub async fn users(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    render(
        &users_page(
            &platform,
            &principal,
            notice(q.done.as_deref()),
            UserForm::default(),
            FormErrors::default(),
        )
        .await?,
    )
}

pub async fn create_user(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Form(form): Form<UserForm>,
) -> Result<Response, WebError> {
    let password = (!form.password.is_empty()).then_some(form.password.as_str());
    let role = if form.role.is_empty() {
        "member"
    } else {
        form.role.as_str()
    };
    let input = InviteUser {
        email: &form.email,
        name: &form.name,
        role,
        password,
    };
    let done = if password.is_some() {
        "/admin/users?done=user"
    } else {
        "/admin/users?done=user-invited"
    };
    let result = accounts::admin_create_user(&platform, &principal, input, &meta).await;
    form_response(
        result,
        |_| done.into(),
        |errors| users_page(&platform, &principal, None, form, errors),
    )
    .await
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: Option<String>,
}

pub async fn user_action(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<RoleForm>,
) -> Result<Response, WebError> {
    let update = match action.as_str() {
        "role" => UserUpdate {
            name: None,
            role: form.role.as_deref(),
            disabled: None,
        },
        "disable" => UserUpdate {
            name: None,
            role: None,
            disabled: Some(true),
        },
        "enable" => UserUpdate {
            name: None,
            role: None,
            disabled: Some(false),
        },
        _ => return Err(super::not_found_page()),
    };
    match accounts::admin_update_user(&platform, &principal, id, update, &meta).await {
        Ok(_) => Ok(Redirect::to("/admin/users?done=user").into_response()),
        Err(err @ (AppError::Conflict(_) | AppError::Validation(_))) => {
            let errors = FormErrors::from_app_error(err)?;
            let message = errors
                .get("form")
                .or_else(|| errors.get("role"))
                .unwrap_or("invalid change")
                .to_string();
            let mut view = users_page(
                &platform,
                &principal,
                None,
                UserForm::default(),
                FormErrors::default(),
            )
            .await?;
            view.refused = Some(message);
            render_invalid(&view)
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Deserialize, Default)]
pub struct TeamForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Template)]
#[template(path = "admin/teams.html")]
struct TeamsPage {
    page: PageContext,
    tab: &'static str,
    teams: Vec<Team>,
    form: TeamForm,
    errors: FormErrors,
}

pub async fn teams(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    authz::require_admin(&principal)?;
    render(&TeamsPage {
        page: PageContext::signed_in(&principal, "admin").with_notice(notice(q.done.as_deref())),
        tab: "teams",
        teams: accounts::list_teams(&platform, &principal).await?,
        form: TeamForm::default(),
        errors: FormErrors::default(),
    })
}

pub async fn create_team(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Form(form): Form<TeamForm>,
) -> Result<Response, WebError> {
    match accounts::create_team(&platform, &principal, &form.name, &form.description, &meta).await {
        Ok(team) => Ok(Redirect::to(&format!("/teams/{}?done=team", team.id)).into_response()),
        Err(err) => {
            let errors = FormErrors::from_app_error(err)?;
            render_invalid(&TeamsPage {
                page: PageContext::signed_in(&principal, "admin"),
                tab: "teams",
                teams: accounts::list_teams(&platform, &principal).await?,
                form,
                errors,
            })
        }
    }
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    page: PageContext,
    team: Team,
    members: Vec<TeamMember>,
    can_manage: bool,
    /// E-mail and name of each active user who is not a member yet, to pick from.
    candidates: Vec<(String, String)>,
    form_email: String,
    errors: FormErrors,
}

async fn team_page(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    notice: Option<String>,
    form_email: String,
    errors: FormErrors,
) -> Result<TeamPage, WebError> {
    let team = accounts::get_team(platform, principal, id).await?;
    let members = accounts::list_members(platform, principal, id).await?;
    let can_manage = authz::require_team_manage(platform, principal, id)
        .await
        .is_ok();
    let candidates = if can_manage {
        accounts::directory(platform)
            .await?
            .into_iter()
            .filter(|u| u.disabled_at.is_none() && !members.iter().any(|m| m.user_id == u.id))
            .map(|u| (u.email, u.name))
            .collect()
    } else {
        Vec::new()
    };
    Ok(TeamPage {
        page: PageContext::signed_in(principal, "admin").with_notice(notice),
        team,
        members,
        can_manage,
        candidates,
        form_email,
        errors,
    })
}

pub async fn team(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    render(
        &team_page(
            &platform,
            &principal,
            id,
            notice(q.done.as_deref()),
            String::new(),
            FormErrors::default(),
        )
        .await?,
    )
}

#[derive(Deserialize)]
pub struct MemberForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

pub async fn put_member(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
    Form(form): Form<MemberForm>,
) -> Result<Response, WebError> {
    match accounts::put_member(
        &platform,
        &principal,
        id,
        MemberRef::Email(&form.email),
        &form.role,
        &meta,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/teams/{id}?done=member")).into_response()),
        Err(AppError::Validation(errors)) => {
            // "user" problems belong to the e-mail box on this form.
            let errors = errors
                .into_iter()
                .map(|mut e| {
                    if e.field == "user" {
                        e.field = "email".into();
                    }
                    e
                })
                .collect();
            let errors = FormErrors::from_app_error(AppError::Validation(errors))?;
            render_invalid(&team_page(&platform, &principal, id, None, form.email, errors).await?)
        }
        Err(err) => Err(err.into()),
    }
}

pub async fn remove_member(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path((id, user_id)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    accounts::remove_member(&platform, &principal, id, user_id, &meta).await?;
    Ok(Redirect::to(&format!("/teams/{id}?done=member-removed")).into_response())
}

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor_user_id: String,
    before: Option<i64>,
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    page: PageContext,
    tab: &'static str,
    events: Vec<AuditEvent>,
    action: String,
    actor: String,
    export_query: String,
    next_before: Option<i64>,
    error: Option<String>,
}

pub async fn audit(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Query(q): Query<AuditQuery>,
) -> Result<Response, WebError> {
    authz::require_admin(&principal)?;
    let mut v = Validator::new();
    let actor_user_id = match q.actor_user_id.trim() {
        "" => None,
        text => v.check(
            "actor_user_id",
            text.parse::<i64>()
                .map_err(|_| "must be a number".to_string()),
        ),
    };
    let error = v
        .finish()
        .err()
        .map(|e| format!("Actor user id {}", e[0].message));
    let action = q.action.trim().to_string();
    let filter = AuditFilter {
        actor_user_id,
        action: (!action.is_empty()).then(|| action.clone()),
        before_id: q.before,
        limit: 100,
        ..AuditFilter::default()
    };
    let events = audit::list(platform.db.pool(), &filter)
        .await
        .map_err(AppError::from)?;
    let next_before = (events.len() == 100)
        .then(|| events.last().map(|e| e.id))
        .flatten();
    let mut export_query = String::new();
    for (key, value) in [
        ("action", action.as_str()),
        ("actor_user_id", q.actor_user_id.trim()),
    ] {
        if !value.is_empty() {
            export_query.push_str(&format!(
                "&{key}={}",
                url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()
            ));
        }
    }
    render(&AuditPage {
        page: PageContext::signed_in(&principal, "admin"),
        tab: "audit",
        events,
        action,
        actor: q.actor_user_id,
        export_query,
        next_before,
        error,
    })
}

#[derive(Template)]
#[template(path = "admin/jobs.html")]
struct JobsPage {
    page: PageContext,
    tab: &'static str,
    stats: QueueStats,
    jobs: Vec<JobRecord>,
}

pub async fn jobs(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let (stats, jobs) = crate::queue_admin::overview(&platform, &principal, None).await?;
    render(&JobsPage {
        page: PageContext::signed_in(&principal, "admin").with_notice(notice(q.done.as_deref())),
        tab: "jobs",
        stats,
        jobs,
    })
}

pub async fn job_action(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path((id, action)): Path<(i64, String)>,
) -> Result<Response, WebError> {
    match action.as_str() {
        "retry" => crate::queue_admin::retry(&platform, &principal, id, &meta).await?,
        "discard" => crate::queue_admin::discard(&platform, &principal, id, &meta).await?,
        _ => return Err(super::not_found_page()),
    }
    let done = if action == "retry" {
        "job-retried"
    } else {
        "job-discarded"
    };
    Ok(Redirect::to(&format!("/admin/jobs?done={done}")).into_response())
}
