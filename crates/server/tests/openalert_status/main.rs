//! Status pages over HTTP on SQLite and PostgreSQL: the Statuspage-compatible JSON field by
//! field, the public page and feeds, uptime history, maintenances moving on their own (injected
//! clock), escaping, private pages and team isolation, and the management pages.

#[path = "../common/mod.rs"]
mod common;

use std::time::Duration;

use common::{Backend, Receiver, SmtpServer, TestApp, eventually, send};
use serde_json::{Value, json};

const HOUR: Duration = Duration::from_secs(3600);

/// A team with a manager (the admin's client) and a member, and helpers for one status page.
struct StatusFixture<'a> {
    app: &'a TestApp,
    team: i64,
    member: reqwest::Client,
    page: i64,
    slug: String,
}

impl<'a> StatusFixture<'a> {
    async fn new(app: &'a TestApp, slug: &str, time_zone: &str) -> Self {
        app.setup_admin().await;
        let team = app.create_team("Web").await;
        let (member_id, member) = app.member("ops@example.com").await;
        app.add_member(team, member_id, "member").await;
        let page = common::post(
            app,
            &app.client,
            "/api/v1/status-pages",
            json!({"team_id": team, "name": "Acme", "slug": slug, "time_zone": time_zone}),
        )
        .await["id"]
            .as_i64()
            .unwrap();
        Self {
            app,
            team,
            member,
            page,
            slug: slug.into(),
        }
    }

    fn path(&self, rest: &str) -> String {
        format!("/api/v1/status-pages/{}{rest}", self.page)
    }

    async fn group(&self, name: &str) -> i64 {
        common::post(
            self.app,
            &self.app.client,
            &self.path("/groups"),
            json!({"name": name}),
        )
        .await["id"]
            .as_i64()
            .unwrap()
    }

    async fn component(&self, name: &str, group: Option<i64>) -> i64 {
        common::post(
            self.app,
            &self.app.client,
            &self.path("/components"),
            json!({"name": name, "group_id": group}),
        )
        .await["id"]
            .as_i64()
            .unwrap()
    }

    async fn incident(&self, body: Value) -> Value {
        common::post(self.app, &self.member, &self.path("/incidents"), body).await
    }

    async fn maintenance(&self, body: Value) -> Value {
        common::post(self.app, &self.member, &self.path("/maintenances"), body).await
    }

    async fn update(&self, event: i64, body: Value) -> Value {
        common::post(
            self.app,
            &self.member,
            &self.path(&format!("/events/{event}/updates")),
            body,
        )
        .await
    }

    /// A public document, read without signing in.
    async fn public(&self, document: &str) -> Value {
        self.visitor()
            .get(&format!("/status/{}/api/v2/{document}", self.slug))
            .await
            .json_ok()
    }

    async fn public_text(&self, path: &str) -> (u16, String) {
        let answer = self
            .visitor()
            .get(&format!("/status/{}{path}", self.slug))
            .await;
        (answer.status, answer.text)
    }

    /// Requests as a reader of the public page: no cookies of ours, no origin.
    fn visitor(&self) -> common::Api<'a> {
        self.app.api(&common::client())
    }

    async fn component_status(&self, id: i64) -> String {
        let all = self.public("components.json").await;
        all["components"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"].as_str() == Some(id.to_string().as_str()))
            .unwrap()["status"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

mod management;
mod public;
mod subscribers;
