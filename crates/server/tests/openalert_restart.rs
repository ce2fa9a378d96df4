//! The real `keel` binary killed with SIGKILL in the middle of an escalation: when it starts
//! again, the next level is notified exactly once (checked on a real SMTP server).

mod common;

use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{Backend, SmtpServer, TestDatabase, eventually};
use serde_json::{Value, json};

on_both_backends!(sigkill_mid_escalation_notifies_the_next_level_exactly_once);

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

/// Starts `keel serve` and returns it with its base URL.
fn serve(db: &TestDatabase, smtp_port: u16) -> (Child, String) {
    let mut child = keel(db, smtp_port)
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

async fn call(
    client: &reqwest::Client,
    token: &str,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> Value {
    let response = client
        .request(method, &url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
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

    let mut create = keel(&db, smtp.port);
    create.args([
        "user",
        "create",
        "--email",
        "lead@example.com",
        "--password-stdin",
        "--admin",
    ]);
    let mut child = create
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
    let token = keel(&db, smtp.port)
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
    let token = String::from_utf8(token.stdout).unwrap().trim().to_string();

    let (mut server, url) = serve(&db, smtp.port);
    let client = common::client();
    let post = reqwest::Method::POST;
    let team = call(
        &client,
        &token,
        post.clone(),
        format!("{url}/api/v1/teams"),
        json!({"name": "Ops"}),
    )
    .await;
    let lead = call(
        &client,
        &token,
        reqwest::Method::GET,
        format!("{url}/api/v1/me"),
        json!(null),
    )
    .await;
    let second = call(
        &client,
        &token,
        post.clone(),
        format!("{url}/api/v1/users"),
        json!({"email": "second@example.com", "name": "Second", "password": PASSWORD}),
    )
    .await;
    call(
        &client,
        &token,
        post.clone(),
        format!("{url}/api/v1/teams/{}/members", team["id"]),
        json!({"user_id": second["id"], "role": "member"}),
    )
    .await;
    let policy = call(
        &client,
        &token,
        post.clone(),
        format!("{url}/api/v1/escalation-policies"),
        json!({"team_id": team["id"], "name": "two levels", "levels": [
            {"delay_minutes": 1, "targets": [{"type": "user", "id": lead["user"]["id"]}]},
            {"delay_minutes": 1, "targets": [{"type": "user", "id": second["id"]}]}
        ]}),
    )
    .await;
    let service = call(
        &client,
        &token,
        post.clone(),
        format!("{url}/api/v1/services"),
        json!({"team_id": team["id"], "name": "db", "escalation_policy_id": policy["id"]}),
    )
    .await;
    let integration = call(
        &client,
        &token,
        post.clone(),
        format!("{url}/api/v1/services/{}/integrations", service["id"]),
        json!({"type": "events_v2", "name": "pd"}),
    )
    .await;
    let accepted = client
        .post(format!("{url}/v2/enqueue"))
        .json(&json!({"routing_key": integration["key"], "event_action": "trigger", "dedup_key": "db-down", "payload": {"summary": "db down", "source": "probe", "severity": "critical"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let triggered_at = std::time::Instant::now();

    // Level 1 delivered and recorded as sent; then the server dies without warning.
    let incidents = call(
        &client,
        &token,
        reqwest::Method::GET,
        format!("{url}/api/v1/incidents"),
        json!(null),
    )
    .await;
    let id = incidents["incidents"][0]["id"].as_i64().unwrap();
    let sent = eventually(Duration::from_secs(20), || async {
        let d = call(
            &client,
            &token,
            reqwest::Method::GET,
            format!("{url}/api/v1/incidents/{id}"),
            json!(null),
        )
        .await;
        (d["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["status"] == "sent")
            && mail_to(&smtp, "lead@example.com") == 1)
            .then_some(())
    })
    .await;
    assert!(sent.is_some(), "level 1 was not notified");
    server.kill().unwrap();
    server.wait().unwrap();

    let (mut server, url) = serve(&db, smtp.port);
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
    let d = call(
        &client,
        &token,
        reqwest::Method::GET,
        format!("{url}/api/v1/incidents/{id}"),
        json!(null),
    )
    .await;
    let escalated = d["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "escalated")
        .count();
    assert_eq!(escalated, 2);
    server.kill().unwrap();
    server.wait().unwrap();
}
