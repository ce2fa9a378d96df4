//! OpenAlert's pages: incidents (live) and an incident's detail with its timeline and alerts;
//! `services` has the service pages, `oncall` schedules, policies and notification settings.

mod analytics;
mod oncall;
mod services;
mod status_admin;
mod status_public;
mod status_subscribe;

pub use oncall::on_call_card;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use keel_platform::domain::Timestamp;
use keel_platform::http::{ClientMeta, Principal};
use keel_platform::web::{
    FormErrors, PageContext, WebError, WebUser, form_response, not_found_page, render,
};
use keel_platform::{AppError, Platform};
use serde::Deserialize;

use crate::catalog;
use crate::incidents::{self, IncidentDetail, ListQuery, Transition};
use crate::store::incidents::{Alert, Incident};
use crate::store::services::Service;

pub fn router() -> Router<Platform> {
    Router::new()
        .merge(oncall::router())
        .merge(analytics::router())
        .route("/openalert", get(incident_list))
        .route("/openalert/incidents", post(create_incident))
        .route("/openalert/incidents/bulk", post(bulk))
        .route("/openalert/incidents/{id}", get(incident_page))
        .route("/openalert/incidents/{id}/notes", post(add_note))
        .route("/openalert/incidents/{id}/{action}", post(incident_action))
        .merge(services::router())
        .merge(status_admin::router())
        .merge(status_public::router())
        .merge(status_subscribe::router())
}

const STATUS_OPTIONS: &[(&str, &str)] = &[
    ("open", "Open"),
    ("triggered", "Triggered"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
    ("all", "All"),
];

#[derive(Template)]
#[template(path = "openalert/incidents.html")]
struct IncidentsPage {
    page: PageContext,
    tab: &'static str,
    incidents: Vec<Incident>,
    services: Vec<Service>,
    status_options: &'static [(&'static str, &'static str)],
    filter_status: String,
    /// Selected service id, 0 for all.
    filter_service: i64,
    filter_urgency: String,
    filter_owner: String,
    filter_sort: String,
    /// A creation-time window from an analytics link (RFC 3339), or empty.
    since: String,
    until: String,
    /// The filters as a query string, for the next page's link.
    query: String,
    next_before: Option<i64>,
    error: Option<String>,
    errors: FormErrors,
    now: Timestamp,
    /// Assignee names by incident id.
    owners: std::collections::HashMap<i64, Vec<String>>,
}

impl IncidentsPage {
    fn age(&self, at: &Timestamp) -> String {
        at.age_at(self.now)
    }

    fn owners(&self, id: &i64) -> String {
        self.owners
            .get(id)
            .map(|n| n.join(", "))
            .unwrap_or_default()
    }
}

#[derive(Deserialize, Default)]
pub struct ListParams {
    #[serde(default)]
    status: String,
    #[serde(default)]
    service_id: String,
    #[serde(default)]
    urgency: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    sort: String,
    /// Created in `[since, until)` (RFC 3339), as analytics links ask.
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    team_id: Option<i64>,
    before: Option<i64>,
}

async fn incidents_page(
    platform: &Platform,
    principal: &Principal,
    p: ListParams,
    errors: FormErrors,
) -> Result<IncidentsPage, WebError> {
    let status = if p.status.is_empty() {
        "open".to_string()
    } else {
        p.status.clone()
    };
    let service_id = p.service_id.parse::<i64>().ok();
    let query = ListQuery {
        status: (status != "all").then_some(status.as_str()),
        service_id,
        urgency: (!p.urgency.is_empty()).then_some(p.urgency.as_str()),
        owner: (!p.owner.is_empty()).then_some(p.owner.as_str()),
        sort: (!p.sort.is_empty()).then_some(p.sort.as_str()),
        since: (!p.since.is_empty()).then_some(p.since.as_str()),
        until: (!p.until.is_empty()).then_some(p.until.as_str()),
        team_id: p.team_id,
        before: p.before,
        ..ListQuery::default()
    };
    let (incidents, next_before, error) = match incidents::list(platform, principal, query).await {
        Ok((list, next)) => (list, next, None),
        Err(AppError::Validation(errors)) => (
            Vec::new(),
            None,
            Some(
                errors
                    .into_iter()
                    .map(|e| format!("{}: {}", e.field, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        ),
        Err(other) => return Err(other.into()),
    };
    // The serializer is not Send: finish it before the next await.
    let query = {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        query.append_pair("status", &status);
        for (key, value) in [
            ("urgency", &p.urgency),
            ("owner", &p.owner),
            ("sort", &p.sort),
            ("since", &p.since),
            ("until", &p.until),
        ] {
            if !value.is_empty() {
                query.append_pair(key, value);
            }
        }
        if let Some(id) = service_id {
            query.append_pair("service_id", &id.to_string());
        }
        if let Some(id) = p.team_id {
            query.append_pair("team_id", &id.to_string());
        }
        query.finish()
    };
    let owners = incidents::assignees_of(platform, &incidents).await?;
    Ok(IncidentsPage {
        page: PageContext::signed_in(principal, "openalert"),
        tab: "incidents",
        services: catalog::list_services(platform, principal).await?,
        status_options: STATUS_OPTIONS,
        filter_status: status,
        filter_service: service_id.unwrap_or(0),
        filter_urgency: p.urgency,
        filter_owner: p.owner,
        filter_sort: p.sort,
        since: p.since,
        until: p.until,
        query,
        next_before,
        error,
        errors,
        now: platform.now(),
        owners,
        incidents,
    })
}

async fn incident_list(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Query(p): Query<ListParams>,
) -> Result<Response, WebError> {
    render(&incidents_page(&platform, &principal, p, FormErrors::default()).await?)
}

#[derive(Deserialize)]
pub struct NewIncidentForm {
    #[serde(default)]
    service_id: i64,
    #[serde(default)]
    title: String,
}

async fn create_incident(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Form(form): Form<NewIncidentForm>,
) -> Result<Response, WebError> {
    let result = incidents::create(
        &platform,
        &principal,
        form.service_id,
        &form.title,
        None,
        None,
        &meta,
    )
    .await;
    form_response(
        result,
        |incident| format!("/openalert/incidents/{}", incident.id),
        |errors| incidents_page(&platform, &principal, ListParams::default(), errors),
    )
    .await
}

async fn bulk(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    body: axum::body::Bytes,
) -> Result<Response, WebError> {
    // Repeated `ids` fields: parse the form by hand (serde_urlencoded has no repeated keys).
    let mut ids = Vec::new();
    let mut action = String::new();
    // A row's own button (`row=acknowledge:12`) acts on that incident alone.
    let mut row = None;
    for (key, value) in url::form_urlencoded::parse(&body) {
        match key.as_ref() {
            "ids" => ids.extend(value.parse::<i64>().ok()),
            "action" => action = value.into_owned(),
            "row" => {
                row = value
                    .split_once(':')
                    .map(|(a, id)| (a.to_string(), id.parse::<i64>()))
            }
            _ => {}
        }
    }
    if let Some((row_action, id)) = row {
        action = row_action;
        ids = id.into_iter().collect();
    }
    let to = match action.as_str() {
        "acknowledge" => Transition::Acknowledge,
        "resolve" => Transition::Resolve,
        _ => return Err(AppError::BadRequest("choose acknowledge or resolve".into()).into()),
    };
    if !ids.is_empty() {
        incidents::bulk(&platform, &principal, &ids, to, &meta).await?;
    }
    Ok(Redirect::to("/openalert").into_response())
}

struct AlertView {
    alert: Alert,
    links: Vec<(String, String)>,
    details: String,
}

#[derive(Template)]
#[template(path = "openalert/incident.html")]
struct IncidentPage {
    page: PageContext,
    d: IncidentDetail,
    /// Status page components of the incident's service, to post a public incident to.
    status_components: Vec<crate::status::ServiceComponent>,
    alerts: Vec<AlertView>,
    errors: FormErrors,
    /// The reader, to offer "Assign to me" only to someone who is not the assignee already.
    me: i64,
}

impl IncidentPage {
    fn mine(&self) -> bool {
        self.d.assignees.iter().any(|a| a.user_id == self.me)
    }
}

async fn incident_view(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    errors: FormErrors,
) -> Result<IncidentPage, WebError> {
    let mut d = incidents::detail(platform, principal, id).await?;
    let alerts = std::mem::take(&mut d.alerts)
        .into_iter()
        .map(|alert| {
            let links = crate::notify::web_links(&alert.links);
            let details = serde_json::to_string_pretty(&alert.details).unwrap_or_default();
            AlertView {
                alert,
                links,
                details,
            }
        })
        .collect();
    let status_components =
        crate::status::components_of_service(platform, principal, d.incident.service_id).await?;
    Ok(IncidentPage {
        status_components,
        page: PageContext::signed_in(principal, "openalert"),
        me: principal.user.id,
        d,
        alerts,
        errors,
    })
}

async fn incident_page(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    render(&incident_view(&platform, &principal, id, FormErrors::default()).await?)
}

async fn incident_action(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path((id, action)): Path<(i64, String)>,
) -> Result<Response, WebError> {
    let result = match action.as_str() {
        "acknowledge" => {
            incidents::transition(&platform, &principal, id, Transition::Acknowledge, &meta)
                .await
                .map(|_| ())
        }
        "resolve" => incidents::transition(&platform, &principal, id, Transition::Resolve, &meta)
            .await
            .map(|_| ()),
        "assign-me" => incidents::reassign(&platform, &principal, id, &[principal.user.id], &meta)
            .await
            .map(|_| ()),
        "escalate" => incidents::escalate(&platform, &principal, id, &meta)
            .await
            .map(|_| ()),
        _ => return Err(not_found_page()),
    };
    match result {
        Ok(()) | Err(AppError::Conflict(_)) => {
            Ok(Redirect::to(&format!("/openalert/incidents/{id}")).into_response())
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Deserialize)]
pub struct NoteForm {
    #[serde(default)]
    text: String,
}

async fn add_note(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
    Form(form): Form<NoteForm>,
) -> Result<Response, WebError> {
    form_response(
        incidents::add_note(&platform, &principal, id, &form.text, &meta).await,
        |_| format!("/openalert/incidents/{id}"),
        |errors| incident_view(&platform, &principal, id, errors),
    )
    .await
}
