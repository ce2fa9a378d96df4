//! Managing status pages in the browser: the list, and one page's settings, components,
//! incidents and maintenances. The same services as the JSON API; works without JavaScript.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use keel_platform::http::{ClientMeta, Principal};
use keel_platform::store::teams::Team;
use keel_platform::web::{FormErrors, PageContext, WebError, WebUser, form_response, render};
use keel_platform::{AppError, AppResult, Platform};
use serde::Deserialize;

use super::services::managed_teams;
use crate::status::events::{self, Event, UpdateInput};
use crate::status::model::{ComponentStatus, IncidentStatus, MaintenanceStatus};
use crate::status::{self, ComponentInput, PageInput, subscribers};
use crate::store::status::{Component, Group, StatusPage};
use crate::store::status_subscribers::Subscriber;

pub fn router() -> Router<Platform> {
    Router::new()
        .route("/openalert/status-pages", get(list).post(create))
        .route("/openalert/status-pages/{id}", get(show).post(save))
        .route("/openalert/status-pages/{id}/delete", post(remove))
        .route("/openalert/status-pages/{id}/groups", post(add_group))
        .route(
            "/openalert/status-pages/{id}/components",
            post(add_component),
        )
        .route(
            "/openalert/status-pages/{id}/components/{component}",
            post(change_component),
        )
        .route(
            "/openalert/status-pages/{id}/incidents",
            post(open_incident),
        )
        .route(
            "/openalert/status-pages/{id}/maintenances",
            post(schedule_maintenance),
        )
        .route(
            "/openalert/status-pages/{id}/events/{event}/updates",
            post(add_update),
        )
        .route(
            "/openalert/status-pages/{id}/events/{event}/postmortem",
            post(save_postmortem),
        )
        .route(
            "/openalert/status-pages/{id}/subscribers/{subscriber}/delete",
            post(remove_subscriber),
        )
}

#[derive(Template)]
#[template(path = "openalert/status/admin_list.html")]
struct ListPage {
    page: PageContext,
    tab: &'static str,
    pages: Vec<StatusPage>,
    teams: Vec<Team>,
    errors: FormErrors,
}

async fn list_view(
    platform: &Platform,
    principal: &Principal,
    errors: FormErrors,
) -> Result<ListPage, WebError> {
    Ok(ListPage {
        page: PageContext::signed_in(principal, "openalert"),
        tab: "status",
        pages: status::list_pages(platform, principal).await?,
        teams: managed_teams(platform, principal).await?,
        errors,
    })
}

async fn list(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
) -> Result<Response, WebError> {
    render(&list_view(&platform, &principal, FormErrors::default()).await?)
}

#[derive(Deserialize)]
struct PageForm {
    team_id: Option<i64>,
    name: String,
    slug: String,
    #[serde(default)]
    time_zone: Option<String>,
    #[serde(default)]
    custom_host: Option<String>,
    #[serde(default)]
    logo_url: Option<String>,
    #[serde(default)]
    private: Option<String>,
    #[serde(default)]
    notify_component_changes: Option<String>,
}

impl PageForm {
    fn input(self) -> PageInput {
        PageInput {
            team_id: self.team_id,
            name: Some(self.name),
            slug: Some(self.slug),
            custom_host: self.custom_host,
            time_zone: self.time_zone,
            logo_url: self.logo_url,
            private: Some(self.private.is_some()),
            notify_component_changes: Some(self.notify_component_changes.is_some()),
        }
    }
}

async fn create(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Form(form): Form<PageForm>,
) -> Result<Response, WebError> {
    let result = status::create_page(&platform, &principal, form.input(), &meta).await;
    form_response(
        result,
        |p| format!("/openalert/status-pages/{}", p.id),
        |errors| list_view(&platform, &principal, errors),
    )
    .await
}

#[derive(Template)]
#[template(path = "openalert/status/admin_page.html")]
struct ShowPage {
    page: PageContext,
    tab: &'static str,
    status_page: StatusPage,
    public_url: String,
    can_manage: bool,
    groups: Vec<Group>,
    components: Vec<Component>,
    events: Vec<Event>,
    subscribers: Vec<Subscriber>,
    services: Vec<crate::store::services::Service>,
    draft: Draft,
    component_statuses: &'static [ComponentStatus],
    incident_statuses: &'static [IncidentStatus],
    maintenance_statuses: &'static [MaintenanceStatus],
    errors: FormErrors,
}

impl ShowPage {
    fn local(&self, t: &keel_platform::domain::Timestamp) -> String {
        let tz = crate::domain::schedule::time_zone(&self.status_page.time_zone)
            .unwrap_or(jiff::tz::TimeZone::UTC);
        t.to_jiff()
            .to_zoned_datetime(tz)
            .strftime("%Y-%m-%d %H:%M %Z")
            .to_string()
    }

    fn component_name(&self, id: &i64) -> &str {
        self.components
            .iter()
            .find(|c| c.id == *id)
            .map_or("", |c| c.name.as_str())
    }

    fn impact_selected(&self, impact: &str) -> bool {
        if self.draft.impact.is_empty() {
            impact == "minor"
        } else {
            self.draft.impact == impact
        }
    }

    fn drafted(&self, component: &i64) -> bool {
        self.draft.components.contains(component)
    }

    fn service_name(&self, id: &Option<i64>) -> &str {
        self.services
            .iter()
            .find(|s| Some(s.id) == *id)
            .map_or("", |s| s.name.as_str())
    }

    fn confirmed(&self) -> usize {
        self.subscribers
            .iter()
            .filter(|s| s.confirmed_at.is_some())
            .count()
    }

    fn group_name(&self, c: &Component) -> &str {
        self.groups
            .iter()
            .find(|g| Some(g.id) == c.group_id)
            .map_or("", |g| g.name.as_str())
    }

    fn statuses_of(&self, e: &Event) -> Vec<&'static str> {
        if e.is_maintenance() {
            self.maintenance_statuses
                .iter()
                .map(|s| s.as_str())
                .collect()
        } else {
            self.incident_statuses.iter().map(|s| s.as_str()).collect()
        }
    }
}

async fn show_view(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    errors: FormErrors,
) -> Result<ShowPage, WebError> {
    let status_page = status::visible_page(platform, principal, id).await?;
    let can_manage =
        keel_platform::authz::require_team_manage(platform, principal, status_page.team_id)
            .await
            .is_ok();
    let since = platform.now().as_millis() - i64::from(status::public::DAYS) * 86_400_000;
    Ok(ShowPage {
        page: PageContext::signed_in(principal, "openalert"),
        tab: "status",
        public_url: status::public::page_url(platform, &status_page),
        can_manage,
        groups: status::list_groups(platform, principal, id).await?,
        components: status::list_components(platform, principal, id).await?,
        events: events::page_events(platform, id, since).await?,
        subscribers: if can_manage {
            subscribers::list(platform, principal, id).await?
        } else {
            Vec::new()
        },
        services: crate::catalog::list_services(platform, principal)
            .await?
            .into_iter()
            .filter(|s| s.team_id == status_page.team_id)
            .collect(),
        draft: Draft::default(),
        status_page,
        component_statuses: ComponentStatus::ALL,
        incident_statuses: IncidentStatus::ALL,
        maintenance_statuses: MaintenanceStatus::ALL,
        errors,
    })
}

/// A drafted public incident, from an internal one: the components ticked and the impact.
#[derive(Default)]
struct Draft {
    components: Vec<i64>,
    impact: String,
}

impl Draft {
    fn from_query(query: Option<&str>) -> Self {
        let mut draft = Self::default();
        for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            match key.as_ref() {
                "component" => draft.components.extend(value.parse::<i64>().ok()),
                "impact" if crate::status::model::Impact::parse(&value).is_ok() => {
                    draft.impact = value.into_owned();
                }
                _ => {}
            }
        }
        draft
    }

    fn is_empty(&self) -> bool {
        self.components.is_empty()
    }
}

async fn show(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    Path(id): Path<i64>,
    RawQuery(query): RawQuery,
) -> Result<Response, WebError> {
    let mut view = show_view(&platform, &principal, id, FormErrors::default()).await?;
    view.draft = Draft::from_query(query.as_deref());
    render(&view)
}

/// After a change on the page: back to it, or the page again with the errors.
async fn back<T>(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    result: AppResult<T>,
) -> Result<Response, WebError> {
    form_response(
        result,
        |_| format!("/openalert/status-pages/{id}"),
        |errors| show_view(platform, principal, id, errors),
    )
    .await
}

async fn save(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
    Form(form): Form<PageForm>,
) -> Result<Response, WebError> {
    let result = status::update_page(&platform, &principal, id, form.input(), &meta).await;
    back(&platform, &principal, id, result).await
}

async fn remove(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
) -> Result<Response, WebError> {
    status::delete_page(&platform, &principal, id, &meta).await?;
    Ok(Redirect::to("/openalert/status-pages").into_response())
}

#[derive(Deserialize)]
struct GroupForm {
    group_name: String,
}

async fn add_group(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
    Form(form): Form<GroupForm>,
) -> Result<Response, WebError> {
    let result = status::create_group(&platform, &principal, id, &form.group_name, None, &meta)
        .await
        .map_err(|e| rename(e, "name", "group_name"));
    back(&platform, &principal, id, result).await
}

/// Gives a field error the name of the form's field.
fn rename(err: AppError, from: &str, to: &str) -> AppError {
    match err {
        AppError::Validation(mut list) => {
            for e in &mut list {
                if e.field == from {
                    e.field = to.into();
                }
            }
            AppError::Validation(list)
        }
        other => other,
    }
}

/// A number from a form's select, where empty means none.
fn optional_id(raw: &str) -> Option<i64> {
    raw.trim().parse().ok()
}

#[derive(Deserialize)]
struct ComponentForm {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    group_id: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    service_id: Option<String>,
    #[serde(default)]
    auto_status: Option<String>,
    #[serde(default)]
    delete: Option<String>,
}

async fn add_component(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
    Form(form): Form<ComponentForm>,
) -> Result<Response, WebError> {
    let input = ComponentInput {
        name: form.name,
        description: form.description,
        group_id: form.group_id.as_deref().map(optional_id),
        service_id: form.service_id.as_deref().map(optional_id),
        auto_status: form.auto_status.map(Some),
        ..ComponentInput::default()
    };
    let result = status::create_component(&platform, &principal, id, input, &meta).await;
    back(&platform, &principal, id, result).await
}

async fn change_component(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path((id, component)): Path<(i64, i64)>,
    Form(form): Form<ComponentForm>,
) -> Result<Response, WebError> {
    if form.delete.is_some() {
        let result = status::delete_component(&platform, &principal, id, component, &meta).await;
        return back(&platform, &principal, id, result).await;
    }
    let input = ComponentInput {
        status: form.status,
        ..ComponentInput::default()
    };
    let result = status::update_component(&platform, &principal, id, component, input, &meta).await;
    back(&platform, &principal, id, result).await
}

/// An event form: the components ticked (`component` repeated) and, for incidents, the status
/// each takes (`status_{id}`).
#[derive(Deserialize)]
struct EventForm {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    impact: Option<String>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    scheduled_for: Option<String>,
    #[serde(default)]
    scheduled_until: Option<String>,
    #[serde(default)]
    notify: Option<String>,
    #[serde(default)]
    component_status: Option<String>,
}

/// Reads the repeated `component` fields of a form body (the form extractor keeps one).
fn ticked(raw: &str) -> Vec<i64> {
    url::form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| k == "component")
        .filter_map(|(_, v)| v.parse().ok())
        .collect()
}

fn event_form(raw: &str) -> Result<(EventForm, Vec<i64>), WebError> {
    let form: EventForm = read_form(raw)?;
    Ok((form, ticked(raw)))
}

/// The other fields of a form body, each once.
fn read_form<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, WebError> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(raw.as_bytes())
        .filter(|(k, _)| k != "component")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let value = serde_json::Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k, serde_json::Value::String(v)))
            .collect(),
    );
    serde_json::from_value(value).map_err(|e| {
        WebError::from(AppError::BadRequest(format!(
            "the form could not be read: {e}"
        )))
    })
}

/// A `datetime-local` value read in the page's time zone, as RFC 3339.
fn local_time(page: &StatusPage, raw: Option<&str>) -> Option<String> {
    let raw = raw?.trim();
    if raw.is_empty() {
        return Some(String::new());
    }
    let tz = crate::domain::schedule::time_zone(&page.time_zone).ok()?;
    match crate::domain::schedule::parse_local(raw) {
        Ok(local) => tz.to_timestamp(local).ok().map(|t| t.to_string()),
        Err(_) => Some(raw.to_string()),
    }
}

async fn open_incident(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
    body: String,
) -> Result<Response, WebError> {
    let (form, components) = event_form(&body)?;
    let status = form.component_status.filter(|s| !s.is_empty());
    let input = UpdateInput {
        name: form.name,
        status: form.status,
        impact: form.impact,
        body: Some(form.body),
        components: components
            .into_iter()
            .map(|c| (c, status.clone()))
            .collect(),
        notify: form.notify.is_some(),
        ..UpdateInput::default()
    };
    let result = events::create(&platform, &principal, id, false, input, &meta).await;
    back(&platform, &principal, id, result).await
}

async fn schedule_maintenance(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path(id): Path<i64>,
    body: String,
) -> Result<Response, WebError> {
    let page = status::visible_page(&platform, &principal, id).await?;
    let (form, components) = event_form(&body)?;
    let input = UpdateInput {
        name: form.name,
        body: Some(form.body),
        components: components.into_iter().map(|c| (c, None)).collect(),
        scheduled_for: local_time(&page, form.scheduled_for.as_deref()),
        scheduled_until: local_time(&page, form.scheduled_until.as_deref()),
        notify: form.notify.is_some(),
        ..UpdateInput::default()
    };
    let result = events::create(&platform, &principal, id, true, input, &meta).await;
    back(&platform, &principal, id, result).await
}

async fn add_update(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path((id, event)): Path<(i64, i64)>,
    body: String,
) -> Result<Response, WebError> {
    let (form, components) = event_form(&body)?;
    let status = form.component_status.filter(|s| !s.is_empty());
    let input = UpdateInput {
        status: form.status,
        body: Some(form.body),
        components: components
            .into_iter()
            .map(|c| (c, status.clone()))
            .collect(),
        notify: form.notify.is_some(),
        ..UpdateInput::default()
    };
    let result = events::post_update(&platform, &principal, id, event, input, &meta).await;
    back(&platform, &principal, id, result).await
}

#[derive(Deserialize)]
struct PostmortemForm {
    postmortem: String,
}

async fn save_postmortem(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path((id, event)): Path<(i64, i64)>,
    Form(form): Form<PostmortemForm>,
) -> Result<Response, WebError> {
    let result = events::edit(
        &platform,
        &principal,
        id,
        event,
        None,
        Some(form.postmortem),
        &meta,
    )
    .await;
    back(&platform, &principal, id, result).await
}

async fn remove_subscriber(
    State(platform): State<Platform>,
    WebUser(principal): WebUser,
    meta: ClientMeta,
    Path((id, subscriber)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    let result = subscribers::remove(&platform, &principal, id, subscriber, &meta).await;
    back(&platform, &principal, id, result).await
}
