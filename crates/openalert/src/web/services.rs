//! Service pages: the list, one service with its integrations (keys shown once) and
//! maintenance windows.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use keel_platform::authz;
use keel_platform::domain::Timestamp;
use keel_platform::http::{ClientMeta, Principal};
use keel_platform::store::teams::Team;
use keel_platform::web::{
    FormErrors, PageContext, WebError, WebUser, form_response, not_found_page, render,
    render_invalid,
};
use keel_platform::{AppError, Platform};
use serde::Deserialize;

use crate::catalog::{self, IntegrationInput, IntegrationUpdate, IssuedKey, ServiceInput};
use crate::store::services::{Integration, MaintenanceWindow, Service};

pub fn router() -> Router<Platform> {
    Router::new()
        .route(
            "/openalert/services",
            get(service_list).post(create_service),
        )
        .route(
            "/openalert/services/{id}",
            get(service_page).post(update_service),
        )
        .route("/openalert/services/{id}/delete", post(delete_service))
        .route(
            "/openalert/services/{id}/integrations",
            post(create_integration),
        )
        .route("/openalert/services/{id}/maintenance", post(create_window))
        .route(
            "/openalert/services/{id}/maintenance/{window_id}/delete",
            post(delete_window),
        )
        .route(
            "/openalert/integrations/{id}/{action}",
            post(integration_action),
        )
}

#[derive(Template)]
#[template(path = "openalert/services.html")]
struct ServicesPage {
    page: PageContext,
    tab: &'static str,
    services: Vec<(Service, String)>,
    teams: Vec<Team>,
    form_name: String,
    errors: FormErrors,
}

/// Teams where the caller may create services, schedules and policies.
pub(super) async fn managed_teams(
    platform: &Platform,
    principal: &Principal,
) -> keel_platform::AppResult<Vec<Team>> {
    let mut teams = Vec::new();
    for team in keel_platform::accounts::list_teams(platform, principal).await? {
        if authz::require_team_manage(platform, principal, team.id)
            .await
            .is_ok()
        {
            teams.push(team);
        }
    }
    Ok(teams)
}

async fn services_page(
    platform: &Platform,
    principal: &Principal,
    form_name: String,
    errors: FormErrors,
) -> Result<ServicesPage, WebError> {
    let teams = keel_platform::accounts::list_teams(platform, principal).await?;
    let services = catalog::list_services(platform, principal)
        .await?
        .into_iter()
        .map(|s| {
            let team = teams
                .iter()
                .find(|t| t.id == s.team_id)
                .map(|t| t.name.clone())
                .unwrap_or_default();
            (s, team)
        })
        .collect();
    Ok(ServicesPage {
        page: PageContext::signed_in(principal, "openalert"),
        tab: "services",
        services,
        teams: managed_teams(platform, principal).await?,
        form_name,
        errors,
    })
}

async fn service_list(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    render(&services_page(&platform, &principal, String::new(), FormErrors::default()).await?)
}

#[derive(Deserialize, Default)]
pub struct ServiceForm {
    #[serde(default)]
    team_id: Option<i64>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    urgency_rule: String,
    #[serde(default)]
    auto_resolve_minutes: String,
    #[serde(default)]
    ack_timeout_minutes: String,
    /// Policy id, or empty for none.
    #[serde(default)]
    escalation_policy_id: String,
}

async fn create_service(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Form(form): Form<ServiceForm>,
) -> Result<Response, WebError> {
    let input = ServiceInput {
        team_id: form.team_id,
        name: Some(&form.name),
        description: Some(&form.description),
        escalation_policy_id: None,
        urgency_rule: (!form.urgency_rule.is_empty()).then_some(form.urgency_rule.as_str()),
        auto_resolve_minutes: None,
        ack_timeout_minutes: None,
    };
    let result = catalog::create_service(&platform, &principal, input, &meta).await;
    form_response(
        result,
        |service| format!("/openalert/services/{}", service.id),
        |errors| services_page(&platform, &principal, form.name, errors),
    )
    .await
}

const URGENCY_OPTIONS: &[(&str, &str)] = &[
    ("high", "Always high"),
    ("severity", "From alert severity"),
    ("low", "Always low"),
];

#[derive(Template)]
#[template(path = "openalert/service.html")]
struct ServicePage {
    page: PageContext,
    service: Service,
    integrations: Vec<Integration>,
    windows: Vec<MaintenanceWindow>,
    can_manage: bool,
    issued: Option<IssuedKey>,
    urgency_options: &'static [(&'static str, &'static str)],
    auto_resolve: String,
    ack_timeout: String,
    /// The team's escalation policies (id, name).
    policies: Vec<(i64, String)>,
    /// Who the first level of the service's policy reaches right now.
    on_call_now: Vec<String>,
    errors: FormErrors,
}

async fn service_view(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    issued: Option<IssuedKey>,
    errors: FormErrors,
) -> Result<ServicePage, WebError> {
    let service = catalog::visible_service(platform, principal, id).await?;
    let can_manage = authz::require_team_manage(platform, principal, service.team_id)
        .await
        .is_ok();
    Ok(ServicePage {
        page: PageContext::signed_in(principal, "openalert"),
        integrations: catalog::list_integrations(platform, principal, id).await?,
        windows: catalog::list_windows(platform, principal, id).await?,
        can_manage,
        issued,
        urgency_options: URGENCY_OPTIONS,
        auto_resolve: service
            .auto_resolve_minutes
            .map(|m| m.to_string())
            .unwrap_or_default(),
        ack_timeout: service
            .ack_timeout_minutes
            .map(|m| m.to_string())
            .unwrap_or_default(),
        policies: crate::oncall::list_policies(platform, principal)
            .await?
            .into_iter()
            .filter(|p| p.team_id == service.team_id)
            .map(|p| (p.id, p.name))
            .collect(),
        on_call_now: super::oncall::first_responders(platform, service.escalation_policy_id)
            .await?,
        service,
        errors,
    })
}

async fn service_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    render(&service_view(&platform, &principal, id, None, FormErrors::default()).await?)
}

/// An empty box means "never"; anything else must be a whole number.
fn optional_minutes(field: &str, raw: &str) -> Result<Option<Option<i64>>, AppError> {
    match raw.trim() {
        "" => Ok(Some(None)),
        text => text
            .parse::<i64>()
            .map(|m| Some(Some(m)))
            .map_err(|_| AppError::field(field, "must be a whole number of minutes")),
    }
}

async fn update_service(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
    Form(form): Form<ServiceForm>,
) -> Result<Response, WebError> {
    let result = async {
        let input = ServiceInput {
            team_id: None,
            name: Some(&form.name),
            description: Some(&form.description),
            escalation_policy_id: Some(match form.escalation_policy_id.trim() {
                "" => None,
                id => Some(id.parse::<i64>().map_err(|_| {
                    AppError::field("escalation_policy_id", "choose a policy from the list")
                })?),
            }),
            urgency_rule: Some(&form.urgency_rule),
            auto_resolve_minutes: optional_minutes(
                "auto_resolve_minutes",
                &form.auto_resolve_minutes,
            )?,
            ack_timeout_minutes: optional_minutes(
                "ack_timeout_minutes",
                &form.ack_timeout_minutes,
            )?,
        };
        catalog::update_service(&platform, &principal, id, input, &meta).await
    }
    .await;
    form_response(
        result,
        |_| format!("/openalert/services/{id}"),
        |errors| service_view(&platform, &principal, id, None, errors),
    )
    .await
}

async fn delete_service(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    catalog::delete_service(&platform, &principal, id, &meta).await?;
    Ok(Redirect::to("/openalert/services").into_response())
}

#[derive(Deserialize)]
pub struct IntegrationForm {
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    integration_name: String,
    #[serde(default)]
    heartbeat_seconds: String,
}

async fn create_integration(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
    Form(form): Form<IntegrationForm>,
) -> Result<Response, WebError> {
    let heartbeat_seconds = form.heartbeat_seconds.trim().parse::<i64>().ok();
    let input = IntegrationInput {
        kind: &form.kind,
        name: &form.integration_name,
        heartbeat_seconds,
        rate_limit_per_minute: None,
    };
    match catalog::create_integration(&platform, &principal, id, input, &meta).await {
        // The key is shown in this response only.
        Ok(issued) => render(
            &service_view(
                &platform,
                &principal,
                id,
                Some(issued),
                FormErrors::default(),
            )
            .await?,
        ),
        Err(AppError::Validation(mut errors)) => {
            for e in &mut errors {
                if e.field == "name" {
                    e.field = "integration_name".into();
                }
            }
            let errors = FormErrors::from_app_error(AppError::Validation(errors))?;
            render_invalid(&service_view(&platform, &principal, id, None, errors).await?)
        }
        Err(err) => Err(err.into()),
    }
}

async fn integration_action(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path((id, action)): Path<(i64, String)>,
) -> Result<Response, WebError> {
    let integration = crate::store::services::integration_by_id(platform.db.pool(), id)
        .await
        .map_err(AppError::from)?
        .ok_or(AppError::NotFound("integration"))?;
    let service_id = integration.service_id;
    let toggle = |enabled| IntegrationUpdate {
        name: None,
        enabled: Some(enabled),
        rate_limit_per_minute: None,
        heartbeat_seconds: None,
    };
    match action.as_str() {
        "rotate" => {
            let issued = catalog::rotate_key(&platform, &principal, id, &meta).await?;
            return render(
                &service_view(
                    &platform,
                    &principal,
                    service_id,
                    Some(issued),
                    FormErrors::default(),
                )
                .await?,
            );
        }
        "disable" => drop(
            catalog::update_integration(&platform, &principal, id, toggle(false), &meta).await?,
        ),
        "enable" => {
            drop(catalog::update_integration(&platform, &principal, id, toggle(true), &meta).await?)
        }
        "delete" => catalog::delete_integration(&platform, &principal, id, &meta).await?,
        _ => return Err(not_found_page()),
    }
    Ok(Redirect::to(&format!("/openalert/services/{service_id}")).into_response())
}

#[derive(Deserialize)]
pub struct WindowForm {
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default)]
    window_description: String,
    /// The zone the two pickers' local times are in.
    #[serde(default)]
    window_time_zone: String,
}

impl WindowForm {
    /// The form's local times as RFC 3339 for the service, or the field that is wrong.
    fn times(&self) -> Result<(String, String), AppError> {
        let zone = crate::domain::schedule::time_zone(self.window_time_zone.trim())
            .map_err(|e| AppError::field("window_time_zone", e))?;
        let at = |field: &str, raw: &str| {
            if raw.trim().is_empty() {
                return Err(AppError::field(field, "is required"));
            }
            Timestamp::parse_local(raw, &zone)
                .map(|t| t.to_string())
                .map_err(|e| AppError::field(field, e))
        };
        Ok((
            at("starts_at", &self.starts_at)?,
            at("ends_at", &self.ends_at)?,
        ))
    }
}

async fn create_window(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
    Form(form): Form<WindowForm>,
) -> Result<Response, WebError> {
    let result = match form.times() {
        Ok((starts_at, ends_at)) => {
            catalog::create_window(
                &platform,
                &principal,
                id,
                &starts_at,
                &ends_at,
                &form.window_description,
                &meta,
            )
            .await
        }
        Err(err) => Err(err),
    };
    form_response(
        result,
        |_| format!("/openalert/services/{id}"),
        |errors| service_view(&platform, &principal, id, None, errors),
    )
    .await
}

async fn delete_window(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path((id, window_id)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    catalog::delete_window(&platform, &principal, id, window_id, &meta).await?;
    Ok(Redirect::to(&format!("/openalert/services/{id}")).into_response())
}
