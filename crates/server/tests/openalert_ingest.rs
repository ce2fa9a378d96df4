//! OpenAlert ingestion and incidents over HTTP, on SQLite and PostgreSQL, with the exact
//! bodies real monitoring tools send.

mod common;

use std::time::Duration;

use common::{Backend, TestApp, eventually};
use serde_json::{Value, json};

on_both_backends!(
    events_v2_trigger_dedup_acknowledge_resolve,
    alertmanager_firing_duplicate_and_resolved,
    grafana_and_generic_bodies_open_incidents,
    bad_input_gets_the_documented_4xx_and_stores_nothing,
    per_integration_rate_limit_answers_429,
    heartbeat_silence_opens_and_the_next_ping_resolves,
    maintenance_windows_record_without_paging,
    teams_see_only_their_services_and_incidents,
    people_acknowledge_resolve_note_reassign_and_bulk,
    acknowledgement_timeout_retriggers_and_quiet_incidents_auto_resolve,
    pages_show_incidents_and_work_their_buttons,
    concurrent_senders_are_grouped_without_losing_or_doubling,
);

const PD: &str = include_str!("../../openalert/tests/fixtures/pagerduty.json");
const PD_RESOLVED: &str = include_str!("../../openalert/tests/fixtures/pagerduty_resolved.json");
const AM: &str = include_str!("../../openalert/tests/fixtures/webhook.json");
const AM_RESOLVED: &str = include_str!("../../openalert/tests/fixtures/webhook_resolved.json");

/// An admin, a team and a service on a fresh server.
async fn service(app: &TestApp) -> (i64, i64) {
    app.setup_admin().await;
    let team = app.create_team("Payments").await;
    let response = app
        .client
        .post(app.url("/api/v1/services"))
        .json(&json!({"team_id": team, "name": "checkout", "urgency_rule": "severity"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    (
        team,
        response.json::<Value>().await.unwrap()["id"]
            .as_i64()
            .unwrap(),
    )
}

async fn integration(app: &TestApp, service: i64, kind: &str, extra: Value) -> Value {
    let mut body = json!({"type": kind, "name": format!("{kind} source")});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let response = app
        .client
        .post(app.url(&format!("/api/v1/services/{service}/integrations")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn incidents(app: &TestApp, query: &str) -> Vec<Value> {
    let page: Value = app
        .client
        .get(app.url(&format!("/api/v1/incidents?{query}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["incidents"].as_array().unwrap().clone()
}

fn with_routing_key(body: &str, key: &str) -> String {
    body.replace("0123456789abcdef0123456789abcdef", key)
}

async fn events_v2_trigger_dedup_acknowledge_resolve(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let issued = integration(&app, service, "events_v2", json!({})).await;
    let key = issued["key"].as_str().unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(
        issued["ingest_url"],
        app.url("/v2/enqueue")
            .replace(&app.base, &app.platform.config.base_url())
    );
    let body = with_routing_key(PD, key);

    let sender = reqwest::Client::new();
    let first = sender
        .post(app.url("/v2/enqueue"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 202);
    let answer: Value = first.json().await.unwrap();
    assert_eq!(
        answer,
        json!({"status": "success", "message": "Event processed", "dedup_key": "3b9894625c6a8ca3a5afae611a9312f313014d2c7fc4957e022e022f39b41646"})
    );
    let again = sender
        .post(app.url("/v2/enqueue"))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 202);

    let open = incidents(&app, "status=open").await;
    assert_eq!(open.len(), 1, "same dedup key, one incident");
    let incident = &open[0];
    assert_eq!(incident["number"], 1);
    assert_eq!(incident["status"], "triggered");
    assert_eq!(
        incident["urgency"], "high",
        "error severity is high urgency under the severity rule"
    );
    assert_eq!(incident["alert_count"], 2);
    assert_eq!(
        incident["title"],
        "[FIRING:1] HighLatency (web-1 checkout critical)"
    );

    let ack = json!({"routing_key": key, "event_action": "acknowledge", "dedup_key": incident["dedup_key"]});
    assert_eq!(
        sender
            .post(app.url("/v2/enqueue"))
            .json(&ack)
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    let detail: Value = app
        .client
        .get(app.url(&format!("/api/v1/incidents/{}", incident["id"])))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "acknowledged");
    assert_eq!(detail["alerts"].as_array().unwrap().len(), 2);
    assert_eq!(detail["alerts"][0]["details"]["num_firing"], "1");
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["triggered", "alert_added", "acknowledged"]);

    let resolved = sender
        .post(app.url("/v2/enqueue"))
        .body(with_routing_key(PD_RESOLVED, key))
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 202);
    let detail: Value = app
        .client
        .get(app.url(&format!("/api/v1/incidents/{}", incident["id"])))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "resolved");
    assert_eq!(detail["resolved_how"], "source");

    // A resolve for a key nobody knows is accepted and does nothing.
    let stray = json!({"routing_key": key, "event_action": "resolve", "dedup_key": "never-seen"});
    assert_eq!(
        sender
            .post(app.url("/v2/enqueue"))
            .json(&stray)
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    // A new trigger after resolution opens incident #2.
    sender
        .post(app.url("/v2/enqueue"))
        .body(body)
        .send()
        .await
        .unwrap();
    let all = incidents(&app, "").await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["number"], 2);
    // A summary over PagerDuty's 1,024 characters is cut, and the sender is told so.
    let long = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "long",
        "payload": {"summary": "é".repeat(1500), "source": "db-1", "severity": "info"}});
    let answer: Value = sender
        .post(app.url("/v2/enqueue"))
        .json(&long)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["status"], "success");
    assert!(answer["warnings"][0].as_str().unwrap().contains("1024"));
    let cut = incidents(&app, "").await;
    assert_eq!(cut[0]["title"].as_str().unwrap().chars().count(), 1024);
    app.stop().await;
}

async fn alertmanager_firing_duplicate_and_resolved(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let issued = integration(&app, service, "alertmanager", json!({})).await;
    let url = issued["ingest_url"]
        .as_str()
        .unwrap()
        .replace(&app.platform.config.base_url(), &app.base);
    let sender = reqwest::Client::new();
    for _ in 0..3 {
        let r = sender
            .post(&url)
            .header("content-type", "application/json")
            .body(AM)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }
    let open = incidents(&app, "status=open").await;
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0]["alert_count"], 1,
        "Alertmanager re-deliveries change nothing"
    );
    assert_eq!(open[0]["urgency"], "high");
    assert_eq!(open[0]["title"], "HighLatency: p99 latency high");
    let detail: Value = app
        .client
        .get(app.url(&format!("/api/v1/incidents/{}", open[0]["id"])))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        detail["alerts"][0]["details"]["labels"]["instance"],
        "web-1"
    );
    assert_eq!(
        detail["alerts"][0]["details"]["annotations"]["description"],
        "p99 > 2s for 5m"
    );

    let r = sender.post(&url).body(AM_RESOLVED).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let all = incidents(&app, "").await;
    assert_eq!(all[0]["status"], "resolved");
    assert_eq!(all[0]["resolved_how"], "source");
    // Duplicate resolved notifications are harmless too.
    assert_eq!(
        sender
            .post(&url)
            .body(AM_RESOLVED)
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(incidents(&app, "").await.len(), 1);
    app.stop().await;
}

async fn grafana_and_generic_bodies_open_incidents(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let grafana = integration(&app, service, "grafana", json!({})).await;
    let generic = integration(&app, service, "generic", json!({})).await;
    let local = |v: &Value| {
        v["ingest_url"]
            .as_str()
            .unwrap()
            .replace(&app.platform.config.base_url(), &app.base)
    };
    let body = json!({
        "receiver": "keel", "status": "firing", "orgId": 1, "title": "[FIRING:1] DiskFull", "state": "alerting", "message": "disk almost full",
        "groupKey": "{}:{alertname=\"DiskFull\"}", "version": "1", "externalURL": "http://grafana:3000/",
        "alerts": [{"status": "firing", "labels": {"alertname": "DiskFull", "severity": "warning"}, "annotations": {"summary": "/var at 97%"},
                    "startsAt": "2026-11-23T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "f00d", "values": {"B": 97.1},
                    "dashboardURL": "http://grafana:3000/d/abc", "panelURL": "http://grafana:3000/d/abc?viewPanel=1"}]
    });
    assert_eq!(
        reqwest::Client::new()
            .post(local(&grafana))
            .json(&body)
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    let generic_url = local(&generic);
    let r = reqwest::Client::new().post(&generic_url).json(&json!({"summary": "backup failed", "severity": "critical", "dedup_key": "backup/nightly", "details": {"host": "db-1"}})).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let open = incidents(&app, "status=open").await;
    assert_eq!(open.len(), 2);
    let disk = open
        .iter()
        .find(|i| i["title"] == "DiskFull: /var at 97%")
        .expect("grafana incident");
    assert_eq!(
        disk["urgency"], "low",
        "warning is low urgency under the severity rule"
    );
    let r = reqwest::Client::new()
        .post(&generic_url)
        .json(&json!({"action": "resolve", "dedup_key": "backup/nightly"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_eq!(incidents(&app, "status=open").await.len(), 1);
    app.stop().await;
}

async fn bad_input_gets_the_documented_4xx_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let v2 = integration(&app, service, "events_v2", json!({})).await;
    let am = integration(&app, service, "alertmanager", json!({})).await;
    let key = v2["key"].as_str().unwrap();
    let am_url = am["ingest_url"]
        .as_str()
        .unwrap()
        .replace(&app.platform.config.base_url(), &app.base);
    let sender = reqwest::Client::new();

    let malformed = sender
        .post(app.url("/v2/enqueue"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 400);
    let body: Value = malformed.json().await.unwrap();
    assert_eq!(body["status"], "invalid event");
    assert_eq!(body["message"], "Event object is invalid");
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    let wrong_types = json!({"routing_key": key, "event_action": "trigger", "payload": {"summary": 5, "source": "x", "severity": "bad"}});
    let body: Value = sender
        .post(app.url("/v2/enqueue"))
        .json(&wrong_types)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let errors: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert!(
        errors.iter().any(|e| e.contains("payload.summary"))
            && errors.iter().any(|e| e.contains("payload.severity")),
        "{errors:?}"
    );

    let unknown = json!({"routing_key": "x".repeat(32), "event_action": "trigger", "payload": {"summary": "s", "source": "x", "severity": "info"}});
    let r = sender
        .post(app.url("/v2/enqueue"))
        .json(&unknown)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("does not match any integration")
    );

    let huge = format!(
        r#"{{"routing_key":"{key}","event_action":"trigger","payload":{{"summary":"s","source":"x","severity":"info","custom_details":"{}"}}}}"#,
        "x".repeat(600 * 1024)
    );
    assert_eq!(
        // Its own connection: the server answers 413 without reading the body, then closes it.
        reqwest::Client::new()
            .post(app.url("/v2/enqueue"))
            .body(huge)
            .send()
            .await
            .unwrap()
            .status(),
        413
    );

    let r = sender
        .post(&am_url)
        .body(r#"{"alerts": "nope"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = sender
        .post(app.url("/integrations/alertmanager/unknownkeyunknownkeyunknownkey12"))
        .body(AM)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = sender
        .post(app.url(&format!(
            "/integrations/grafana/{}",
            am["key"].as_str().unwrap()
        )))
        .body(AM)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a key only works at its own type's URL");

    // Disabled integrations are refused; rotating a key retires the old one.
    let id = am["id"].as_i64().unwrap();
    let r = app
        .client
        .patch(app.url(&format!("/api/v1/integrations/{id}")))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        sender.post(&am_url).body(AM).send().await.unwrap().status(),
        403
    );
    app.client
        .patch(app.url(&format!("/api/v1/integrations/{id}")))
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    let rotated: Value = app
        .client
        .post(app.url(&format!("/api/v1/integrations/{id}/rotate")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_ne!(rotated["key"], am["key"]);
    assert_eq!(
        sender.post(&am_url).body(AM).send().await.unwrap().status(),
        404
    );

    assert!(
        incidents(&app, "").await.is_empty(),
        "nothing was stored by refused requests"
    );
    let bad_service = app
        .client
        .post(app.url("/api/v1/services"))
        .json(&json!({"name": "", "urgency_rule": "loud", "auto_resolve_minutes": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_service.status(), 422);
    let fields: Vec<String> = bad_service.json::<Value>().await.unwrap()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        fields,
        ["team_id", "name", "urgency_rule", "auto_resolve_minutes"]
    );
    let bad_kind = app
        .client
        .post(app.url(&format!("/api/v1/services/{service}/integrations")))
        .json(&json!({"type": "pigeon", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_kind.status(), 422);
    app.stop().await;
}

async fn per_integration_rate_limit_answers_429(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let v2 = integration(
        &app,
        service,
        "events_v2",
        json!({"rate_limit_per_minute": 2}),
    )
    .await;
    let body = with_routing_key(PD, v2["key"].as_str().unwrap());
    let sender = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(
            sender
                .post(app.url("/v2/enqueue"))
                .body(body.clone())
                .send()
                .await
                .unwrap(),
        );
    }
    let last = statuses.pop().unwrap();
    assert_eq!(last.status(), 429);
    assert!(
        last.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(
        last.json::<Value>().await.unwrap()["status"],
        "throttle event"
    );
    assert_eq!(
        incidents(&app, "").await[0]["alert_count"],
        2,
        "the refused event was not stored"
    );
    app.stop().await;
}

async fn heartbeat_silence_opens_and_the_next_ping_resolves(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let hb = integration(&app, service, "heartbeat", json!({"heartbeat_seconds": 60})).await;
    let url = hb["ingest_url"]
        .as_str()
        .unwrap()
        .replace(&app.platform.config.base_url(), &app.base);
    assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    app.clock.advance(Duration::from_secs(30));
    keel_openalert::engine::cycle(&app.platform).await.unwrap();
    assert!(
        incidents(&app, "status=open").await.is_empty(),
        "within the interval"
    );
    app.clock.advance(Duration::from_secs(31));
    keel_openalert::engine::cycle(&app.platform).await.unwrap();
    keel_openalert::engine::cycle(&app.platform).await.unwrap();
    let open = incidents(&app, "status=open").await;
    assert_eq!(open.len(), 1, "one incident however many cycles run");
    assert_eq!(open[0]["title"], "Heartbeat missed: heartbeat source");
    assert_eq!(
        reqwest::Client::new()
            .post(&url)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(
        incidents(&app, "status=open").await.is_empty(),
        "the next ping resolves it"
    );
    app.stop().await;
}

async fn maintenance_windows_record_without_paging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let v2 = integration(&app, service, "events_v2", json!({})).await;
    let now = app.platform.now();
    let window = json!({"starts_at": now.minus(Duration::from_secs(60)).to_string(), "ends_at": now.plus(Duration::from_secs(3600)).to_string(), "description": "db upgrade"});
    let r = app
        .client
        .post(app.url(&format!("/api/v1/services/{service}/maintenance-windows")))
        .json(&window)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let backwards = json!({"starts_at": now.to_string(), "ends_at": now.minus(Duration::from_secs(1)).to_string()});
    let r = app
        .client
        .post(app.url(&format!("/api/v1/services/{service}/maintenance-windows")))
        .json(&backwards)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // The page's pickers give local times in the zone chosen beside them.
    let r = app
        .client
        .post(app.url(&format!("/openalert/services/{service}/maintenance")))
        .form(&[
            ("starts_at", "2030-01-01T10:00"),
            ("ends_at", "2030-01-01T12:00"),
            ("window_time_zone", "Europe/Berlin"),
            ("window_description", "planned"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let page = app
        .page_text(&app.client, &format!("/openalert/services/{service}"))
        .await;
    assert!(page.contains("2030-01-01T09:00:00.000Z"), "10:00 in Berlin");
    let r = app
        .client
        .post(app.url(&format!("/openalert/services/{service}/maintenance")))
        .form(&[
            ("starts_at", "2030-01-01T10:00"),
            ("ends_at", "2030-01-01T12:00"),
            ("window_time_zone", "Mars/Olympus"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("unknown time zone"));

    let body = with_routing_key(PD, v2["key"].as_str().unwrap());
    assert_eq!(
        reqwest::Client::new()
            .post(app.url("/v2/enqueue"))
            .body(body.clone())
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert!(
        incidents(&app, "").await.is_empty(),
        "no page during maintenance"
    );
    let recorded =
        keel_openalert::store::incidents::list_suppressed(app.platform.db.pool(), service, 10)
            .await
            .unwrap();
    assert_eq!(recorded.len(), 1, "but the alert is recorded");

    app.clock.advance(Duration::from_secs(3601));
    assert_eq!(
        reqwest::Client::new()
            .post(app.url("/v2/enqueue"))
            .body(body)
            .send()
            .await
            .unwrap()
            .status(),
        202
    );
    assert_eq!(incidents(&app, "").await.len(), 1);
    app.stop().await;
}

async fn teams_see_only_their_services_and_incidents(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let v2 = integration(&app, service, "events_v2", json!({})).await;
    reqwest::Client::new()
        .post(app.url("/v2/enqueue"))
        .body(with_routing_key(PD, v2["key"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    let incident_id = incidents(&app, "").await[0]["id"].as_i64().unwrap();

    let other_team = app.create_team("Search").await;
    let (outsider_id, outsider) = app.member("eve@example.com").await;
    app.add_member(other_team, outsider_id, "manager").await;
    for path in [
        format!("/api/v1/services/{service}"),
        format!("/api/v1/incidents/{incident_id}"),
        format!("/api/v1/services/{service}/integrations"),
    ] {
        assert_eq!(
            outsider.get(app.url(&path)).send().await.unwrap().status(),
            404,
            "{path}"
        );
    }
    assert_eq!(
        outsider
            .post(app.url(&format!("/api/v1/incidents/{incident_id}/acknowledge")))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let listed: Value = outsider
        .get(app.url("/api/v1/incidents"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(listed["incidents"].as_array().unwrap().is_empty());
    let services: Vec<Value> = outsider
        .get(app.url("/api/v1/services"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(services.is_empty());
    let steal = outsider
        .post(app.url(&format!("/api/v1/services/{service}/integrations")))
        .json(&json!({"type": "generic", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(steal.status(), 404);
    let into_other = outsider
        .post(app.url("/api/v1/services"))
        .json(&json!({"team_id": 1, "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(into_other.status(), 422);
    let bulk: Value = outsider
        .post(app.url("/api/v1/incidents/bulk"))
        .json(&json!({"action": "resolve", "ids": [incident_id]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bulk[0]["result"], "not_found");
    assert_eq!(incidents(&app, "").await[0]["status"], "triggered");
    app.stop().await;
}

async fn people_acknowledge_resolve_note_reassign_and_bulk(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (team, service) = service(&app).await;
    let (alice_id, alice) = app.member("alice@example.com").await;
    app.add_member(team, alice_id, "member").await;
    let created = alice
        .post(app.url("/api/v1/incidents"))
        .json(&json!({"service_id": service, "title": "Checkout is slow", "urgency": "low"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap();

    let ack: Value = alice
        .post(app.url(&format!("/api/v1/incidents/{id}/acknowledge")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ack["status"], "acknowledged");
    assert_eq!(ack["acknowledged_by"], alice_id);
    let detail: Value = alice
        .get(app.url(&format!("/api/v1/incidents/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        detail["assignees"][0]["user_id"], alice_id,
        "acknowledging an incident nobody owns takes it"
    );
    let page = app
        .page_text(&alice, &format!("/openalert/incidents/{id}"))
        .await;
    assert!(!page.contains("Assign to me"), "already hers");
    assert!(
        page.contains("<strong>Acknowledged</strong>"),
        "the timeline speaks words"
    );
    let note = alice
        .post(app.url(&format!("/api/v1/incidents/{id}/notes")))
        .json(&json!({"text": "rolled back deploy 42"}))
        .send()
        .await
        .unwrap();
    assert_eq!(note.status(), 201);
    let empty = alice
        .post(app.url(&format!("/api/v1/incidents/{id}/notes")))
        .json(&json!({"text": "  "}))
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 422);
    let reassigned: Value = alice
        .post(app.url(&format!("/api/v1/incidents/{id}/reassign")))
        .json(&json!({"user_ids": [alice_id]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reassigned["assignees"][0]["email"], "alice@example.com");
    let (bob_id, _) = app.member("bob@example.com").await;
    let outsider = alice
        .post(app.url(&format!("/api/v1/incidents/{id}/reassign")))
        .json(&json!({"user_ids": [bob_id]}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        outsider.status(),
        422,
        "assignees must be able to see the incident"
    );
    let resolved: Value = alice
        .post(app.url(&format!("/api/v1/incidents/{id}/resolve")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["resolved_how"], "user");
    let late_ack = alice
        .post(app.url(&format!("/api/v1/incidents/{id}/acknowledge")))
        .send()
        .await
        .unwrap();
    assert_eq!(late_ack.status(), 409);

    let detail: Value = alice
        .get(app.url(&format!("/api/v1/incidents/{id}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = detail["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "triggered",
            "acknowledged",
            "note",
            "reassigned",
            "resolved"
        ]
    );
    assert_eq!(detail["timeline"][1]["actor"], "alice@example.com");

    let mut ids = Vec::new();
    for n in 0..3 {
        let r: Value = app
            .client
            .post(app.url("/api/v1/incidents"))
            .json(&json!({"service_id": service, "title": format!("bulk {n}")}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(r["id"].as_i64().unwrap());
    }
    ids.push(999_999);
    let outcome: Vec<Value> = app
        .client
        .post(app.url("/api/v1/incidents/bulk"))
        .json(&json!({"action": "acknowledge", "ids": ids}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let results: Vec<&str> = outcome
        .iter()
        .map(|o| o["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["ok", "ok", "ok", "not_found"]);
    assert_eq!(incidents(&app, "status=acknowledged").await.len(), 3);
    let audit: Value = app
        .client
        .get(app.url("/api/v1/audit-events?action=incident."))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(audit["events"].as_array().unwrap().len() >= 8);
    let filtered = incidents(&app, "status=resolved&urgency=low").await;
    assert_eq!(filtered.len(), 1);
    let bad = app
        .client
        .get(app.url("/api/v1/incidents?status=sleeping"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    app.stop().await;
}

async fn acknowledgement_timeout_retriggers_and_quiet_incidents_auto_resolve(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let r = app
        .client
        .patch(app.url(&format!("/api/v1/services/{service}")))
        .json(&json!({"ack_timeout_minutes": 30, "auto_resolve_minutes": 240}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let created: Value = app
        .client
        .post(app.url("/api/v1/incidents"))
        .json(&json!({"service_id": service, "title": "flaky"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_i64().unwrap();
    app.client
        .post(app.url(&format!("/api/v1/incidents/{id}/acknowledge")))
        .send()
        .await
        .unwrap();
    app.clock.advance(Duration::from_secs(29 * 60));
    keel_openalert::engine::cycle(&app.platform).await.unwrap();
    assert_eq!(incidents(&app, "").await[0]["status"], "acknowledged");
    app.clock.advance(Duration::from_secs(2 * 60));
    let retriggered = eventually(Duration::from_secs(5), || async {
        let list = incidents(&app, "").await;
        (list[0]["status"] == "triggered").then_some(())
    })
    .await;
    assert!(
        retriggered.is_some(),
        "the running engine re-triggers after the timeout"
    );
    app.clock.advance(Duration::from_secs(240 * 60));
    keel_openalert::engine::cycle(&app.platform).await.unwrap();
    let list = incidents(&app, "").await;
    assert_eq!(list[0]["status"], "resolved");
    assert_eq!(list[0]["resolved_how"], "timeout");
    app.stop().await;
}

async fn pages_show_incidents_and_work_their_buttons(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    // The service page shows a new key once, with a ready-to-paste Alertmanager snippet.
    let page = app
        .client
        .post(app.url(&format!("/openalert/services/{service}/integrations")))
        .form(&[("type", "alertmanager"), ("integration_name", "prod AM")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("webhook_configs:") && html.contains("/integrations/alertmanager/"),
        "snippet shown"
    );
    let again = app
        .client
        .get(app.url(&format!("/openalert/services/{service}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !again.contains("webhook_configs:"),
        "the key is shown only once"
    );
    assert!(again.contains("prod AM"));

    let created = app
        .client
        .post(app.url("/openalert/incidents"))
        .form(&[
            ("service_id", service.to_string().as_str()),
            ("title", "Payments down"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 303);
    let location = created.headers()["location"].to_str().unwrap().to_string();
    let detail = app
        .client
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(detail.contains("Payments down") && detail.contains("Acknowledge"));
    let list = app
        .client
        .get(app.url("/openalert"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(list.contains("Payments down") && list.contains("data-live=\"incident.\""));

    let ack = app
        .client
        .post(app.url(&format!("{location}/acknowledge")))
        .send()
        .await
        .unwrap();
    assert_eq!(ack.status(), 303);
    let note = app
        .client
        .post(app.url(&format!("{location}/notes")))
        .form(&[("text", "looking at the DB")])
        .send()
        .await
        .unwrap();
    assert_eq!(note.status(), 303);
    let empty_note = app
        .client
        .post(app.url(&format!("{location}/notes")))
        .form(&[("text", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(empty_note.status(), 422);
    let detail = app
        .client
        .get(app.url(&location))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(detail.contains("looking at the DB") && detail.contains("acknowledged"));
    let id = location.rsplit('/').next().unwrap();
    let bulk = app
        .client
        .post(app.url("/openalert/incidents/bulk"))
        .form(&[("ids", id), ("action", "resolve")])
        .send()
        .await
        .unwrap();
    assert_eq!(bulk.status(), 303);
    assert_eq!(incidents(&app, "").await[0]["status"], "resolved");
    for path in ["/openalert/services", "/openalert?status=all"] {
        assert_eq!(
            app.client.get(app.url(path)).send().await.unwrap().status(),
            200,
            "{path}"
        );
    }
    app.stop().await;
}

async fn concurrent_senders_are_grouped_without_losing_or_doubling(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let v2 = integration(&app, service, "events_v2", json!({})).await;
    let am = integration(&app, service, "alertmanager", json!({})).await;
    let key = v2["key"].as_str().unwrap().to_string();
    let am_url = am["ingest_url"]
        .as_str()
        .unwrap()
        .replace(&app.platform.config.base_url(), &app.base);
    let sender = reqwest::Client::new();
    let mut sends = Vec::new();
    for i in 0..200 {
        let body = json!({"routing_key": key, "event_action": "trigger", "dedup_key": format!("k{}", i % 20),
                          "payload": {"summary": format!("event {i}"), "source": "load", "severity": "warning"}});
        let request = sender.post(app.url("/v2/enqueue")).json(&body);
        sends.push(tokio::spawn(async move {
            request.send().await.unwrap().status()
        }));
    }
    for _ in 0..20 {
        let request = sender.post(&am_url).body(AM);
        sends.push(tokio::spawn(async move {
            request.send().await.unwrap().status()
        }));
    }
    for send in sends {
        assert_eq!(send.await.unwrap(), 202);
    }
    let all = incidents(&app, "limit=500").await;
    assert_eq!(all.len(), 21, "20 dedup keys and one Alertmanager group");
    let total: i64 = all.iter().map(|i| i["alert_count"].as_i64().unwrap()).sum();
    assert_eq!(
        total, 201,
        "every v2 event kept; Alertmanager duplicates dropped"
    );
    let mut numbers: Vec<i64> = all.iter().map(|i| i["number"].as_i64().unwrap()).collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=21).collect::<Vec<_>>());
    for incident in &all {
        let detail: Value = app
            .client
            .get(app.url(&format!("/api/v1/incidents/{}", incident["id"])))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            detail["alerts"].as_array().unwrap().len() as i64,
            incident["alert_count"].as_i64().unwrap()
        );
        let alert_entries = detail["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "triggered" || e["kind"] == "alert_added")
            .count();
        assert_eq!(
            alert_entries as i64,
            incident["alert_count"].as_i64().unwrap(),
            "one timeline entry per alert"
        );
    }
    app.stop().await;
}
