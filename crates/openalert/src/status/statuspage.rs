//! The Statuspage v2 public JSON documents (`summary.json`, `components.json`, …), with its
//! field names and value sets, so aggregators and widgets written for it read us unchanged.
//! Times are in the page's time zone with offset and milliseconds, as there.

use jiff::tz::TimeZone;
use keel_platform::domain::Timestamp;
use serde_json::{Value, json};

use super::events::Event;
use super::model::ComponentStatus;
use super::public::PublicView;

fn time(tz: &TimeZone, at: Timestamp) -> String {
    at.to_jiff()
        .to_zoned_datetime(tz.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string()
}

fn opt_time(tz: &TimeZone, at: Option<Timestamp>) -> Value {
    at.map_or(Value::Null, |t| Value::String(time(tz, t)))
}

fn page(v: &PublicView) -> Value {
    json!({
        "id": v.page.id.to_string(),
        "name": v.page.name,
        "url": v.url,
        "time_zone": v.page.time_zone,
        "updated_at": time(&v.tz, v.page.updated_at),
    })
}

fn status(v: &PublicView) -> Value {
    json!({"indicator": v.indicator.as_str(), "description": v.description})
}

/// Components and groups (a group is a component with `group: true` listing its members).
fn components(v: &PublicView) -> Vec<Value> {
    let page_id = v.page.id.to_string();
    let mut out: Vec<Value> = v
        .components
        .iter()
        .map(|c| {
            let c = &c.component;
            json!({
                "id": c.id.to_string(),
                "name": c.name,
                "status": c.status,
                "created_at": time(&v.tz, c.created_at),
                "updated_at": time(&v.tz, c.updated_at),
                "position": c.position,
                "description": (!c.description.is_empty()).then_some(&c.description),
                "showcase": true,
                "start_date": c.created_at.to_jiff().to_zoned_datetime(v.tz.clone()).date().to_string(),
                "group_id": c.group_id.map(|g| format!("g{g}")),
                "page_id": page_id,
                "group": false,
                "only_show_if_degraded": false,
            })
        })
        .collect();
    for g in &v.groups {
        let members: Vec<_> = v
            .components
            .iter()
            .filter(|c| c.component.group_id == Some(g.id))
            .collect();
        let worst = members
            .iter()
            .map(|c| c.component.status)
            .max()
            .unwrap_or(ComponentStatus::Operational);
        out.push(json!({
            "id": format!("g{}", g.id),
            "name": g.name,
            "status": worst,
            "created_at": time(&v.tz, Timestamp::from_millis(g.created_at)),
            "updated_at": time(&v.tz, Timestamp::from_millis(g.updated_at)),
            "position": g.position,
            "description": null,
            "showcase": false,
            "start_date": null,
            "group_id": null,
            "page_id": page_id,
            "group": true,
            "only_show_if_degraded": false,
            "components": members.iter().map(|c| c.component.id.to_string()).collect::<Vec<_>>(),
        }));
    }
    out
}

fn event(v: &PublicView, e: &Event) -> Value {
    let id = e.id.to_string();
    let updates: Vec<Value> = e
        .updates
        .iter()
        .map(|u| {
            let affected: Vec<Value> = u
                .changes
                .iter()
                .map(|c| {
                    json!({
                        "code": c.component_id.to_string(),
                        "name": c.name,
                        "old_status": c.old_status,
                        "new_status": c.new_status,
                    })
                })
                .collect();
            json!({
                "id": u.id.to_string(),
                "status": u.status,
                "body": u.body,
                "incident_id": id,
                "created_at": time(&v.tz, u.created_at),
                "updated_at": time(&v.tz, u.created_at),
                "display_at": time(&v.tz, u.created_at),
                "affected_components": (!affected.is_empty()).then_some(affected),
                "deliver_notifications": u.notify,
                "custom_tweet": null,
                "tweet_id": null,
            })
        })
        .collect();
    let components: Vec<Value> = components(v)
        .into_iter()
        .filter(|c| {
            c["id"]
                .as_str()
                .and_then(|id| id.parse::<i64>().ok())
                .is_some_and(|id| e.component_ids.contains(&id))
        })
        .collect();
    let mut doc = json!({
        "id": id,
        "name": e.name,
        "status": e.status,
        "created_at": time(&v.tz, e.created_at),
        "updated_at": time(&v.tz, e.updated_at),
        "monitoring_at": opt_time(&v.tz, e.monitoring_at),
        "resolved_at": opt_time(&v.tz, e.resolved_at),
        "impact": e.impact,
        "shortlink": format!("{}/incidents/{}", v.url.trim_end_matches('/'), e.id),
        "started_at": time(&v.tz, e.started_at),
        "page_id": v.page.id.to_string(),
        "incident_updates": updates,
        "components": components,
    });
    if e.is_maintenance() {
        doc["scheduled_for"] = opt_time(&v.tz, e.scheduled_for);
        doc["scheduled_until"] = opt_time(&v.tz, e.scheduled_until);
    }
    doc
}

fn incidents<'a>(v: &'a PublicView, pick: impl Fn(&Event) -> bool + 'a) -> Vec<Value> {
    v.events
        .iter()
        .filter(|e| !e.is_maintenance() && pick(e))
        .map(|e| event(v, e))
        .collect()
}

fn maintenances<'a>(v: &'a PublicView, pick: impl Fn(&Event) -> bool + 'a) -> Vec<Value> {
    v.events
        .iter()
        .filter(|e| e.is_maintenance() && pick(e))
        .map(|e| event(v, e))
        .collect()
}

/// The document at `name` (e.g. `summary.json`), or `None` when there is no such document.
pub fn document(v: &PublicView, name: &str) -> Option<Value> {
    let upcoming = |e: &Event| e.status == "scheduled";
    let active = |e: &Event| e.is_open() && e.status != "scheduled";
    Some(match name {
        "summary.json" => json!({
            "page": page(v),
            "components": components(v),
            "incidents": incidents(v, Event::is_open),
            "scheduled_maintenances": maintenances(v, Event::is_open),
            "status": status(v),
        }),
        "status.json" => json!({"page": page(v), "status": status(v)}),
        "components.json" => json!({"page": page(v), "components": components(v)}),
        "incidents.json" => json!({"page": page(v), "incidents": incidents(v, |_| true)}),
        "incidents/unresolved.json" => {
            json!({"page": page(v), "incidents": incidents(v, Event::is_open)})
        }
        "scheduled-maintenances.json" => {
            json!({"page": page(v), "scheduled_maintenances": maintenances(v, |_| true)})
        }
        "scheduled-maintenances/upcoming.json" => {
            json!({"page": page(v), "scheduled_maintenances": maintenances(v, upcoming)})
        }
        "scheduled-maintenances/active.json" => {
            json!({"page": page(v), "scheduled_maintenances": maintenances(v, active)})
        }
        _ => return None,
    })
}

/// The document names served under `api/v2/`.
pub const DOCUMENTS: &[&str] = &[
    "summary.json",
    "status.json",
    "components.json",
    "incidents.json",
    "incidents/unresolved.json",
    "scheduled-maintenances.json",
    "scheduled-maintenances/upcoming.json",
    "scheduled-maintenances/active.json",
];
