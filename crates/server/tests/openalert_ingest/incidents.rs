//! Working incidents: team isolation, people's actions, timeouts, and the pages.

use super::*;

crate::on_both_backends!(
    teams_see_only_their_services_and_incidents,
    people_acknowledge_resolve_note_reassign_and_bulk,
    acknowledgement_timeout_retriggers_and_quiet_incidents_auto_resolve,
    pages_show_incidents_and_work_their_buttons,
);

async fn teams_see_only_their_services_and_incidents(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let v2 = app
        .create_integration(service, "events_v2", json!({}))
        .await;
    app.sender()
        .post_body(
            "/v2/enqueue",
            with_routing_key(PD, v2["key"].as_str().unwrap()),
        )
        .await;
    let incident_id = app.incidents("").await[0]["id"].as_i64().unwrap();

    let other_team = app.create_team("Search").await;
    let (outsider_id, outsider) = app.member("eve@example.com").await;
    app.add_member(other_team, outsider_id, "manager").await;
    let outsider = app.api(&outsider);
    for path in [
        format!("/api/v1/services/{service}"),
        format!("/api/v1/incidents/{incident_id}"),
        format!("/api/v1/services/{service}/integrations"),
    ] {
        outsider.get(&path).await.expect(404);
    }
    outsider
        .post(
            &format!("/api/v1/incidents/{incident_id}/acknowledge"),
            None,
        )
        .await
        .expect(404);
    let listed = outsider.get("/api/v1/incidents").await.body;
    assert!(listed["incidents"].as_array().unwrap().is_empty());
    assert!(outsider.list("/api/v1/services").await.is_empty());
    outsider
        .post(
            &format!("/api/v1/services/{service}/integrations"),
            json!({"type": "generic", "name": "x"}),
        )
        .await
        .expect(404);
    outsider
        .post("/api/v1/services", json!({"team_id": 1, "name": "x"}))
        .await
        .expect(422);
    let bulk = outsider
        .post(
            "/api/v1/incidents/bulk",
            json!({"action": "resolve", "ids": [incident_id]}),
        )
        .await
        .body;
    assert_eq!(bulk[0]["result"], "not_found");
    assert_eq!(app.incidents("").await[0]["status"], "triggered");
    app.stop().await;
}

async fn people_acknowledge_resolve_note_reassign_and_bulk(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (team, service) = service(&app).await;
    let (alice_id, alice_client) = app.member("alice@example.com").await;
    app.add_member(team, alice_id, "member").await;
    let alice = app.api(&alice_client);
    let id = alice
        .post(
            "/api/v1/incidents",
            json!({"service_id": service, "title": "Checkout is slow", "urgency": "low"}),
        )
        .await
        .expect(201)
        .id();
    let incident = format!("/api/v1/incidents/{id}");

    let ack = alice
        .post(&format!("{incident}/acknowledge"), None)
        .await
        .body;
    assert_eq!(ack["status"], "acknowledged");
    assert_eq!(ack["acknowledged_by"], alice_id);
    let detail = alice.get(&incident).await.body;
    assert_eq!(
        detail["assignees"][0]["user_id"], alice_id,
        "acknowledging an incident nobody owns takes it"
    );
    let page = app
        .page_text(&alice_client, &format!("/openalert/incidents/{id}"))
        .await;
    assert!(!page.contains("Assign to me"), "already hers");
    assert!(
        page.contains("<strong>Acknowledged</strong>"),
        "the timeline speaks words"
    );
    alice
        .post(
            &format!("{incident}/notes"),
            json!({"text": "rolled back deploy 42"}),
        )
        .await
        .expect(201);
    alice
        .post(&format!("{incident}/notes"), json!({"text": "  "}))
        .await
        .expect(422);
    let reassigned = alice
        .post(
            &format!("{incident}/reassign"),
            json!({"user_ids": [alice_id]}),
        )
        .await
        .body;
    assert_eq!(reassigned["assignees"][0]["email"], "alice@example.com");
    let (bob_id, _) = app.member("bob@example.com").await;
    let outsider = alice
        .post(
            &format!("{incident}/reassign"),
            json!({"user_ids": [bob_id]}),
        )
        .await;
    assert_eq!(
        outsider.status, 422,
        "assignees must be able to see the incident"
    );
    let resolved = alice.post(&format!("{incident}/resolve"), None).await.body;
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["resolved_how"], "user");
    alice
        .post(&format!("{incident}/acknowledge"), None)
        .await
        .expect(409);

    let detail = alice.get(&incident).await.body;
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

    let admin = app.admin_api();
    let mut ids = Vec::new();
    for n in 0..3 {
        let created = admin
            .post(
                "/api/v1/incidents",
                json!({"service_id": service, "title": format!("bulk {n}")}),
            )
            .await;
        ids.push(created.body["id"].as_i64().unwrap());
    }
    ids.push(999_999);
    let outcome = admin
        .post(
            "/api/v1/incidents/bulk",
            json!({"action": "acknowledge", "ids": ids}),
        )
        .await
        .body;
    let results: Vec<&str> = outcome
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, ["ok", "ok", "ok", "not_found"]);
    assert_eq!(app.incidents("status=acknowledged").await.len(), 3);
    let audit = admin
        .get("/api/v1/audit-events?action=incident.")
        .await
        .body;
    assert!(audit["events"].as_array().unwrap().len() >= 8);
    let filtered = app.incidents("status=resolved&urgency=low").await;
    assert_eq!(filtered.len(), 1);
    admin
        .get("/api/v1/incidents?status=sleeping")
        .await
        .expect(422);
    app.stop().await;
}

async fn acknowledgement_timeout_retriggers_and_quiet_incidents_auto_resolve(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let admin = app.admin_api();
    admin
        .patch(
            &format!("/api/v1/services/{service}"),
            json!({"ack_timeout_minutes": 30, "auto_resolve_minutes": 240}),
        )
        .await
        .expect(200);
    let created = admin
        .post(
            "/api/v1/incidents",
            json!({"service_id": service, "title": "flaky"}),
        )
        .await
        .body;
    let id = created["id"].as_i64().unwrap();
    admin
        .post(&format!("/api/v1/incidents/{id}/acknowledge"), None)
        .await;
    app.clock.advance(Duration::from_secs(29 * 60));
    keel_openalert::engine::cycle(&app.platform).await.unwrap();
    assert_eq!(app.incidents("").await[0]["status"], "acknowledged");
    app.clock.advance(Duration::from_secs(2 * 60));
    let retriggered = eventually(Duration::from_secs(5), || async {
        let list = app.incidents("").await;
        (list[0]["status"] == "triggered").then_some(())
    })
    .await;
    assert!(
        retriggered.is_some(),
        "the running engine re-triggers after the timeout"
    );
    app.clock.advance(Duration::from_secs(240 * 60));
    keel_openalert::engine::cycle(&app.platform).await.unwrap();
    let list = app.incidents("").await;
    assert_eq!(list[0]["status"], "resolved");
    assert_eq!(list[0]["resolved_how"], "timeout");
    app.stop().await;
}

async fn pages_show_incidents_and_work_their_buttons(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, service) = service(&app).await;
    let admin = app.admin_api();
    // The service page shows a new key once, with a ready-to-paste Alertmanager snippet.
    let page = admin
        .form(
            &format!("/openalert/services/{service}/integrations"),
            &[("type", "alertmanager"), ("integration_name", "prod AM")],
        )
        .await
        .expect(200);
    assert!(
        page.text.contains("webhook_configs:") && page.text.contains("/integrations/alertmanager/"),
        "snippet shown"
    );
    let again = admin
        .get(&format!("/openalert/services/{service}"))
        .await
        .text;
    assert!(
        !again.contains("webhook_configs:"),
        "the key is shown only once"
    );
    assert!(again.contains("prod AM"));

    let created = admin
        .form(
            "/openalert/incidents",
            &[
                ("service_id", service.to_string().as_str()),
                ("title", "Payments down"),
            ],
        )
        .await
        .expect(303);
    let location = created.header("location");
    let detail = admin.get(location).await.text;
    assert!(detail.contains("Payments down") && detail.contains("Acknowledge"));
    let list = admin.get("/openalert").await.text;
    assert!(list.contains("Payments down") && list.contains("data-live=\"incident.\""));

    admin
        .post(&format!("{location}/acknowledge"), None)
        .await
        .expect(303);
    admin
        .form(
            &format!("{location}/notes"),
            &[("text", "looking at the DB")],
        )
        .await
        .expect(303);
    admin
        .form(&format!("{location}/notes"), &[("text", "")])
        .await
        .expect(422);
    let detail = admin.get(location).await.text;
    assert!(detail.contains("looking at the DB") && detail.contains("acknowledged"));
    let id = location.rsplit('/').next().unwrap();
    admin
        .form(
            "/openalert/incidents/bulk",
            &[("ids", id), ("action", "resolve")],
        )
        .await
        .expect(303);
    assert_eq!(app.incidents("").await[0]["status"], "resolved");
    for path in ["/openalert/services", "/openalert?status=all"] {
        admin.get(path).await.expect(200);
    }
    app.stop().await;
}
