//! Data retention with an injected clock, on SQLite and PostgreSQL: what is older than its
//! retention period goes (in batches), what is newer stays, and incidents outlive their alerts.

mod common;

use std::time::{Duration, SystemTime};

use common::{Backend, PASSWORD, TestApp};
use keel_platform::domain::Timestamp;
use serde_json::json;

on_both_backends!(
    old_records_go_and_recent_ones_stay,
    the_ai_ledger_goes_by_whole_months,
);

fn at(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

async fn event(app: &TestApp, key: &str, action: &str, dedup_key: &str) {
    let answer = app
        .new_client()
        .post(app.url("/v2/enqueue"))
        .json(&json!({"routing_key": key, "event_action": action, "dedup_key": dedup_key,
            "payload": {"summary": format!("{dedup_key} failing"), "source": "db1", "severity": "critical"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
        .fetch_one(app.platform.db.pool())
        .await
        .unwrap()
}

async fn old_records_go_and_recent_ones_stay(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let long_ago = at("2026-01-01T00:00:00Z");
    app.clock.set(long_ago);
    app.setup_admin().await;
    let team = app.create_team("Ops").await;
    let (_, key) = app.service_with_events_v2(team, "api").await;
    // Long ago: one incident that fired and cleared, one that is still open.
    event(&app, &key, "trigger", "settled").await;
    event(&app, &key, "resolve", "settled").await;
    event(&app, &key, "trigger", "still-open").await;
    // More audit records than one batch, and a dead letter.
    let t = long_ago.as_millis();
    for chunk in 0..5 {
        let rows: Vec<String> = (0..250)
            .map(|n| {
                format!(
                    "({t}, 'cli', 'test.filler', 'test', '{}', '', '{{}}')",
                    chunk * 250 + n
                )
            })
            .collect();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO audit_events (at, actor, action, target_type, target_id, ip, details) VALUES {}",
            rows.join(", ")
        )))
        .execute(app.platform.db.pool())
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO jobs (kind, payload, status, run_at, attempts, max_attempts, created_at, updated_at) \
         VALUES ('test.gone', '{}', 'dead', $1, 8, 8, $1, $1)",
    )
    .bind(t)
    .execute(app.platform.db.pool())
    .await
    .unwrap();

    // Fourteen months later: a new alert, a new audit record, a mail written today.
    let now = at("2027-03-01T00:00:00Z");
    app.clock.set(now);
    event(&app, &key, "trigger", "fresh").await;
    // (The session from long ago has ended.)
    app.login(&app.client, "admin@example.com", PASSWORD).await;
    app.create_team("Later").await;
    let mail = app.db.dir().join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    std::fs::write(mail.join("old.eml"), "Subject: old\r\n\r\nold").unwrap();
    std::fs::write(mail.join("new.eml"), "Subject: new\r\n\r\nnew").unwrap();
    let today = SystemTime::UNIX_EPOCH + Duration::from_millis(now.as_millis() as u64);
    std::fs::File::options()
        .write(true)
        .open(mail.join("new.eml"))
        .unwrap()
        .set_modified(today)
        .unwrap();

    keel_server::prune(&app.platform).await.unwrap();

    // Alerts: the settled incident's are gone, the open one's lost only its raw body, and
    // the fresh one is whole. Every incident is still there.
    let alerts: Vec<(String, String)> =
        sqlx::query_as("SELECT dedup_key, raw FROM oa_alerts ORDER BY id")
            .fetch_all(app.platform.db.pool())
            .await
            .unwrap();
    let keys: Vec<&str> = alerts.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["still-open", "fresh"]);
    assert_eq!(alerts[0].1, "{}");
    assert!(alerts[1].1.contains("fresh failing"), "{}", alerts[1].1);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM oa_incidents").await, 3);

    // Audit: everything from long ago went, in batches; this year's stays.
    let cutoff = now.as_millis() - 365 * 86_400_000;
    let old = count(
        &app,
        &format!("SELECT COUNT(*) FROM audit_events WHERE at < {cutoff}"),
    )
    .await;
    assert_eq!(old, 0);
    let recent = count(
        &app,
        "SELECT COUNT(*) FROM audit_events WHERE action = 'team.created'",
    )
    .await;
    assert_eq!(recent, 1, "the team created today is still on record");
    assert_eq!(
        count(&app, "SELECT COUNT(*) FROM jobs WHERE status = 'dead'").await,
        0
    );
    assert!(!mail.join("old.eml").exists());
    assert!(mail.join("new.eml").exists());

    // A second pass finds nothing more to do.
    keel_server::prune(&app.platform).await.unwrap();
    assert_eq!(count(&app, "SELECT COUNT(*) FROM oa_alerts").await, 2);
    app.stop().await;
}

/// One AI call on the ledger at `at`, with its month's spend.
async fn ai_call(app: &TestApp, user_id: i64, at: Timestamp) {
    let month = keel_mindfulcrm::ai::ledger::month_of(at);
    let fields = keel_mindfulcrm::store::LedgerFields {
        user_id,
        feature: "summary",
        provider: "local",
        model: "small",
        month: &month,
        input_tokens: 100,
        reserved_micros: 10,
        outcome: "ok",
        detail: None,
    };
    let mut tx = app.platform.db.begin().await.unwrap();
    keel_mindfulcrm::store::insert_ai_ledger(&mut *tx, &fields, at)
        .await
        .unwrap();
    let scope = format!("user:{user_id}");
    assert!(
        keel_mindfulcrm::store::try_commit_ai_spend(&mut tx, &scope, &month, 10, 1_000)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
}

async fn the_ai_ledger_goes_by_whole_months(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.clock.set(at("2026-01-10T00:00:00Z"));
    let admin = app.setup_admin().await;
    let user_id = admin["user"]["id"].as_i64().unwrap();
    let contact = app
        .api(&app.client)
        .create_contact(json!({"given_name": "Grace"}))
        .await;
    // A month wholly past the 400 days, one that straddles the cut-off, one inside it, today.
    for day in [
        "2025-09-15T00:00:00Z",
        "2025-10-03T00:00:00Z",
        "2025-11-20T00:00:00Z",
        "2026-12-01T00:00:00Z",
    ] {
        ai_call(&app, user_id, at(day)).await;
    }
    // Pictures the photo finder fetched a week and more ago, and a day and a half ago.
    for (day, source) in [
        ("2026-11-23T00:00:00Z", "old"),
        ("2026-11-30T00:00:00Z", "new"),
    ] {
        sqlx::query(
            "INSERT INTO crm_photo_candidates (contact_id, user_id, source, content_type, data, created_at) \
             VALUES ($1, $2, $3, 'image/png', $4, $5)",
        )
        .bind(contact)
        .bind(user_id)
        .bind(source)
        .bind(vec![0u8; 4])
        .bind(at(day).as_millis())
        .execute(app.platform.db.pool())
        .await
        .unwrap();
    }

    // 400 days before 1 December 2026 is 27 October 2025: September goes whole; October
    // stays whole, though its first days are past the cut-off.
    app.clock.set(at("2026-12-01T12:00:00Z"));
    keel_server::prune(&app.platform).await.unwrap();
    let months: Vec<String> = sqlx::query_scalar("SELECT month FROM crm_ai_ledger ORDER BY id")
        .fetch_all(app.platform.db.pool())
        .await
        .unwrap();
    assert_eq!(months, ["2025-10", "2025-11", "2026-12"]);
    let spent: Vec<String> = sqlx::query_scalar("SELECT month FROM crm_ai_spend ORDER BY month")
        .fetch_all(app.platform.db.pool())
        .await
        .unwrap();
    assert_eq!(spent, ["2025-10", "2025-11", "2026-12"]);
    let sources: Vec<String> = sqlx::query_scalar("SELECT source FROM crm_photo_candidates")
        .fetch_all(app.platform.db.pool())
        .await
        .unwrap();
    assert_eq!(sources, ["new"]);
    app.stop().await;
}
