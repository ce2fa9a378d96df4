//! Public status pages: a team's pages, their components (in optional groups, optionally linked
//! to a service), and the incidents and maintenances told on them. Managers of the team shape
//! pages and components; every member may post incidents and updates. Another team's page is
//! a 404.
//!
//! `model` and `uptime` hold the rules, `events` the incidents and maintenances, `public` what
//! visitors read (cached until the page changes).

pub mod automatic;
pub mod events;
pub mod feeds;
pub mod maintenance;
pub mod markdown;
pub mod model;
pub mod notices;
pub mod public;
pub mod statuspage;
pub mod subscribers;
pub mod uptime;

use keel_platform::audit::{self, Actor};
use keel_platform::authz;
use keel_platform::domain::{Validator, bounded_text};
use keel_platform::identity::{ClientMeta, Principal};
use keel_platform::{AppError, AppResult, Platform};
use serde_json::json;

use crate::store::status::{
    self as store, Component, ComponentFields, Group, PageFields, PageKey, StatusPage,
};
use model::ComponentStatus;

/// The page, if the caller may see it in the admin (404 otherwise).
pub async fn visible_page(
    platform: &Platform,
    principal: &Principal,
    id: i64,
) -> AppResult<StatusPage> {
    let page = store::page(platform.db.pool(), PageKey::Id(id))
        .await?
        .ok_or(AppError::NotFound("status page"))?;
    authz::require_team_read(platform, principal, page.team_id)
        .await
        .map_err(|_| AppError::NotFound("status page"))?;
    Ok(page)
}

/// The page, if the caller may shape it: a manager of its team, or an admin.
async fn managed_page(
    platform: &Platform,
    principal: &Principal,
    id: i64,
) -> AppResult<StatusPage> {
    let page = visible_page(platform, principal, id).await?;
    authz::require_team_manage(platform, principal, page.team_id).await?;
    Ok(page)
}

pub async fn list_pages(platform: &Platform, principal: &Principal) -> AppResult<Vec<StatusPage>> {
    let scope = authz::team_scope(platform, principal).await?;
    let teams = scope.teams();
    Ok(store::list_pages(platform.db.pool(), teams).await?)
}

/// Raw input for creating or editing a page; absent fields keep their value.
#[derive(Default)]
pub struct PageInput {
    pub team_id: Option<i64>,
    pub name: Option<String>,
    pub slug: Option<String>,
    /// `Some("")` clears it.
    pub custom_host: Option<String>,
    pub time_zone: Option<String>,
    pub logo_url: Option<String>,
    pub private: Option<bool>,
    pub notify_component_changes: Option<bool>,
}

struct ValidPage {
    team_id: i64,
    name: String,
    slug: String,
    custom_host: Option<String>,
    time_zone: String,
    logo_url: String,
    private: bool,
    notify_component_changes: bool,
}

fn validate_page(input: PageInput, current: Option<&StatusPage>) -> AppResult<ValidPage> {
    let mut v = Validator::new();
    let team_id = input.team_id.or(current.map(|p| p.team_id));
    if team_id.is_none() {
        v.add("team_id", "is required");
    }
    let name = v.check(
        "name",
        bounded_text(
            input
                .name
                .as_deref()
                .or(current.map(|p| p.name.as_str()))
                .unwrap_or_default(),
            100,
        ),
    );
    let slug = match (&input.slug, current) {
        (Some(raw), _) => v.check("slug", model::slug(raw)),
        (None, Some(p)) => Some(p.slug.clone()),
        (None, None) => {
            v.add("slug", "is required");
            None
        }
    };
    let custom_host = match input.custom_host.as_deref().map(str::trim) {
        Some("") => Some(None),
        Some(raw) => v.check("custom_host", model::host_name(raw)).map(Some),
        None => Some(current.and_then(|p| p.custom_host.clone())),
    };
    let time_zone = input
        .time_zone
        .map(|t| t.trim().to_string())
        .or(current.map(|p| p.time_zone.clone()))
        .unwrap_or_else(|| "UTC".into());
    v.check("time_zone", crate::domain::schedule::time_zone(&time_zone));
    let logo_url = input
        .logo_url
        .map(|t| t.trim().to_string())
        .or(current.map(|p| p.logo_url.clone()))
        .unwrap_or_default();
    if !logo_url.is_empty() {
        let ok = logo_url.len() <= 500
            && url::Url::parse(&logo_url)
                .is_ok_and(|u| u.scheme() == "https" || u.scheme() == "http");
        if !ok {
            v.add(
                "logo_url",
                "must be an http(s) address of at most 500 characters",
            );
        }
    }
    v.finish().map_err(AppError::Validation)?;
    Ok(ValidPage {
        team_id: team_id.expect("validated"),
        name: name.expect("validated"),
        slug: slug.expect("validated"),
        custom_host: custom_host.expect("validated"),
        time_zone,
        logo_url,
        private: input
            .private
            .or(current.map(|p| p.private))
            .unwrap_or(false),
        notify_component_changes: input
            .notify_component_changes
            .or(current.map(|p| p.notify_component_changes))
            .unwrap_or(false),
    })
}

impl ValidPage {
    fn fields(&self) -> PageFields<'_> {
        PageFields {
            team_id: self.team_id,
            name: &self.name,
            slug: &self.slug,
            custom_host: self.custom_host.as_deref(),
            time_zone: &self.time_zone,
            logo_url: &self.logo_url,
            private: self.private,
            notify_component_changes: self.notify_component_changes,
        }
    }
}

fn page_conflict(err: sqlx::Error) -> AppError {
    if keel_platform::db::is_unique_violation(&err) {
        let message = err.to_string();
        if message.contains("custom_host") {
            AppError::field("custom_host", "another page is served under this host name")
        } else {
            AppError::field("slug", "another page has this address")
        }
    } else {
        err.into()
    }
}

pub async fn create_page(
    platform: &Platform,
    principal: &Principal,
    input: PageInput,
    meta: &ClientMeta,
) -> AppResult<StatusPage> {
    let page = validate_page(input, None)?;
    authz::require_team_manage(platform, principal, page.team_id)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => {
                AppError::field("team_id", "no such team, or you are not in it")
            }
            other => other,
        })?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let created = store::insert_page(&mut *tx, &page.fields(), now)
        .await
        .map_err(page_conflict)?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "status_page.created",
        ("status_page", &created.id.to_string()),
        json!({"name": created.name, "slug": created.slug, "team_id": created.team_id}),
    )
    .await?;
    tx.commit().await?;
    public::forget(created.id);
    Ok(created)
}

pub async fn update_page(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    input: PageInput,
    meta: &ClientMeta,
) -> AppResult<StatusPage> {
    let current = managed_page(platform, principal, id).await?;
    let page = validate_page(input, Some(&current))?;
    if page.team_id != current.team_id {
        authz::require_team_manage(platform, principal, page.team_id)
            .await
            .map_err(|_| {
                AppError::field("team_id", "you can only move a page to a team you manage")
            })?;
    }
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let updated = store::update_page(&mut *tx, id, &page.fields(), now)
        .await
        .map_err(page_conflict)?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "status_page.updated",
        ("status_page", &id.to_string()),
        json!({"name": updated.name, "slug": updated.slug, "private": updated.private}),
    )
    .await?;
    tx.commit().await?;
    public::forget(id);
    Ok(updated)
}

pub async fn delete_page(
    platform: &Platform,
    principal: &Principal,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    let page = managed_page(platform, principal, id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    store::delete_page(&mut *tx, id).await?;
    audit::record(
        &mut *tx,
        now,
        &Actor::user(principal, meta),
        "status_page.deleted",
        ("status_page", &id.to_string()),
        json!({"name": page.name, "slug": page.slug}),
    )
    .await?;
    tx.commit().await?;
    public::forget(id);
    Ok(())
}

/// Ends a change to a page's content: marks the page changed (every node's cached documents of
/// it go stale), records who did what, commits, and drops this node's cached documents now.
pub(crate) async fn commit_change(
    mut tx: keel_platform::db::Tx,
    page_id: i64,
    now: keel_platform::domain::Timestamp,
    actor: &Actor,
    action: &str,
    details: serde_json::Value,
) -> AppResult<()> {
    store::touch_page(&mut *tx, page_id, now).await?;
    audit::record(
        &mut *tx,
        now,
        actor,
        action,
        ("status_page", &page_id.to_string()),
        details,
    )
    .await?;
    tx.commit().await?;
    public::forget(page_id);
    Ok(())
}

/// A component linked to a service, with its page: where an incident of the service could be
/// told.
pub struct ServiceComponent {
    pub page_id: i64,
    pub page_name: String,
    pub component_id: i64,
    pub component_name: String,
}

/// The status page components linked to a service the caller can see.
pub async fn components_of_service(
    platform: &Platform,
    principal: &Principal,
    service_id: i64,
) -> AppResult<Vec<ServiceComponent>> {
    let mut out = Vec::new();
    for c in store::components_of_service(platform.db.pool(), service_id).await? {
        if let Ok(page) = visible_page(platform, principal, c.page_id).await {
            out.push(ServiceComponent {
                page_id: page.id,
                page_name: page.name,
                component_id: c.id,
                component_name: c.name,
            });
        }
    }
    Ok(out)
}

pub async fn list_groups(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
) -> AppResult<Vec<Group>> {
    visible_page(platform, principal, page_id).await?;
    Ok(store::groups(platform.db.pool(), page_id).await?)
}

pub async fn create_group(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
    name: &str,
    position: Option<i64>,
    meta: &ClientMeta,
) -> AppResult<Group> {
    managed_page(platform, principal, page_id).await?;
    let name = bounded_text(name, 100).map_err(|m| AppError::field("name", m))?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let group = store::insert_group(&mut *tx, page_id, &name, position.unwrap_or(0), now)
        .await
        .map_err(|e| {
            if keel_platform::db::is_unique_violation(&e) {
                AppError::field("name", "the page already has a group with this name")
            } else {
                e.into()
            }
        })?;
    commit_change(
        tx,
        page_id,
        now,
        &Actor::user(principal, meta),
        "status_group.created",
        json!({"group_id": group.id, "name": group.name}),
    )
    .await?;
    Ok(group)
}

pub async fn delete_group(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
    group_id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    managed_page(platform, principal, page_id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    if !store::delete_group(&mut *tx, page_id, group_id).await? {
        return Err(AppError::NotFound("component group"));
    }
    commit_change(
        tx,
        page_id,
        now,
        &Actor::user(principal, meta),
        "status_group.deleted",
        json!({"group_id": group_id}),
    )
    .await?;
    Ok(())
}

pub async fn list_components(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
) -> AppResult<Vec<Component>> {
    visible_page(platform, principal, page_id).await?;
    Ok(store::components(platform.db.pool(), page_id).await?)
}

/// Raw input for a component; absent fields keep their value. A status given here is set
/// without an incident (it still enters the history).
#[derive(Default)]
pub struct ComponentInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub group_id: Option<Option<i64>>,
    pub position: Option<i64>,
    pub service_id: Option<Option<i64>>,
    pub status: Option<String>,
    /// `Some(None)` clears it.
    pub auto_status: Option<Option<String>>,
}

/// A component's checked input; `status` only when one was asked for.
struct ValidComponent {
    name: String,
    description: String,
    group_id: Option<i64>,
    position: i64,
    service_id: Option<i64>,
    status: Option<ComponentStatus>,
    auto_status: Option<ComponentStatus>,
}

impl ValidComponent {
    fn fields(&self) -> ComponentFields<'_> {
        ComponentFields {
            group_id: self.group_id,
            name: &self.name,
            description: &self.description,
            position: self.position,
            service_id: self.service_id,
            auto_status: self.auto_status,
        }
    }
}

async fn validate_component(
    platform: &Platform,
    page: &StatusPage,
    input: &ComponentInput,
    current: Option<&Component>,
) -> AppResult<ValidComponent> {
    let mut v = Validator::new();
    let name = v.check(
        "name",
        bounded_text(
            input
                .name
                .as_deref()
                .or(current.map(|c| c.name.as_str()))
                .unwrap_or_default(),
            100,
        ),
    );
    let description = input
        .description
        .as_deref()
        .map(str::trim)
        .or(current.map(|c| c.description.as_str()))
        .unwrap_or_default()
        .to_string();
    if description.chars().count() > 500 {
        v.add("description", "must be at most 500 characters");
    }
    let group_id = input.group_id.unwrap_or(current.and_then(|c| c.group_id));
    if let Some(group) = group_id {
        let groups = store::groups(platform.db.pool(), page.id).await?;
        if !groups.iter().any(|g| g.id == group) {
            v.add("group_id", "no such group on this page");
        }
    }
    let service_id = input
        .service_id
        .unwrap_or(current.and_then(|c| c.service_id));
    if let Some(service) = service_id {
        let same_team = crate::store::services::service_by_id(platform.db.pool(), service)
            .await?
            .is_some_and(|s| s.team_id == page.team_id);
        if !same_team {
            v.add("service_id", "no such service in the page's team");
        }
    }
    let position = input.position.or(current.map(|c| c.position)).unwrap_or(0);
    if !(0..=10_000).contains(&position) {
        v.add("position", "must be between 0 and 10000");
    }
    let status = match &input.status {
        Some(raw) => v.check("status", ComponentStatus::parse(raw)),
        None => None,
    };
    let auto_status = match &input.auto_status {
        Some(Some(raw)) if !raw.trim().is_empty() => {
            match v.check("auto_status", ComponentStatus::parse(raw)) {
                Some(s) if s.is_outage_like() => Some(s),
                Some(_) => {
                    v.add(
                        "auto_status",
                        "must be degraded_performance, partial_outage or major_outage",
                    );
                    None
                }
                None => None,
            }
        }
        Some(_) => None,
        None => current.and_then(|c| c.auto_status),
    };
    if auto_status.is_some() && service_id.is_none() {
        v.add("auto_status", "needs a linked service (service_id)");
    }
    v.finish().map_err(AppError::Validation)?;
    Ok(ValidComponent {
        name: name.expect("validated"),
        description,
        group_id,
        position,
        service_id,
        status,
        auto_status,
    })
}

fn component_conflict(err: sqlx::Error) -> AppError {
    if keel_platform::db::is_unique_violation(&err) {
        AppError::field("name", "the page already has a component with this name")
    } else {
        err.into()
    }
}

pub async fn create_component(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
    input: ComponentInput,
    meta: &ClientMeta,
) -> AppResult<Component> {
    let page = managed_page(platform, principal, page_id).await?;
    let valid = validate_component(platform, &page, &input, None).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let mut component = store::insert_component(&mut tx, page_id, &valid.fields(), now)
        .await
        .map_err(component_conflict)?;
    if let Some(status) = valid.status.filter(|s| *s != ComponentStatus::Operational) {
        store::set_component_status(&mut tx, component.id, status, now).await?;
        component.status = status;
    }
    commit_change(
        tx,
        page_id,
        now,
        &Actor::user(principal, meta),
        "status_component.created",
        json!({"component_id": component.id, "name": component.name}),
    )
    .await?;
    Ok(component)
}

async fn page_component(platform: &Platform, page_id: i64, id: i64) -> AppResult<Component> {
    store::components(platform.db.pool(), page_id)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(AppError::NotFound("component"))
}

pub async fn update_component(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
    id: i64,
    input: ComponentInput,
    meta: &ClientMeta,
) -> AppResult<Component> {
    let page = visible_page(platform, principal, page_id).await?;
    let current = page_component(platform, page_id, id).await?;
    // Members may change a status (they answer incidents); shaping the page is for managers.
    let only_status = input.name.is_none()
        && input.description.is_none()
        && input.group_id.is_none()
        && input.position.is_none()
        && input.service_id.is_none()
        && input.auto_status.is_none();
    if !only_status {
        authz::require_team_manage(platform, principal, page.team_id).await?;
    }
    let valid = validate_component(platform, &page, &input, Some(&current)).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    let mut component = store::update_component(&mut *tx, id, &valid.fields(), now)
        .await
        .map_err(component_conflict)?;
    if let Some(status) = valid.status
        && let Some(old) = store::set_component_status(&mut tx, id, status, now).await?
    {
        component.status = status;
        if page.notify_component_changes {
            let change = events::Change {
                component_id: id,
                name: component.name.clone(),
                old_status: old,
                new_status: status,
            };
            let notice = notices::Notice {
                page_id,
                event_id: None,
                update_id: None,
                change: Some(change),
                at: now,
            };
            notices::queue(&mut *tx, &notice, now).await?;
        }
    }
    commit_change(
        tx,
        page_id,
        now,
        &Actor::user(principal, meta),
        "status_component.updated",
        json!({"component_id": id, "name": component.name, "status": component.status}),
    )
    .await?;
    Ok(component)
}

pub async fn delete_component(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    managed_page(platform, principal, page_id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    if !store::delete_component(&mut *tx, page_id, id).await? {
        return Err(AppError::NotFound("component"));
    }
    commit_change(
        tx,
        page_id,
        now,
        &Actor::user(principal, meta),
        "status_component.deleted",
        json!({"component_id": id}),
    )
    .await?;
    Ok(())
}
