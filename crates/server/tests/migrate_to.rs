//! `keel migrate-to`: an embedded installation with people, incidents and contacts moves to
//! PostgreSQL, and keel started there is the same keel.

mod common;

use std::process::Command;
use std::sync::Arc;

use common::{Backend, PASSWORD, TestApp, TestDatabase};
use serde_json::{Value, json};

fn migrate_to(data_dir: &std::path::Path, secret: &str, target: &str) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keel"));
    for (key, _) in std::env::vars() {
        if key.starts_with("KEEL_") {
            cmd.env_remove(key);
        }
    }
    cmd.arg("--data-dir")
        .arg(data_dir)
        .env("KEEL_SECRET_KEY", secret)
        .env("NO_COLOR", "1")
        .args(["migrate-to", "--database-url", target])
        .output()
        .unwrap()
}

/// What a person sees of the installation: incidents with their timelines, and contacts
/// found by search.
async fn what_people_see(app: &TestApp) -> (Vec<Value>, Value, Value) {
    let mut incidents = app.incidents("").await;
    incidents.sort_by_key(|i| i["id"].as_i64());
    let first = app.incident(incidents[0]["id"].as_i64().unwrap()).await;
    let found = app
        .admin_api()
        .get("/api/v1/crm/contacts?q=lovelace")
        .await
        .json_ok();
    (incidents, first["timeline"].clone(), found)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_installation_moves_to_postgres_whole() {
    if common::postgres_url().is_none() {
        return;
    }
    let embedded = TestApp::spawn(Backend::Sqlite).await;
    embedded.setup_admin().await;
    let team = embedded.create_team("Ops").await;
    let (_, key) = embedded.service_with_events_v2(team, "db").await;
    for n in 0..3 {
        embedded.trigger(&key, &format!("disk-{n}")).await;
    }
    let admin = embedded.admin_api();
    let contact = admin
        .create_contact(json!({"given_name": "Ada", "family_name": "Lovelace",
            "emails": [{"value": "ada@example.com"}], "notes": "engines"}))
        .await;
    admin
        .log_interaction(
            json!({"contact_ids": [contact], "kind": "call", "subject": "the engine",
            "summary": "talked numbers", "occurred_at": "2026-11-01T10:00:00Z"}),
        )
        .await;
    // The engine has taken each incident's first step (there is no one to page).
    for incident in embedded.incidents("").await {
        let id = incident["id"].as_i64().unwrap();
        common::eventually(std::time::Duration::from_secs(10), || async {
            let timeline = embedded.incident(id).await["timeline"].clone();
            timeline
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["kind"] == "escalation_none")
                .then_some(())
        })
        .await
        .expect("the engine took the first step");
    }
    let before = what_people_see(&embedded).await;
    let secret = common::settings_for(&embedded.db).secret_key.unwrap();
    let source = embedded.db.clone();
    embedded.stop().await;

    let target = Arc::new(TestDatabase::new(Backend::Postgres).await);
    let out = migrate_to(source.dir(), &secret, &target.url);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        printed.contains("crm_contacts") && printed.contains("oa_incidents"),
        "{printed}"
    );

    let moved = TestApp::spawn_on(target.clone(), common::settings_for(&target)).await;
    moved
        .login(&moved.client, "admin@example.com", PASSWORD)
        .await;
    assert_eq!(what_people_see(&moved).await, before);
    // Ids go on after the copied ones: a new incident and a new contact are stored.
    let newer = moved.trigger(&key, "disk-new").await;
    assert!(newer > before.0.last().unwrap()["id"].as_i64().unwrap());
    moved
        .admin_api()
        .create_contact(json!({"given_name": "Grace"}))
        .await;

    // Into a database that holds keel data already: refused, nothing touched.
    let again = migrate_to(source.dir(), &secret, &target.url);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds keel data"));
    assert_eq!(moved.incidents("").await.len(), 4);
    moved.stop().await;
}
