//! Managing status pages over JSON: pages, component groups, components, incidents,
//! maintenances and their updates. What visitors read is in `web::status_public`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use keel_platform::http::problem::{ApiJson, ApiPath};
use keel_platform::http::{ClientMeta, Principal, Problem};
use keel_platform::{AppResult, Platform};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::status::events::{self, Event, UpdateInput};
use crate::status::{self, ComponentInput, PageInput, subscribers};
use crate::store::status::{Component, Group, StatusPage};
use crate::store::status_subscribers::Subscriber;

pub fn router() -> OpenApiRouter<Platform> {
    OpenApiRouter::new()
        .routes(routes!(list_pages, create_page))
        .routes(routes!(get_page, update_page, delete_page))
        .routes(routes!(list_groups, create_group))
        .routes(routes!(delete_group))
        .routes(routes!(list_components, create_component))
        .routes(routes!(update_component, delete_component))
        .routes(routes!(list_events))
        .routes(routes!(create_incident))
        .routes(routes!(create_maintenance))
        .routes(routes!(get_event, edit_event, delete_event))
        .routes(routes!(post_update))
        .routes(routes!(list_subscribers, add_subscriber))
        .routes(routes!(remove_subscriber))
        .routes(routes!(export_subscribers))
}

use keel_platform::api::openapi::fields;

/// Pages of the caller's teams (admins: all).
#[utoipa::path(get, path = "/api/v1/status-pages", tag = "status pages", responses((status = 200, body = Vec<StatusPage>)), security(("token" = []), ("session" = [])))]
async fn list_pages(
    State(platform): State<Platform>,
    principal: Principal,
) -> AppResult<Json<Vec<StatusPage>>> {
    Ok(Json(status::list_pages(&platform, &principal).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageBody {
    /// Owning team (required on create).
    team_id: Option<i64>,
    /// Required on create.
    #[schema(schema_with = fields::one_line_or_null::<100>)]
    name: Option<String>,
    /// The page is at `/status/{slug}`: 2 to 60 lowercase letters, digits and dashes.
    #[schema(schema_with = fields::one_line_or_null::<60>)]
    slug: Option<String>,
    /// Another host name to serve the page under; empty to clear.
    #[schema(schema_with = fields::at_most_or_null::<253>)]
    custom_host: Option<String>,
    /// IANA time zone of the page's days and times (default UTC).
    #[schema(schema_with = fields::one_line_or_null::<64>)]
    time_zone: Option<String>,
    /// An http(s) image address, or empty.
    #[schema(schema_with = fields::at_most_or_null::<500>)]
    logo_url: Option<String>,
    /// Only signed-in members of the team see the page.
    private: Option<bool>,
    /// Subscribers also hear of status changes made without an incident.
    notify_component_changes: Option<bool>,
}

impl From<PageBody> for PageInput {
    fn from(b: PageBody) -> Self {
        Self {
            team_id: b.team_id,
            name: b.name,
            slug: b.slug,
            custom_host: b.custom_host,
            time_zone: b.time_zone,
            logo_url: b.logo_url,
            private: b.private,
            notify_component_changes: b.notify_component_changes,
        }
    }
}

/// Create a status page (managers of the team and admins).
#[utoipa::path(post, path = "/api/v1/status-pages", tag = "status pages", request_body = PageBody,
    responses((status = 201, body = StatusPage), (status = 403, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_page(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiJson(body): ApiJson<PageBody>,
) -> AppResult<(StatusCode, Json<StatusPage>)> {
    Ok((
        StatusCode::CREATED,
        Json(status::create_page(&platform, &principal, body.into(), &meta).await?),
    ))
}

/// One status page.
#[utoipa::path(get, path = "/api/v1/status-pages/{id}", tag = "status pages", params(("id" = i64, Path)),
    responses((status = 200, body = StatusPage), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_page(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<StatusPage>> {
    Ok(Json(status::visible_page(&platform, &principal, id).await?))
}

/// Change a page; absent fields are kept.
#[utoipa::path(patch, path = "/api/v1/status-pages/{id}", tag = "status pages", params(("id" = i64, Path)), request_body = PageBody,
    responses((status = 200, body = StatusPage), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn update_page(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PageBody>,
) -> AppResult<Json<StatusPage>> {
    Ok(Json(
        status::update_page(&platform, &principal, id, body.into(), &meta).await?,
    ))
}

/// Delete a page with its components, history and incidents.
#[utoipa::path(delete, path = "/api/v1/status-pages/{id}", tag = "status pages", params(("id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_page(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    status::delete_page(&platform, &principal, id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The page's component groups, in order.
#[utoipa::path(get, path = "/api/v1/status-pages/{id}/groups", tag = "status pages", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Group>), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn list_groups(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Vec<Group>>> {
    Ok(Json(status::list_groups(&platform, &principal, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupBody {
    #[schema(schema_with = fields::one_line::<100>)]
    name: String,
    #[schema(minimum = 0, maximum = 10000)]
    position: Option<i64>,
}

/// Add a component group.
#[utoipa::path(post, path = "/api/v1/status-pages/{id}/groups", tag = "status pages", params(("id" = i64, Path)), request_body = GroupBody,
    responses((status = 201, body = Group), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_group(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<GroupBody>,
) -> AppResult<(StatusCode, Json<Group>)> {
    let position = body.position.map(|p| p.clamp(0, 10_000));
    Ok((
        StatusCode::CREATED,
        Json(status::create_group(&platform, &principal, id, &body.name, position, &meta).await?),
    ))
}

/// Remove a group; its components stay, ungrouped.
#[utoipa::path(delete, path = "/api/v1/status-pages/{id}/groups/{group_id}", tag = "status pages", params(("id" = i64, Path), ("group_id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_group(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath((id, group_id)): ApiPath<(i64, i64)>,
) -> AppResult<StatusCode> {
    status::delete_group(&platform, &principal, id, group_id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The page's components, in order.
#[utoipa::path(get, path = "/api/v1/status-pages/{id}/components", tag = "status pages", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Component>), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn list_components(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Vec<Component>>> {
    Ok(Json(
        status::list_components(&platform, &principal, id).await?,
    ))
}

/// A double option: absent (keep), `null` (clear) or a value.
fn double<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

const COMPONENT_STATUSES: &[&str] = &[
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
];

fn component_status() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    keel_platform::api::openapi::json_schema(serde_json::json!({
        "type": ["string", "null"],
        "enum": [COMPONENT_STATUSES[0], COMPONENT_STATUSES[1], COMPONENT_STATUSES[2], COMPONENT_STATUSES[3], COMPONENT_STATUSES[4], null],
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentBody {
    /// Required on create; unique on the page.
    #[schema(schema_with = fields::one_line_or_null::<100>)]
    name: Option<String>,
    #[schema(schema_with = fields::at_most_or_null::<500>)]
    description: Option<String>,
    /// A group of the page; null for none.
    #[serde(default, deserialize_with = "double")]
    group_id: Option<Option<i64>>,
    #[schema(minimum = 0, maximum = 10000)]
    position: Option<i64>,
    /// A service of the page's team whose incidents concern this component; null for none.
    #[serde(default, deserialize_with = "double")]
    service_id: Option<Option<i64>>,
    /// Set the status without an incident (members may send only this field).
    #[schema(schema_with = component_status)]
    status: Option<String>,
    /// The status the component takes on its own while a high-urgency incident of its service
    /// is open (`degraded_performance`, `partial_outage`, `major_outage`); null for never.
    #[serde(default, deserialize_with = "double")]
    #[schema(schema_with = component_status)]
    auto_status: Option<Option<String>>,
}

impl From<ComponentBody> for ComponentInput {
    fn from(b: ComponentBody) -> Self {
        Self {
            name: b.name,
            description: b.description,
            group_id: b.group_id,
            position: b.position,
            service_id: b.service_id,
            status: b.status,
            auto_status: b.auto_status,
        }
    }
}

/// Add a component (operational, unless `status` says otherwise).
#[utoipa::path(post, path = "/api/v1/status-pages/{id}/components", tag = "status pages", params(("id" = i64, Path)), request_body = ComponentBody,
    responses((status = 201, body = Component), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_component(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ComponentBody>,
) -> AppResult<(StatusCode, Json<Component>)> {
    Ok((
        StatusCode::CREATED,
        Json(status::create_component(&platform, &principal, id, body.into(), &meta).await?),
    ))
}

/// Change a component; absent fields are kept. A new status enters the history.
#[utoipa::path(patch, path = "/api/v1/status-pages/{id}/components/{component_id}", tag = "status pages", params(("id" = i64, Path), ("component_id" = i64, Path)), request_body = ComponentBody,
    responses((status = 200, body = Component), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn update_component(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath((id, component_id)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<ComponentBody>,
) -> AppResult<Json<Component>> {
    Ok(Json(
        status::update_component(&platform, &principal, id, component_id, body.into(), &meta)
            .await?,
    ))
}

/// Remove a component and its history.
#[utoipa::path(delete, path = "/api/v1/status-pages/{id}/components/{component_id}", tag = "status pages", params(("id" = i64, Path), ("component_id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_component(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath((id, component_id)): ApiPath<(i64, i64)>,
) -> AppResult<StatusCode> {
    status::delete_component(&platform, &principal, id, component_id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Incidents and maintenances: open ones and those of the last 90 days, newest first.
#[utoipa::path(get, path = "/api/v1/status-pages/{id}/events", tag = "status pages", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Event>), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn list_events(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Vec<Event>>> {
    status::visible_page(&platform, &principal, id).await?;
    let since = platform.now().as_millis() - i64::from(crate::status::public::DAYS) * 86_400_000;
    Ok(Json(events::page_events(&platform, id, since).await?))
}

/// A component named in an incident or update, with the status it takes.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentChange {
    id: i64,
    /// Incidents: the component's new status (omit to leave it). Maintenances: ignored.
    #[schema(schema_with = component_status)]
    status: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentBody {
    #[schema(schema_with = fields::one_line::<200>)]
    name: String,
    /// `investigating` (default), `identified` or `monitoring`.
    #[schema(schema_with = fields::at_most_or_null::<20>)]
    status: Option<String>,
    /// `none`, `minor` (default), `major` or `critical`.
    #[schema(schema_with = fields::at_most_or_null::<20>)]
    impact: Option<String>,
    /// The first update's message (plain text, at most 10,000 characters).
    #[schema(schema_with = fields::at_most::<10000>)]
    body: String,
    #[serde(default)]
    #[schema(max_items = 200)]
    components: Vec<ComponentChange>,
    /// Tell the page's subscribers.
    #[serde(default)]
    notify: bool,
}

/// Open an incident on the page (any member of the team).
#[utoipa::path(post, path = "/api/v1/status-pages/{id}/incidents", tag = "status pages", params(("id" = i64, Path)), request_body = IncidentBody,
    responses((status = 201, body = Event), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_incident(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<IncidentBody>,
) -> AppResult<(StatusCode, Json<Event>)> {
    let input = UpdateInput {
        name: Some(body.name),
        status: body.status,
        impact: body.impact,
        body: Some(body.body),
        components: body
            .components
            .into_iter()
            .map(|c| (c.id, c.status))
            .collect(),
        notify: body.notify,
        ..UpdateInput::default()
    };
    Ok((
        StatusCode::CREATED,
        Json(events::create(&platform, &principal, id, false, input, &meta).await?),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceBody {
    #[schema(schema_with = fields::one_line::<200>)]
    name: String,
    /// What will happen (plain text).
    #[schema(schema_with = fields::at_most::<10000>)]
    body: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    scheduled_for: String,
    /// RFC 3339, after `scheduled_for`.
    #[schema(format = DateTime)]
    scheduled_until: String,
    /// Component ids under maintenance.
    #[serde(default)]
    #[schema(max_items = 200)]
    components: Vec<i64>,
    /// Start and complete on its own at those times (default true).
    auto_transition: Option<bool>,
    #[serde(default)]
    notify: bool,
}

/// Schedule a maintenance on the page (any member of the team).
#[utoipa::path(post, path = "/api/v1/status-pages/{id}/maintenances", tag = "status pages", params(("id" = i64, Path)), request_body = MaintenanceBody,
    responses((status = 201, body = Event), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn create_maintenance(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<MaintenanceBody>,
) -> AppResult<(StatusCode, Json<Event>)> {
    let input = UpdateInput {
        name: Some(body.name),
        body: Some(body.body),
        components: body.components.into_iter().map(|c| (c, None)).collect(),
        scheduled_for: Some(body.scheduled_for),
        scheduled_until: Some(body.scheduled_until),
        auto_transition: body.auto_transition,
        notify: body.notify,
        ..UpdateInput::default()
    };
    Ok((
        StatusCode::CREATED,
        Json(events::create(&platform, &principal, id, true, input, &meta).await?),
    ))
}

/// One incident or maintenance with its updates.
#[utoipa::path(get, path = "/api/v1/status-pages/{id}/events/{event_id}", tag = "status pages", params(("id" = i64, Path), ("event_id" = i64, Path)),
    responses((status = 200, body = Event), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn get_event(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath((id, event_id)): ApiPath<(i64, i64)>,
) -> AppResult<Json<Event>> {
    Ok(Json(
        events::visible_event(&platform, &principal, id, event_id).await?,
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    #[schema(schema_with = fields::one_line_or_null::<200>)]
    name: Option<String>,
    /// Markdown, shown once the incident is resolved.
    #[schema(schema_with = fields::at_most_or_null::<50000>)]
    postmortem: Option<String>,
}

/// Rename an incident or write its postmortem (no update is added).
#[utoipa::path(patch, path = "/api/v1/status-pages/{id}/events/{event_id}", tag = "status pages", params(("id" = i64, Path), ("event_id" = i64, Path)), request_body = EditBody,
    responses((status = 200, body = Event), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn edit_event(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath((id, event_id)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<EditBody>,
) -> AppResult<Json<Event>> {
    Ok(Json(
        events::edit(
            &platform,
            &principal,
            id,
            event_id,
            body.name,
            body.postmortem,
            &meta,
        )
        .await?,
    ))
}

/// Remove an incident or maintenance from the page (managers).
#[utoipa::path(delete, path = "/api/v1/status-pages/{id}/events/{event_id}", tag = "status pages", params(("id" = i64, Path), ("event_id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn delete_event(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath((id, event_id)): ApiPath<(i64, i64)>,
) -> AppResult<StatusCode> {
    events::delete(&platform, &principal, id, event_id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    /// The new status (incident: investigating…resolved; maintenance: scheduled…completed);
    /// absent keeps it.
    #[schema(schema_with = fields::at_most_or_null::<20>)]
    status: Option<String>,
    /// Incidents only: a new impact.
    #[schema(schema_with = fields::at_most_or_null::<20>)]
    impact: Option<String>,
    #[schema(schema_with = fields::at_most::<10000>)]
    body: String,
    #[serde(default)]
    #[schema(max_items = 200)]
    components: Vec<ComponentChange>,
    #[serde(default)]
    notify: bool,
}

/// Post an update: a message, perhaps a new status and component statuses. Resolving gives the
/// components back (operational) unless another open incident holds them.
#[utoipa::path(post, path = "/api/v1/status-pages/{id}/events/{event_id}/updates", tag = "status pages", params(("id" = i64, Path), ("event_id" = i64, Path)), request_body = UpdateBody,
    responses((status = 201, body = Event), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn post_update(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath((id, event_id)): ApiPath<(i64, i64)>,
    ApiJson(body): ApiJson<UpdateBody>,
) -> AppResult<(StatusCode, Json<Event>)> {
    let input = UpdateInput {
        status: body.status,
        impact: body.impact,
        body: Some(body.body),
        components: body
            .components
            .into_iter()
            .map(|c| (c.id, c.status))
            .collect(),
        notify: body.notify,
        ..UpdateInput::default()
    };
    Ok((
        StatusCode::CREATED,
        Json(events::post_update(&platform, &principal, id, event_id, input, &meta).await?),
    ))
}

/// The page's subscribers (managers of the team; e-mail ones show whether they confirmed).
#[utoipa::path(get, path = "/api/v1/status-pages/{id}/subscribers", tag = "status pages", params(("id" = i64, Path)),
    responses((status = 200, body = Vec<Subscriber>), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn list_subscribers(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<Json<Vec<Subscriber>>> {
    Ok(Json(subscribers::list(&platform, &principal, id).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscriberBody {
    /// `email` (sent a confirmation link first) or `webhook` (active at once).
    #[schema(schema_with = subscriber_kind)]
    kind: String,
    /// The e-mail address, or the webhook's http(s) URL (checked against the outbound policy).
    #[schema(schema_with = fields::one_line::<2000>)]
    address: String,
    /// Components of interest; empty or absent: everything.
    #[serde(default)]
    #[schema(max_items = 200)]
    components: Vec<i64>,
}

fn subscriber_kind() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    keel_platform::api::openapi::json_schema(fields::one_of(&["email", "webhook"]))
}

#[derive(serde::Serialize, ToSchema)]
pub struct AddedSubscriber {
    #[serde(flatten)]
    subscriber: Subscriber,
    /// A webhook's signing secret, shown only now: the receiver checks
    /// `x-keel-signature: v1=hex(HMAC-SHA256(secret, "{x-keel-timestamp}.{body}"))`.
    secret: Option<String>,
}

/// Add a subscriber (managers of the team).
#[utoipa::path(post, path = "/api/v1/status-pages/{id}/subscribers", tag = "status pages", params(("id" = i64, Path)), request_body = SubscriberBody,
    responses((status = 201, body = AddedSubscriber), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)), security(("token" = []), ("session" = [])))]
async fn add_subscriber(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SubscriberBody>,
) -> AppResult<(StatusCode, Json<AddedSubscriber>)> {
    let added = subscribers::add(
        &platform,
        &principal,
        id,
        &body.kind,
        &body.address,
        &body.components,
        &meta,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(AddedSubscriber {
            subscriber: added.subscriber,
            secret: added.secret,
        }),
    ))
}

/// Remove a subscriber (managers of the team).
#[utoipa::path(delete, path = "/api/v1/status-pages/{id}/subscribers/{subscriber_id}", tag = "status pages", params(("id" = i64, Path), ("subscriber_id" = i64, Path)),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn remove_subscriber(
    State(platform): State<Platform>,
    principal: Principal,
    meta: ClientMeta,
    ApiPath((id, subscriber_id)): ApiPath<(i64, i64)>,
) -> AppResult<StatusCode> {
    subscribers::remove(&platform, &principal, id, subscriber_id, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The subscribers as CSV (managers of the team).
#[utoipa::path(get, path = "/api/v1/status-pages/{id}/subscribers.csv", tag = "status pages", params(("id" = i64, Path)),
    responses((status = 200, content_type = "text/csv", body = String), (status = 403, body = Problem), (status = 404, body = Problem)), security(("token" = []), ("session" = [])))]
async fn export_subscribers(
    State(platform): State<Platform>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<impl axum::response::IntoResponse> {
    let csv = subscribers::export_csv(&platform, &principal, id).await?;
    Ok((
        [
            (
                axum::http::header::CONTENT_TYPE,
                "text/csv; charset=utf-8".to_string(),
            ),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"status-page-{id}-subscribers.csv\""),
            ),
        ],
        csv,
    ))
}
