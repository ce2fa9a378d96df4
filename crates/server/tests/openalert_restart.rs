//! The real `keel` binary killed with SIGKILL: in the middle of an escalation, the next level
//! is notified exactly once when it starts again (checked on a real SMTP server); in the
//! middle of a delivery, another node on the same database finishes it within the job lease.

mod common;

use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Backend, Receiver, SmtpServer, TestDatabase, eventually};
use serde_json::{Value, json};

on_both_backends!(
    sigkill_mid_escalation_notifies_the_next_level_exactly_once,
    a_delivery_cut_by_sigkill_is_finished_by_another_node_within_the_lease,
);

const PASSWORD: &str = "correct horse battery staple";

fn keel(db: &TestDatabase, smtp_port: u16) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
    for (key, _) in std::env::vars() {
        if key.starts_with("KEEL_") {
            cmd.env_remove(key);
        }
    }
    cmd.arg("--data-dir")
        .arg(db.dir())
        .env("KEEL_DATABASE_URL", &db.url)
        .env(
            "KEEL_SECRET_KEY",
            "restart-test-secret-key-0123456789abcdef",
        )
        .env("KEEL_SMTP_URL", format!("smtp://127.0.0.1:{smtp_port}"))
        .env("RUST_LOG", "warn")
        .env("NO_COLOR", "1");
    cmd
}

/// Starts `keel serve` with the extra `env`; returns the process and its base URL.
fn serve(db: &TestDatabase, smtp_port: u16, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = keel(db, smtp_port)
        .envs(env.iter().copied())
        .args(["--listen", "127.0.0.1:0", "serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    (child, url)
}

fn kill(mut server: Child) {
    server.kill().unwrap();
    server.wait().unwrap();
}

/// Creates the admin `lead@example.com` with the CLI and returns an API token of theirs.
fn admin_token(db: &TestDatabase, smtp_port: u16) -> String {
    let mut child = keel(db, smtp_port)
        .args([
            "user",
            "create",
            "--email",
            "lead@example.com",
            "--password-stdin",
            "--admin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(PASSWORD.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let token = keel(db, smtp_port)
        .args([
            "token",
            "create",
            "--user",
            "lead@example.com",
            "--name",
            "test",
        ])
        .output()
        .unwrap();
    String::from_utf8(token.stdout).unwrap().trim().to_string()
}

/// The API of one node, as the admin.
struct Api {
    client: reqwest::Client,
    token: String,
    url: String,
}

impl Api {
    fn new(url: &str, token: &str) -> Self {
        Self {
            client: common::client(),
            token: token.into(),
            url: url.into(),
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .client
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn get(&self, path: &str) -> Value {
        self.call(reqwest::Method::GET, path, Value::Null).await
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.call(reqwest::Method::POST, path, body).await
    }

    /// A team "Ops" of the admin and `members`, with a service paged through `levels`;
    /// returns the service's Events API routing key.
    async fn service_with_policy(&self, members: &[&Value], levels: Value) -> String {
        let team = self.post("/api/v1/teams", json!({"name": "Ops"})).await;
        for member in members {
            self.post(
                &format!("/api/v1/teams/{}/members", team["id"]),
                json!({"user_id": member["id"], "role": "member"}),
            )
            .await;
        }
        let policy = self
            .post(
                "/api/v1/escalation-policies",
                json!({"team_id": team["id"], "name": "on call", "levels": levels}),
            )
            .await;
        let service = self
            .post(
                "/api/v1/services",
                json!({"team_id": team["id"], "name": "db", "escalation_policy_id": policy["id"]}),
            )
            .await;
        let integration = self
            .post(
                &format!("/api/v1/services/{}/integrations", service["id"]),
                json!({"type": "events_v2", "name": "pd"}),
            )
            .await;
        integration["key"].as_str().unwrap().to_string()
    }

    /// Triggers `db-down` and returns its incident's id.
    async fn trigger(&self, routing_key: &str) -> i64 {
        let accepted = self
            .client
            .post(format!("{}/v2/enqueue", self.url))
            .json(&json!({"routing_key": routing_key, "event_action": "trigger", "dedup_key": "db-down", "payload": {"summary": "db down", "source": "probe", "severity": "critical"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(accepted.status(), 202);
        self.get("/api/v1/incidents").await["incidents"][0]["id"]
            .as_i64()
            .unwrap()
    }

    async fn user_id(&self) -> i64 {
        self.get("/api/v1/me").await["user"]["id"].as_i64().unwrap()
    }
}

/// Messages the SMTP server received for `to`.
fn mail_to(smtp: &SmtpServer, to: &str) -> usize {
    smtp.messages()
        .iter()
        .filter(|m| m.contains(&format!("To: {to}")))
        .count()
}

async fn sigkill_mid_escalation_notifies_the_next_level_exactly_once(backend: Backend) {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    smtp.wait_ready().await;
    let db = TestDatabase::new(backend).await;
    let token = admin_token(&db, smtp.port);
    let (server, url) = serve(&db, smtp.port, &[]);
    let api = Api::new(&url, &token);
    let lead = api.user_id().await;
    let second = api
        .post(
            "/api/v1/users",
            json!({"email": "second@example.com", "name": "Second", "password": PASSWORD}),
        )
        .await;
    let key = api
        .service_with_policy(
            &[&second],
            json!([
            {"delay_minutes": 1, "targets": [{"type": "user", "id": lead}]},
            {"delay_minutes": 1, "targets": [{"type": "user", "id": second["id"]}]}
            ]),
        )
        .await;
    let id = api.trigger(&key).await;
    let triggered_at = Instant::now();

    // Level 1 delivered and recorded as sent; then the server dies without warning.
    let sent = eventually(Duration::from_secs(20), || async {
        let d = api.get(&format!("/api/v1/incidents/{id}")).await;
        let recorded = d["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["status"] == "sent");
        (recorded && mail_to(&smtp, "lead@example.com") == 1).then_some(())
    })
    .await;
    assert!(sent.is_some(), "level 1 was not notified");
    kill(server);

    let (server, url) = serve(&db, smtp.port, &[]);
    let api = Api::new(&url, &token);
    // Level 2 is due a minute after the trigger.
    let reached = eventually(Duration::from_secs(90), || async {
        (mail_to(&smtp, "second@example.com") >= 1).then_some(())
    })
    .await;
    assert!(
        reached.is_some(),
        "level 2 was never notified after the restart"
    );
    eprintln!(
        "level 2 notified {:?} after the trigger (due after 60 s)",
        triggered_at.elapsed()
    );
    // A few more engine cycles: nothing is sent twice.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(mail_to(&smtp, "second@example.com"), 1);
    assert_eq!(mail_to(&smtp, "lead@example.com"), 1);
    let d = api.get(&format!("/api/v1/incidents/{id}")).await;
    let escalated = d["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "escalated")
        .count();
    assert_eq!(escalated, 2);
    kill(server);
}

/// The lead's webhook pager, verified, paging them at once for every incident.
async fn webhook_pager(api: &Api, hook: &Receiver) {
    let method = api
        .post(
            "/api/v1/me/contact-methods",
            json!({"kind": "webhook", "address": format!("{}/pager", hook.url)}),
        )
        .await;
    let code = common::code_in(&hook.wait_for("/pager", 1).await[0].body);
    api.post(
        &format!("/api/v1/me/contact-methods/{}/verify", method["id"]),
        json!({"code": code}),
    )
    .await;
    for urgency in ["high", "low"] {
        api.post(
            "/api/v1/me/notification-rules",
            json!({"contact_method_id": method["id"], "urgency": urgency, "delay_minutes": 0}),
        )
        .await;
    }
}

async fn a_delivery_cut_by_sigkill_is_finished_by_another_node_within_the_lease(backend: Backend) {
    let Some(smtp) = SmtpServer::start() else {
        return;
    };
    smtp.wait_ready().await;
    let db = TestDatabase::new(backend).await;
    let token = admin_token(&db, smtp.port);
    let env = [
        ("KEEL_JOB_LEASE_SECONDS", "3"),
        ("KEEL_OUTBOUND_ALLOWED_NETWORKS", "127.0.0.1/32"),
    ];
    let hook = Receiver::start().await;
    let (first, url) = serve(&db, smtp.port, &env);
    let api = Api::new(&url, &token);
    webhook_pager(&api, &hook).await;
    let lead = api.user_id().await;
    let key = api
        .service_with_policy(
            &[],
            json!([{"delay_minutes": 5, "targets": [{"type": "user", "id": lead}]}]),
        )
        .await;

    // The pager takes the request and never answers; the node dies while it waits.
    hook.stall(true);
    let id = api.trigger(&key).await;
    let cut = hook.wait_for("/pager", 2).await;
    kill(first);
    let died = Instant::now();
    hook.stall(false);

    let (second, url) = serve(&db, smtp.port, &env);
    let api = Api::new(&url, &token);
    let sent = eventually(Duration::from_secs(30), || async {
        let d = api.get(&format!("/api/v1/incidents/{id}")).await;
        let notifications = d["notifications"].as_array().unwrap().clone();
        notifications
            .iter()
            .any(|n| n["status"] == "sent")
            .then_some(notifications)
    })
    .await
    .expect("the other node never finished the delivery");
    eprintln!(
        "delivered by the other node {:?} after the first died (lease 3 s)",
        died.elapsed()
    );
    assert_eq!(sent.len(), 1, "one notification: {sent:#?}");
    // The retry is the same delivery: the provider can tell by its idempotency key.
    let pages = hook.wait_for("/pager", 3).await;
    assert_eq!(pages.len(), 3, "one cut request and one retry: {pages:#?}");
    let key_of = |r: &common::Received| {
        r.headers
            .get("idempotency-key")
            .map(|v| v.to_str().unwrap().to_string())
    };
    assert!(key_of(&cut[1]).is_some());
    assert_eq!(key_of(&cut[1]), key_of(&pages[2]));
    kill(second);
}
