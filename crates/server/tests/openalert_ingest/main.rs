//! OpenAlert ingestion and incidents over HTTP, on SQLite and PostgreSQL, with the exact
//! bodies real monitoring tools send.

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use common::{Backend, TestApp, eventually};
use serde_json::{Value, json};

const PD: &str = include_str!("../../../openalert/tests/fixtures/pagerduty.json");
const PD_RESOLVED: &str = include_str!("../../../openalert/tests/fixtures/pagerduty_resolved.json");
const AM: &str = include_str!("../../../openalert/tests/fixtures/webhook.json");
const AM_RESOLVED: &str = include_str!("../../../openalert/tests/fixtures/webhook_resolved.json");

/// An admin, a team and a service (urgency by severity) on a fresh server: (team, service).
async fn service(app: &TestApp) -> (i64, i64) {
    app.setup_admin().await;
    let team = app.create_team("Payments").await;
    let service = app
        .create_service_with(team, "checkout", json!({"urgency_rule": "severity"}))
        .await;
    (team, service)
}

/// An Events API v2 and an Alertmanager integration on `service`, as issued.
async fn v2_and_alertmanager(app: &TestApp, service: i64) -> (Value, Value) {
    let v2 = app
        .create_integration(service, "events_v2", json!({}))
        .await;
    let am = app
        .create_integration(service, "alertmanager", json!({}))
        .await;
    (v2, am)
}

fn with_routing_key(body: &str, key: &str) -> String {
    body.replace("0123456789abcdef0123456789abcdef", key)
}

mod formats;
mod incidents;
mod quiet;
mod two_nodes;
