//! On-call: schedules, escalation policies, the escalation engine and notifications, over
//! HTTP on SQLite and PostgreSQL, with an injected clock and real HTTP receivers standing in
//! for Slack, Twilio and webhook endpoints.

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use common::{Backend, Received, Receiver, TestApp, code_in, eventually, get, mailed};
use serde_json::{Value, json};

const MINUTE: Duration = Duration::from_secs(60);

struct World {
    team: i64,
    alice: (i64, reqwest::Client),
    bob: (i64, reqwest::Client),
    service: i64,
    key: String,
}

/// Admin, a team with Alice and Bob, a service with an Events API integration.
async fn world(app: &TestApp) -> World {
    app.setup_admin().await;
    let team = app.create_team("Platform").await;
    let alice = app.member("alice@example.com").await;
    let bob = app.member("bob@example.com").await;
    app.add_member(team, alice.0, "member").await;
    app.add_member(team, bob.0, "member").await;
    let service = app.create_service(team, "api").await;
    let key = app.events_v2_key(service, "pd").await;
    World {
        team,
        alice,
        bob,
        service,
        key,
    }
}

/// An escalation level that pages one user after `delay_minutes`.
fn page_user(delay_minutes: i64, user: i64) -> Value {
    json!({"delay_minutes": delay_minutes, "targets": [{"type": "user", "id": user}]})
}

/// A policy "default" of the world's team with these levels, paging for its service.
async fn attach_policy(app: &TestApp, w: &World, levels: Value, repeat: i64) -> i64 {
    let policy = app.create_policy(w.team, "default", levels, repeat).await;
    app.attach_policy(w.service, policy).await;
    policy
}

fn entries<'a>(detail: &'a Value, kind: &str) -> Vec<&'a Value> {
    detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

/// Waits until the incident's timeline has `n` entries of `kind`; returns the detail.
async fn wait_entries(app: &TestApp, id: i64, kind: &str, n: usize) -> Value {
    let found = eventually(Duration::from_secs(10), || async {
        let d = app.incident(id).await;
        (entries(&d, kind).len() >= n).then_some(d)
    })
    .await;
    match found {
        // Read again: the detail's parts are separate reads, and the change may have landed
        // between them.
        Some(_) => app.incident(id).await,
        None => panic!(
            "expected {n} `{kind}` entries: {:#}",
            app.incident(id).await["timeline"]
        ),
    }
}

/// Waits until every notification of the incident is settled (none pending).
async fn settled_notifications(app: &TestApp, id: i64, n: usize) -> Vec<Value> {
    let found = eventually(Duration::from_secs(10), || async {
        let d = app.incident(id).await;
        let list = d["notifications"].as_array().unwrap().clone();
        (list.len() >= n && list.iter().all(|x| x["status"] != "pending")).then_some(list)
    })
    .await;
    found.unwrap_or_else(|| panic!("notifications did not settle"))
}

/// Lets a few engine cycles pass (the engine runs every second on the real clock).
async fn cycles() {
    tokio::time::sleep(Duration::from_millis(2500)).await;
}

async fn create_schedule(app: &TestApp, w: &World, body: Value) -> Value {
    let mut body = body;
    body["team_id"] = json!(w.team);
    app.admin_api().post("/api/v1/schedules", body).await.ok()
}

mod escalation;
mod notifications;
mod pages;
mod schedules;
