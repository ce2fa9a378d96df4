//! Each body format in, bad input out, rate limits, and concurrent senders.

use super::*;

crate::on_both_backends!(
    events_v2_trigger_dedup_acknowledge_resolve,
    alertmanager_firing_duplicate_and_resolved,
    grafana_and_generic_bodies_open_incidents,
    bad_input_gets_the_documented_4xx_and_stores_nothing,
    per_integration_rate_limit_answers_429,
    concurrent_senders_are_grouped_without_losing_or_doubling,
);

async fn events_v2_trigger_dedup_acknowledge_resolve(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let issued = app
        .create_integration(service, "events_v2", json!({}))
        .await;
    let key = issued["key"].as_str().unwrap();
    assert_eq!(key.len(), 32);
    assert_eq!(
        issued["ingest_url"],
        app.url("/v2/enqueue")
            .replace(&app.base, &app.platform.config.base_url())
    );
    let body = with_routing_key(PD, key);

    let sender = app.sender();
    let first = sender
        .clone()
        .header("content-type", "application/json")
        .post_body("/v2/enqueue", body.clone())
        .await
        .expect(202);
    assert_eq!(
        first.body,
        json!({"status": "success", "message": "Event processed", "dedup_key": "3b9894625c6a8ca3a5afae611a9312f313014d2c7fc4957e022e022f39b41646"})
    );
    sender
        .post_body("/v2/enqueue", body.clone())
        .await
        .expect(202);

    let open = app.incidents("status=open").await;
    assert_eq!(open.len(), 1, "same dedup key, one incident");
    let incident = &open[0];
    let id = incident["id"].as_i64().unwrap();
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
    sender.post("/v2/enqueue", ack).await.expect(202);
    let detail = app.incident(id).await;
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

    sender
        .post_body("/v2/enqueue", with_routing_key(PD_RESOLVED, key))
        .await
        .expect(202);
    let detail = app.incident(id).await;
    assert_eq!(detail["status"], "resolved");
    assert_eq!(detail["resolved_how"], "source");

    // A resolve for a key nobody knows is accepted and does nothing.
    let stray = json!({"routing_key": key, "event_action": "resolve", "dedup_key": "never-seen"});
    sender.post("/v2/enqueue", stray).await.expect(202);
    // A new trigger after resolution opens incident #2.
    sender.post_body("/v2/enqueue", body).await;
    let all = app.incidents("").await;
    assert_eq!(all.len(), 2);
    assert_eq!(all[0]["number"], 2);
    // A summary over PagerDuty's 1,024 characters is cut, and the sender is told so.
    let long = json!({"routing_key": key, "event_action": "trigger", "dedup_key": "long",
        "payload": {"summary": "é".repeat(1500), "source": "db-1", "severity": "info"}});
    let answer = sender.post("/v2/enqueue", long).await.body;
    assert_eq!(answer["status"], "success");
    assert!(answer["warnings"][0].as_str().unwrap().contains("1024"));
    let cut = app.incidents("").await;
    assert_eq!(cut[0]["title"].as_str().unwrap().chars().count(), 1024);
    app.stop().await;
}

async fn alertmanager_firing_duplicate_and_resolved(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let issued = app
        .create_integration(service, "alertmanager", json!({}))
        .await;
    let url = app.ingest_url(&issued);
    let sender = app.sender();
    for _ in 0..3 {
        sender
            .clone()
            .header("content-type", "application/json")
            .post_body(&url, AM)
            .await
            .expect(202);
    }
    let open = app.incidents("status=open").await;
    assert_eq!(open.len(), 1);
    assert_eq!(
        open[0]["alert_count"], 1,
        "Alertmanager re-deliveries change nothing"
    );
    assert_eq!(open[0]["urgency"], "high");
    assert_eq!(open[0]["title"], "HighLatency: p99 latency high");
    let detail = app.incident(open[0]["id"].as_i64().unwrap()).await;
    assert_eq!(
        detail["alerts"][0]["details"]["labels"]["instance"],
        "web-1"
    );
    assert_eq!(
        detail["alerts"][0]["details"]["annotations"]["description"],
        "p99 > 2s for 5m"
    );

    sender.post_body(&url, AM_RESOLVED).await.expect(202);
    let all = app.incidents("").await;
    assert_eq!(all[0]["status"], "resolved");
    assert_eq!(all[0]["resolved_how"], "source");
    // Duplicate resolved notifications are harmless too.
    sender.post_body(&url, AM_RESOLVED).await.expect(202);
    assert_eq!(app.incidents("").await.len(), 1);
    app.stop().await;
}

async fn grafana_and_generic_bodies_open_incidents(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let grafana = app.create_integration(service, "grafana", json!({})).await;
    let generic = app.create_integration(service, "generic", json!({})).await;
    let body = json!({
        "receiver": "keel", "status": "firing", "orgId": 1, "title": "[FIRING:1] DiskFull", "state": "alerting", "message": "disk almost full",
        "groupKey": "{}:{alertname=\"DiskFull\"}", "version": "1", "externalURL": "http://grafana:3000/",
        "alerts": [{"status": "firing", "labels": {"alertname": "DiskFull", "severity": "warning"}, "annotations": {"summary": "/var at 97%"},
                    "startsAt": "2026-11-23T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "f00d", "values": {"B": 97.1},
                    "dashboardURL": "http://grafana:3000/d/abc", "panelURL": "http://grafana:3000/d/abc?viewPanel=1"}]
    });
    app.sender()
        .post(&app.ingest_url(&grafana), body)
        .await
        .expect(202);
    let generic_url = app.ingest_url(&generic);
    app.sender().post(&generic_url, json!({"summary": "backup failed", "severity": "critical", "dedup_key": "backup/nightly", "details": {"host": "db-1"}})).await.expect(202);
    let open = app.incidents("status=open").await;
    assert_eq!(open.len(), 2);
    let disk = open
        .iter()
        .find(|i| i["title"] == "DiskFull: /var at 97%")
        .expect("grafana incident");
    assert_eq!(
        disk["urgency"], "low",
        "warning is low urgency under the severity rule"
    );
    app.sender()
        .post(
            &generic_url,
            json!({"action": "resolve", "dedup_key": "backup/nightly"}),
        )
        .await
        .expect(202);
    assert_eq!(app.incidents("status=open").await.len(), 1);
    app.stop().await;
}

async fn bad_input_gets_the_documented_4xx_and_stores_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let (v2, am) = v2_and_alertmanager(&app, service).await;
    let key = v2["key"].as_str().unwrap();
    let am_url = app.ingest_url(&am);
    let sender = app.sender();
    let admin = app.admin_api();

    let malformed = sender
        .post_body("/v2/enqueue", "{not json")
        .await
        .expect(400);
    assert_eq!(malformed.body["status"], "invalid event");
    assert_eq!(malformed.body["message"], "Event object is invalid");
    assert!(
        malformed.body["errors"][0]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    let wrong_types = json!({"routing_key": key, "event_action": "trigger", "payload": {"summary": 5, "source": "x", "severity": "bad"}});
    let body = sender.post("/v2/enqueue", wrong_types).await.body;
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
    let refused = sender.post("/v2/enqueue", unknown).await.expect(400);
    assert!(refused.text.contains("does not match any integration"));

    let huge = format!(
        r#"{{"routing_key":"{key}","event_action":"trigger","payload":{{"summary":"s","source":"x","severity":"info","custom_details":"{}"}}}}"#,
        "x".repeat(600 * 1024)
    );
    // Its own connection: the server answers 413 without reading the body, then closes it.
    app.sender()
        .post_body("/v2/enqueue", huge)
        .await
        .expect(413);

    let refused = sender
        .post_body(&am_url, r#"{"alerts": "nope"}"#)
        .await
        .expect(400);
    assert_eq!(refused.header("content-type"), "application/problem+json");
    sender
        .post_body(
            "/integrations/alertmanager/unknownkeyunknownkeyunknownkey12",
            AM,
        )
        .await
        .expect(404);
    let elsewhere = sender
        .post_body(
            &format!("/integrations/grafana/{}", am["key"].as_str().unwrap()),
            AM,
        )
        .await;
    assert_eq!(
        elsewhere.status, 404,
        "a key only works at its own type's URL"
    );

    // Disabled integrations are refused; rotating a key retires the old one.
    let id = am["id"].as_i64().unwrap();
    let integration = format!("/api/v1/integrations/{id}");
    admin
        .patch(&integration, json!({"enabled": false}))
        .await
        .expect(200);
    sender.post_body(&am_url, AM).await.expect(403);
    admin.patch(&integration, json!({"enabled": true})).await;
    let rotated = admin
        .post(&format!("{integration}/rotate"), None)
        .await
        .body;
    assert_ne!(rotated["key"], am["key"]);
    sender.post_body(&am_url, AM).await.expect(404);

    assert!(
        app.incidents("").await.is_empty(),
        "nothing was stored by refused requests"
    );
    let bad_service = admin
        .post(
            "/api/v1/services",
            json!({"name": "", "urgency_rule": "loud", "auto_resolve_minutes": 0}),
        )
        .await
        .expect(422);
    assert_eq!(
        bad_service.fields(),
        ["team_id", "name", "urgency_rule", "auto_resolve_minutes"]
    );
    admin
        .post(
            &format!("/api/v1/services/{service}/integrations"),
            json!({"type": "pigeon", "name": "x"}),
        )
        .await
        .expect(422);
    app.stop().await;
}

async fn per_integration_rate_limit_answers_429(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let v2 = app
        .create_integration(service, "events_v2", json!({"rate_limit_per_minute": 2}))
        .await;
    let body = with_routing_key(PD, v2["key"].as_str().unwrap());
    let sender = app.sender();
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.push(sender.post_body("/v2/enqueue", body.clone()).await);
    }
    let last = answers.pop().unwrap().expect(429);
    assert!(last.header("retry-after").parse::<u64>().unwrap() >= 1);
    assert_eq!(last.body["status"], "throttle event");
    assert_eq!(
        app.incidents("").await[0]["alert_count"],
        2,
        "the refused event was not stored"
    );
    app.stop().await;
}

async fn concurrent_senders_are_grouped_without_losing_or_doubling(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let (v2, am) = v2_and_alertmanager(&app, service).await;
    let key = v2["key"].as_str().unwrap().to_string();
    let am_url = app.ingest_url(&am);
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
    let all = app.incidents("limit=500").await;
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
        let detail = app.incident(incident["id"].as_i64().unwrap()).await;
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
