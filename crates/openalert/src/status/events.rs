//! Incidents and scheduled maintenances on a status page, each told as a list of updates that
//! may change components' statuses. Maintenances marked so move on their own at their times
//! (`maintenance.rs`).

use std::collections::{BTreeMap, HashMap, HashSet};

use keel_platform::audit::Actor;
use keel_platform::domain::{Timestamp, Validator};
use keel_platform::identity::{ClientMeta, Principal};
use keel_platform::{AppError, AppResult, Platform};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::model::{ComponentStatus, Impact, IncidentStatus, MaintenanceStatus};
use super::notices::{self, Notice};
use super::{commit_change, visible_page};
use crate::store::status as store;
use crate::store::status_events::{self as event_store, EventChanges, EventRow, NewEvent};

/// An incident or a maintenance with its components and updates (newest first).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    pub id: i64,
    pub page_id: i64,
    /// `incident` or `maintenance`.
    pub kind: String,
    pub name: String,
    /// An incident's (`investigating`…`resolved`) or a maintenance's (`scheduled`…`completed`).
    pub status: String,
    pub impact: Impact,
    /// Markdown, shown after the incident is resolved.
    pub postmortem: String,
    pub scheduled_for: Option<Timestamp>,
    pub scheduled_until: Option<Timestamp>,
    /// A maintenance starts and completes on its own at its times.
    pub auto_transition: bool,
    pub started_at: Timestamp,
    pub monitoring_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub component_ids: Vec<i64>,
    pub updates: Vec<Update>,
}

impl Event {
    pub fn is_maintenance(&self) -> bool {
        self.kind == "maintenance"
    }

    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Update {
    pub id: i64,
    pub status: String,
    pub body: String,
    pub changes: Vec<Change>,
    /// Subscribers are told about this update.
    pub notify: bool,
    pub created_at: Timestamp,
}

/// A component's status change carried by an update.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Change {
    pub component_id: i64,
    pub name: String,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
}

/// Builds events from their rows, component links and updates.
pub fn assemble(
    rows: Vec<EventRow>,
    links: &[(i64, i64)],
    updates: Vec<event_store::UpdateRow>,
) -> Vec<Event> {
    let mut components: HashMap<i64, Vec<i64>> = HashMap::new();
    for (event, component) in links {
        components.entry(*event).or_default().push(*component);
    }
    let mut by_event: HashMap<i64, Vec<Update>> = HashMap::new();
    for u in updates {
        by_event.entry(u.event_id).or_default().push(Update {
            id: u.id,
            status: u.status,
            body: u.body,
            changes: serde_json::from_str(&u.changes).unwrap_or_default(),
            notify: u.notify != 0,
            created_at: Timestamp::from_millis(u.created_at),
        });
    }
    let ts = |ms: Option<i64>| ms.map(Timestamp::from_millis);
    rows.into_iter()
        .map(|r| {
            let mut component_ids = components.remove(&r.id).unwrap_or_default();
            component_ids.sort_unstable();
            Event {
                id: r.id,
                page_id: r.page_id,
                kind: r.kind,
                name: r.name,
                status: r.status,
                impact: Impact::parse(&r.impact).unwrap_or(Impact::None),
                postmortem: r.postmortem,
                scheduled_for: ts(r.scheduled_for),
                scheduled_until: ts(r.scheduled_until),
                auto_transition: r.auto_transition != 0,
                started_at: Timestamp::from_millis(r.started_at),
                monitoring_at: ts(r.monitoring_at),
                resolved_at: ts(r.resolved_at),
                created_at: Timestamp::from_millis(r.created_at),
                updated_at: Timestamp::from_millis(r.updated_at),
                component_ids,
                updates: by_event.remove(&r.id).unwrap_or_default(),
            }
        })
        .collect()
}

/// A page's events: every open one and those started within the last `days`.
pub async fn page_events(platform: &Platform, page_id: i64, since: i64) -> AppResult<Vec<Event>> {
    let pool = platform.db.pool();
    let rows = event_store::events(pool, page_id, since).await?;
    let links = event_store::event_components(pool, page_id).await?;
    let updates = event_store::updates(pool, page_id, since).await?;
    Ok(assemble(rows, &links, updates))
}

/// One event of the page, however old.
pub async fn one_event(platform: &Platform, page_id: i64, id: i64) -> AppResult<Event> {
    let row = event_store::event(platform.db.pool(), id)
        .await?
        .filter(|e| e.page_id == page_id)
        .ok_or(AppError::NotFound("status event"))?;
    let since = row.started_at;
    page_events(platform, page_id, since)
        .await?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or(AppError::NotFound("status event"))
}

/// An event of a page the caller may see.
pub async fn visible_event(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
    id: i64,
) -> AppResult<Event> {
    visible_page(platform, principal, page_id).await?;
    one_event(platform, page_id, id).await
}

/// What a new incident, maintenance or update says.
#[derive(Default)]
pub struct UpdateInput {
    pub name: Option<String>,
    pub status: Option<String>,
    pub impact: Option<String>,
    pub body: Option<String>,
    /// Components and the status each takes (incidents); components affected (maintenances).
    pub components: Vec<(i64, Option<String>)>,
    pub scheduled_for: Option<String>,
    pub scheduled_until: Option<String>,
    pub auto_transition: Option<bool>,
    pub notify: bool,
}

const BODY_MAX: usize = 10_000;

fn body(v: &mut Validator, raw: Option<&str>) -> String {
    let body = raw.unwrap_or_default().trim().to_string();
    if body.is_empty() {
        v.add("body", "is required");
    } else if body.chars().count() > BODY_MAX {
        v.add("body", format!("must be at most {BODY_MAX} characters"));
    }
    body
}

/// Checks the named components belong to the page and parses the statuses given.
async fn component_targets(
    platform: &Platform,
    page_id: i64,
    v: &mut Validator,
    given: &[(i64, Option<String>)],
) -> AppResult<BTreeMap<i64, (String, Option<ComponentStatus>)>> {
    let components = store::components(platform.db.pool(), page_id).await?;
    let mut out = BTreeMap::new();
    for (id, status) in given {
        let Some(c) = components.iter().find(|c| c.id == *id) else {
            v.add("components", format!("no component {id} on this page"));
            continue;
        };
        let status = match status {
            Some(raw) => v.check("components", ComponentStatus::parse(raw)),
            None => None,
        };
        out.insert(*id, (c.name.clone(), status));
    }
    Ok(out)
}

fn time(v: &mut Validator, field: &str, raw: Option<&str>) -> Option<i64> {
    let raw = raw?.trim();
    v.check(field, Timestamp::parse_rfc3339(raw))
        .map(Timestamp::as_millis)
}

/// Sets statuses inside `tx` and returns the changes made.
pub(super) async fn apply_statuses(
    tx: &mut keel_platform::db::Tx,
    targets: impl IntoIterator<Item = (i64, String, ComponentStatus)>,
    now: Timestamp,
) -> sqlx::Result<Vec<Change>> {
    let mut changes = Vec::new();
    for (id, name, status) in targets {
        if let Some(old) = store::set_component_status(tx, id, status, now).await? {
            changes.push(Change {
                component_id: id,
                name,
                old_status: old,
                new_status: status,
            });
        }
    }
    Ok(changes)
}

/// Components of `event` that no other open event on the page holds, with their names: the
/// ones an ending incident or maintenance gives back.
pub(super) async fn released_components(
    platform: &Platform,
    event: &Event,
) -> AppResult<Vec<(i64, String)>> {
    let pool = platform.db.pool();
    let others: HashSet<i64> = {
        let open: HashSet<i64> = event_store::events(pool, event.page_id, i64::MAX)
            .await?
            .into_iter()
            .filter(|e| e.id != event.id && e.resolved_at.is_none())
            .map(|e| e.id)
            .collect();
        event_store::event_components(pool, event.page_id)
            .await?
            .into_iter()
            .filter(|(e, _)| open.contains(e))
            .map(|(_, c)| c)
            .collect()
    };
    Ok(store::components(pool, event.page_id)
        .await?
        .into_iter()
        .filter(|c| event.component_ids.contains(&c.id) && !others.contains(&c.id))
        .map(|c| (c.id, c.name))
        .collect())
}

/// Opens an incident (`kind` incident) or schedules a maintenance.
pub async fn create(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
    maintenance: bool,
    input: UpdateInput,
    meta: &ClientMeta,
) -> AppResult<Event> {
    visible_page(platform, principal, page_id).await?;
    let now = platform.now();
    let mut v = Validator::new();
    let name = v.check(
        "name",
        keel_platform::domain::bounded_text(input.name.as_deref().unwrap_or_default(), 200),
    );
    let text = body(&mut v, input.body.as_deref());
    let targets = component_targets(platform, page_id, &mut v, &input.components).await?;
    let (status, impact, scheduled_for, scheduled_until) = if maintenance {
        let from = time(&mut v, "scheduled_for", input.scheduled_for.as_deref());
        let until = time(&mut v, "scheduled_until", input.scheduled_until.as_deref());
        match (from, until) {
            (None, _) if !v.is_empty() => {}
            (None, _) => v.add("scheduled_for", "is required"),
            (_, None) => v.add("scheduled_until", "is required"),
            (Some(f), Some(u)) if u <= f => v.add("scheduled_until", "must be after scheduled_for"),
            _ => {}
        }
        let status = match input.status.as_deref() {
            Some(raw) => v.check("status", MaintenanceStatus::parse(raw)),
            None => Some(MaintenanceStatus::Scheduled),
        };
        if status == Some(MaintenanceStatus::Completed) {
            v.add("status", "a new maintenance cannot be completed already");
        }
        (
            status.map(|s| s.as_str()),
            Some(Impact::Maintenance),
            from,
            until,
        )
    } else {
        let status = match input.status.as_deref() {
            Some(raw) => v.check("status", IncidentStatus::parse(raw)),
            None => Some(IncidentStatus::Investigating),
        };
        if status == Some(IncidentStatus::Resolved) {
            v.add("status", "a new incident cannot be resolved already");
        }
        let impact = match input.impact.as_deref() {
            Some("maintenance") => {
                v.add(
                    "impact",
                    "incidents have none, minor, major or critical impact",
                );
                None
            }
            Some(raw) => v.check("impact", Impact::parse(raw)),
            None => Some(Impact::Minor),
        };
        (status.map(|s| s.as_str()), impact, None, None)
    };
    v.finish().map_err(AppError::Validation)?;
    let (name, status, impact) = (
        name.expect("validated"),
        status.expect("validated"),
        impact.expect("validated"),
    );
    let started_at = scheduled_for.unwrap_or(now.as_millis());
    let mut tx = platform.db.begin().await?;
    let row = event_store::insert_event(
        &mut *tx,
        &NewEvent {
            page_id,
            kind: if maintenance {
                "maintenance"
            } else {
                "incident"
            },
            name: &name,
            status,
            impact,
            scheduled_for,
            scheduled_until,
            auto_transition: maintenance && input.auto_transition.unwrap_or(true),
            started_at,
        },
        now,
    )
    .await?;
    let ids: Vec<i64> = targets.keys().copied().collect();
    event_store::set_event_components(&mut tx, row.id, &ids).await?;
    let under = maintenance
        .then(|| MaintenanceStatus::parse(status).ok())
        .flatten()
        .filter(|s| *s != MaintenanceStatus::Scheduled)
        .map(super::model::maintenance_component_status);
    let statuses: Vec<_> = targets
        .into_iter()
        .filter_map(|(id, (name, status))| {
            let status = if maintenance { under } else { status };
            status.map(|s| (id, name, s))
        })
        .collect();
    let changes = apply_statuses(&mut tx, statuses, now).await?;
    let update_id = event_store::insert_update(
        &mut *tx,
        row.id,
        status,
        &text,
        &serde_json::to_string(&changes).map_err(anyhow::Error::from)?,
        input.notify,
        now,
    )
    .await?;
    if input.notify {
        let notice = Notice {
            page_id,
            event_id: Some(row.id),
            update_id: Some(update_id),
            change: None,
            at: now,
        };
        notices::queue(&mut *tx, &notice, now).await?;
    }
    commit_change(
        tx,
        page_id,
        now,
        &Actor::user(principal, meta),
        if maintenance {
            "status_maintenance.created"
        } else {
            "status_incident.created"
        },
        json!({"event_id": row.id, "name": name, "status": status}),
    )
    .await?;
    one_event(platform, page_id, row.id).await
}

/// Adds an update to an incident or maintenance: a new status, a message, component changes.
pub async fn post_update(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
    id: i64,
    input: UpdateInput,
    meta: &ClientMeta,
) -> AppResult<Event> {
    let event = visible_event(platform, principal, page_id, id).await?;
    let now = platform.now();
    let mut v = Validator::new();
    let text = body(&mut v, input.body.as_deref());
    let targets = component_targets(platform, page_id, &mut v, &input.components).await?;
    let status = match input.status.as_deref() {
        None => Some(event.status.clone()),
        Some(raw) if event.is_maintenance() => v
            .check("status", MaintenanceStatus::parse(raw))
            .map(|s| s.as_str().to_string()),
        Some(raw) => v
            .check("status", IncidentStatus::parse(raw))
            .map(|s| s.as_str().to_string()),
    };
    let impact = match input.impact.as_deref() {
        Some(_) if event.is_maintenance() => {
            v.add("impact", "a maintenance's impact is always maintenance");
            None
        }
        Some(raw) => v.check("impact", Impact::parse(raw)),
        None => Some(event.impact),
    };
    v.finish().map_err(AppError::Validation)?;
    let (status, impact) = (status.expect("validated"), impact.expect("validated"));
    let ends = status == "resolved" || status == "completed";
    let ended = event.resolved_at.map(Timestamp::as_millis);
    let mut all: Vec<i64> = event.component_ids.clone();
    all.extend(
        targets
            .keys()
            .filter(|id| !all.contains(id))
            .collect::<Vec<_>>(),
    );
    let mut statuses: Vec<(i64, String, ComponentStatus)> = Vec::new();
    for (cid, (name, wanted)) in &targets {
        let wanted = if event.is_maintenance() {
            MaintenanceStatus::parse(&status)
                .ok()
                .map(super::model::maintenance_component_status)
        } else {
            *wanted
        };
        if let Some(s) = wanted {
            statuses.push((*cid, name.clone(), s));
        }
    }
    if event.is_maintenance() && !ends {
        let under = super::model::maintenance_component_status(
            MaintenanceStatus::parse(&status).unwrap_or(MaintenanceStatus::Scheduled),
        );
        let names = component_names(platform, page_id).await?;
        for cid in &event.component_ids {
            if !targets.contains_key(cid) {
                let name = names.get(cid).cloned().unwrap_or_default();
                statuses.push((*cid, name, under));
            }
        }
    }
    if ends {
        // Components this update does not mention go back to operational, unless another open
        // incident or maintenance still holds them.
        let mut ending = event.clone();
        ending.component_ids = all.clone();
        for (cid, name) in released_components(platform, &ending).await? {
            let given = targets.get(&cid).and_then(|(_, status)| *status);
            if given.is_none() || event.is_maintenance() {
                statuses.retain(|(c, _, _)| *c != cid);
                statuses.push((cid, name, ComponentStatus::Operational));
            }
        }
    }
    let mut tx = platform.db.begin().await?;
    let changed = event_store::update_event(
        &mut *tx,
        id,
        &event.status,
        &EventChanges {
            name: &event.name,
            status: &status,
            impact,
            postmortem: &event.postmortem,
            scheduled_for: event.scheduled_for.map(Timestamp::as_millis),
            scheduled_until: event.scheduled_until.map(Timestamp::as_millis),
            monitoring_at: event
                .monitoring_at
                .map(Timestamp::as_millis)
                .or((status == "monitoring").then_some(now.as_millis())),
            resolved_at: if ends {
                ended.or(Some(now.as_millis()))
            } else {
                None
            },
        },
        now,
    )
    .await?;
    if !changed {
        return Err(AppError::Conflict(
            "the incident changed meanwhile; reload and try again".into(),
        ));
    }
    event_store::set_event_components(&mut tx, id, &all).await?;
    let changes = apply_statuses(&mut tx, statuses, now).await?;
    let update_id = event_store::insert_update(
        &mut *tx,
        id,
        &status,
        &text,
        &serde_json::to_string(&changes).map_err(anyhow::Error::from)?,
        input.notify,
        now,
    )
    .await?;
    if input.notify {
        let notice = Notice {
            page_id,
            event_id: Some(id),
            update_id: Some(update_id),
            change: None,
            at: now,
        };
        notices::queue(&mut *tx, &notice, now).await?;
    }
    commit_change(
        tx,
        page_id,
        now,
        &Actor::user(principal, meta),
        "status_event.updated",
        json!({"event_id": id, "status": status}),
    )
    .await?;
    one_event(platform, page_id, id).await
}

/// The names of a page's components by id, read once for a whole update.
pub(super) async fn component_names(
    platform: &Platform,
    page_id: i64,
) -> AppResult<std::collections::HashMap<i64, String>> {
    Ok(store::components(platform.db.pool(), page_id)
        .await?
        .into_iter()
        .map(|c| (c.id, c.name))
        .collect())
}

/// Edits what an event says without adding an update: its name, and the postmortem.
pub async fn edit(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
    id: i64,
    name: Option<String>,
    postmortem: Option<String>,
    meta: &ClientMeta,
) -> AppResult<Event> {
    let event = visible_event(platform, principal, page_id, id).await?;
    let mut v = Validator::new();
    let name = match name {
        Some(raw) => v.check("name", keel_platform::domain::bounded_text(&raw, 200)),
        None => Some(event.name.clone()),
    };
    let postmortem = postmortem
        .map(|p| p.trim().to_string())
        .unwrap_or_else(|| event.postmortem.clone());
    if postmortem.chars().count() > 50_000 {
        v.add("postmortem", "must be at most 50000 characters");
    }
    v.finish().map_err(AppError::Validation)?;
    let name = name.expect("validated");
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    event_store::update_event(
        &mut *tx,
        id,
        &event.status,
        &EventChanges {
            name: &name,
            status: &event.status,
            impact: event.impact,
            postmortem: &postmortem,
            scheduled_for: event.scheduled_for.map(Timestamp::as_millis),
            scheduled_until: event.scheduled_until.map(Timestamp::as_millis),
            monitoring_at: event.monitoring_at.map(Timestamp::as_millis),
            resolved_at: event.resolved_at.map(Timestamp::as_millis),
        },
        now,
    )
    .await?;
    commit_change(
        tx,
        page_id,
        now,
        &Actor::user(principal, meta),
        "status_event.edited",
        json!({"event_id": id, "name": name, "postmortem_chars": postmortem.chars().count()}),
    )
    .await?;
    one_event(platform, page_id, id).await
}

/// Removes an event from the page (its component history stays: it happened).
pub async fn delete(
    platform: &Platform,
    principal: &Principal,
    page_id: i64,
    id: i64,
    meta: &ClientMeta,
) -> AppResult<()> {
    let page = visible_page(platform, principal, page_id).await?;
    keel_platform::authz::require_team_manage(platform, principal, page.team_id).await?;
    let event = one_event(platform, page_id, id).await?;
    let now = platform.now();
    let mut tx = platform.db.begin().await?;
    event_store::delete_event(&mut *tx, id).await?;
    commit_change(
        tx,
        page_id,
        now,
        &Actor::user(principal, meta),
        "status_event.deleted",
        json!({"event_id": id, "name": event.name}),
    )
    .await?;
    Ok(())
}
